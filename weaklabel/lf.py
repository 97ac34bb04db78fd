"""Labeling functions: the sources of votes.

Three kinds share one small protocol (a ``name`` and a ``kind``), so the applier can run
each the fastest way it allows:

- ``"row"``: ``LabelingFunction``, Snorkel's familiar form — a function of one row
  that returns a class index or ``ABSTAIN``. Easy to write, run in Python per row.
- ``"vectorized"``: ``VectorizedLabelingFunction`` — a function of a whole batch
  (a DataFrame) that returns one vote per row, run once per batch with pandas/numpy.
  ``keyword_lf`` and ``regex_lf`` build the common kinds.
- ``"batch"``: ``BatchLabelingFunction`` — a source that wants every row at once and
  manages its own concurrency, caching and progress (LLM labelers).

Snorkel's ``LabelingFunction`` objects are accepted as they are.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import importlib.util
import re
import sys
import types
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from weaklabel._validation import ABSTAIN, class_index

__all__ = [
    "ABSTAIN",
    "BaseLabelingFunction",
    "BatchLabelingFunction",
    "LabelingFunction",
    "RegexLabelingFunction",
    "Row",
    "VectorizedLabelingFunction",
    "as_labeling_function",
    "keyword_lf",
    "labeling_function",
    "load_lfs",
    "regex_lf",
    "repeated_names",
]

def repeated_names(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted: every place that needs unique source
    names (LF modules, the applier, the label matrix, configs) reports them the same way."""
    return sorted(name for name, count in Counter(names).items() if count > 1)

LFKind = Literal["row", "vectorized", "batch"]



class Row(types.SimpleNamespace):
    """One data point as a row-wise LF sees it: ``x.text`` and ``x["text"]`` both work.

    A light namespace rather than a ``pandas.Series``: building a Series per row is what
    makes row-wise appliers slow. The Series idioms Snorkel LFs use still work, on a Series
    built on demand: ``x.name`` (the row id, unless the data has a ``name`` column),
    ``x.to_dict()``, ``x.isnull()``, ``x.values``, ``x.index`` — any Series attribute that
    is not a field of the row; ``to_series`` gives the Series itself.
    """

    __slots__ = ("_row_id",)

    def __init__(self, _row_id: Any = None, /, **fields: Any) -> None:
        super().__init__(**fields)
        self._row_id = _row_id

    def __getitem__(self, key: str) -> Any:
        try:
            return self.__dict__[key]
        except KeyError:
            raise KeyError(f"row has no field {key!r}; fields are {list(self.__dict__)}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.__dict__[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def keys(self) -> Iterable[str]:
        return self.__dict__.keys()

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (a copy)."""
        return dict(self.__dict__)

    def to_series(self) -> pd.Series:
        """The row as the ``pandas.Series`` Snorkel would pass: fields as the index, the row
        id as its ``name``."""
        return pd.Series(self.__dict__, name=self._row_id, dtype=object)

    def __getattr__(self, attr: str) -> Any:
        # only reached for names that are neither fields nor Row methods
        if not attr.startswith("_") and hasattr(pd.Series, attr):
            return getattr(self.to_series(), attr)
        raise AttributeError(
            f"row has no field {attr!r}; fields are {list(self.__dict__)}"
        )

    def __copy__(self) -> Row:
        return Row(self._row_id, **self.__dict__)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_row, (self._row_id, dict(self.__dict__)))


def _make_row(row_id: Any, fields: dict[str, Any]) -> Row:
    return Row(row_id, **fields)


class BaseLabelingFunction(ABC):
    """What every source of votes has: a unique ``name`` and a ``kind`` telling how to run it."""

    kind: ClassVar[LFKind]
    name: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a labeling function needs a non-empty string name, got {name!r}")
    return name


def _check_callable(name: str, f: Any) -> None:
    if not callable(f):
        raise TypeError(f"labeling function {name!r}: f must be callable, got {type(f).__name__}")


class _FunctionLabelingFunction(BaseLabelingFunction):
    """A source defined by a user function, its resources and its preprocessors."""

    def __init__(
        self,
        name: str,
        f: Callable[..., Any],
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Callable[[Any], Any]] | None = None,
    ) -> None:
        self.name = _check_name(name)
        _check_callable(name, f)
        self._f = f
        self._resources = dict(resources or {})
        self._pre = list(pre or [])


class LabelingFunction(_FunctionLabelingFunction):
    """A row-wise labeling function, with Snorkel's signature and semantics.

    Parameters
    ----------
    name
        Unique name of the source (a column of the label matrix).
    f
        ``f(x, **resources) -> int``: a class index, or ``ABSTAIN``.
    resources
        Keyword arguments passed to ``f`` on every call (lookup tables, models).
    pre
        Preprocessors applied to ``x`` in order before ``f`` (each ``x -> x``; Snorkel
        preprocessors work too). They get a shallow copy of the row, so a preprocessor
        that sets a field does not leak it into the other LFs' view of the row.
    """

    kind: ClassVar[LFKind] = "row"

    def __call__(self, x: Any) -> int:
        if self._pre:
            x = copy.copy(x)
        for step in self._pre:
            x = step(x)
            if x is None:
                raise ValueError(f"a preprocessor of LF {self.name!r} returned None")
        return self._f(x, **self._resources)

    def row_function(self) -> Callable[[Any], Any]:
        """``x -> vote`` with the least call overhead: what the applier calls once per row."""
        if self._pre:
            return self.__call__
        if self._resources:
            return functools.partial(self._f, **self._resources)
        return self._f


class VectorizedLabelingFunction(_FunctionLabelingFunction):
    """A labeling function over a whole batch: ``f(batch, **resources) -> array of votes``.

    ``batch`` is a DataFrame (or, with ``column=``, that one column as a Series). The result
    must have one integer vote per row, in the batch's row order.
    """

    kind: ClassVar[LFKind] = "vectorized"

    def __init__(
        self,
        name: str,
        f: Callable[..., Any],
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Callable[[Any], Any]] | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(name, f, resources, pre)
        self.column = column

    def _column(self, batch: pd.DataFrame) -> pd.Series:
        if self.column not in batch.columns:
            raise KeyError(
                f"LF {self.name!r} reads column {self.column!r}, "
                f"which the data lacks (columns: {list(batch.columns)})"
            )
        return batch[self.column]

    def apply_batch(self, batch: pd.DataFrame, *, cache: dict[Any, Any] | None = None) -> Any:
        """Votes for every row of ``batch``.

        ``cache`` shares preprocessed inputs between the LFs of one batch: LFs with the same
        column and preprocessors run those preprocessors once (so an LF must not modify its
        input in place).
        """
        if not self._pre or cache is None:
            return self._f(self._prepared(batch), **self._resources)
        key = ("pre", self.column, tuple(self._pre))
        if key not in cache:
            cache[key] = self._prepared(batch)
        return self._f(cache[key], **self._resources)

    def _prepared(self, batch: pd.DataFrame) -> Any:
        data: Any = self._column(batch) if self.column is not None else batch
        for step in self._pre:
            data = step(data)
        return data

    def __call__(self, batch: pd.DataFrame) -> Any:
        return self.apply_batch(batch)


class BatchLabelingFunction(BaseLabelingFunction):
    """A source that labels every row in one call and runs its own concurrency.

    Subclasses (LLM labelers) set ``self.name`` and implement ``apply_batch``; the
    applier calls it once with the whole dataset, never splits it, and never sends it to
    another process.
    """

    kind: ClassVar[LFKind] = "batch"

    @abstractmethod
    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> Any:
        """Return one vote per row of ``data``."""


def labeling_function(
    name: str | Callable[..., Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Callable[[Any], Any]] | None = None,
    *,
    vectorized: bool = False,
    column: str | None = None,
) -> Any:
    """Decorator that turns a function into a labeling function.

    ``@labeling_function()`` gives a row-wise ``LabelingFunction`` named after the
    function; ``@labeling_function(vectorized=True)`` a ``VectorizedLabelingFunction``
    that receives the batch DataFrame (or ``column`` as a Series). Used without
    parentheses it works too.

    Examples
    --------
    >>> @labeling_function()
    ... def has_link(x):
    ...     return 1 if "http" in x.text else ABSTAIN
    >>> has_link(Row(text="see http://spam"))
    1
    """
    if callable(name) and resources is None and pre is None:
        return labeling_function(vectorized=vectorized, column=column)(name)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"labeling_function(name=...) takes a string, got {type(name).__name__}")
    if column is not None and not vectorized:
        raise ValueError(
            "column= is for vectorized labeling functions; row-wise LFs get the whole row"
        )

    def decorate(f: Callable[..., Any]) -> BaseLabelingFunction:
        lf_name = _check_name(name or getattr(f, "__name__", None))
        lf: BaseLabelingFunction
        if vectorized:
            lf = VectorizedLabelingFunction(lf_name, f, resources, pre, column)
        else:
            lf = LabelingFunction(lf_name, f, resources, pre)
        lf.__doc__ = f.__doc__
        return lf

    return decorate


def as_labeling_function(obj: Any) -> BaseLabelingFunction:
    """Accept our LFs as they are and wrap Snorkel's ``LabelingFunction`` objects."""
    if isinstance(obj, BaseLabelingFunction):
        return obj
    module = type(obj).__module__ or ""
    if (
        module.startswith("snorkel.")
        and callable(obj)
        and isinstance(getattr(obj, "name", None), str)
    ):
        # Snorkel's LF runs its own preprocessors and resources when called on a row.
        return LabelingFunction(obj.name, obj)
    if callable(obj):
        label = getattr(obj, "__name__", repr(obj))
        raise TypeError(
            f"{label} is a plain function, not a labeling function; "
            "decorate it with @labeling_function()"
        )
    raise TypeError(f"expected a labeling function, got {type(obj).__name__}: {obj!r:.80}")


# ---------------------------------------------------------------- fast regex matching
# Keyword and regex LFs run on pyarrow's RE2 engine (tens of times faster than Python's
# ``re`` over a column) but must vote exactly as ``pattern.search(text)`` would. The two
# engines agree on a pattern's meaning except where Python's ``re`` is Unicode-aware and
# RE2 is ASCII-only (\w, \d, \b, case folding of letters such as "ſ" or the Kelvin sign)
# and on a few constructs (\s, $) handled per pattern below. So RE2 votes on every row,
# and rows holding a non-ASCII letter, digit or mark — or a character with case — are
# re-checked with Python's ``re``: 2 % of the YouTube and SMS corpora.
_UNSAFE_CHARS = (
    r"[^\x00-\x7f\P{L}]|[^\x00-\x7f\P{N}]|[^\x00-\x7f\P{M}]"
    r"|[\x{24B6}-\x{24E9}]"  # circled letters: symbols (So) with upper and lower case
)
# The same check in Python's re, cheaper than compiling the RE2 class for a few rows: a
# non-ASCII letter or digit, or a circled letter (only letters and digits matter, see above).
_UNSAFE_CHARS_PY = re.compile(r"[^\W_\x00-\x7f]|[\u24b6-\u24e9]")
_FEW_ROWS = 2000
# Whitespace that Python's \s matches and RE2's \s ([\t\n\f\r ]) does not.
_PYTHON_ONLY_SPACE = (
    r"[\x0b\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
# Unicode versions of Python's ``re`` for which the two classes above were checked over
# every code point (tests/test_lf.py repeats the check). Others are checked at first use.
_CHECKED_UNICODE = frozenset({"14.0.0"})


def _re_parser() -> Any:
    from re import _parser  # type: ignore[attr-defined]  # private, stable since Python 3.11

    return _parser


def _pattern_nodes(pattern: str, flags: int) -> list[tuple[Any, Any]]:
    """Every (opcode, argument) node of a parsed Python pattern, nested ones included."""
    parser = _re_parser()
    repeats = {parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None)}

    def walk(tokens: Any) -> Iterable[tuple[Any, Any]]:
        for op, arg in tokens:
            yield op, arg
            if op == parser.SUBPATTERN:
                yield from walk(arg[-1])
            elif op == parser.BRANCH:
                for branch in arg[1]:
                    yield from walk(branch)
            elif op in repeats:
                yield from walk(arg[2])
            elif op in (parser.IN, getattr(parser, "ATOMIC_GROUP", None)):
                yield from walk(arg)

    return list(walk(parser.parse(pattern, flags)))


@functools.lru_cache(maxsize=1)
def _unsafe_chars() -> str:
    """The RE2 class of characters whose rows Python's ``re`` must re-check."""
    if unicodedata.unidata_version in _CHECKED_UNICODE:
        return _UNSAFE_CHARS
    import pyarrow as pa
    import pyarrow.compute as pc

    everything = "".join(chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF)
    python_side = set(re.findall(r"\w", everything)) | set(re.findall(r"(?i)[a-z]", everything))
    chars = sorted(python_side)
    covered = pc.match_substring_regex(pa.array(chars), _UNSAFE_CHARS).to_pylist()
    extra = "".join(f"\\x{{{ord(c):x}}}" for c, ok in zip(chars, covered, strict=True) if not ok)
    return f"{_UNSAFE_CHARS}|[{extra}]" if extra else _UNSAFE_CHARS


def _folds_alike(text: str) -> bool:
    """Whether both engines ignore case alike for ``text``: no non-ASCII letter, digit or cased char.

    (They fold some non-ASCII letters differently, e.g. Python's "ı" matches "i".)
    """
    return all(c.isascii() or not (c.isalnum() or c.lower() != c or c.upper() != c) for c in text)


@functools.lru_cache(maxsize=512)
def _re2_plan(pattern: str, flags: int) -> tuple[str, bool, str | None] | None:
    """How to run a Python pattern on RE2 with identical results, or None if it cannot.

    Returns ``(re2_pattern, ignore_case, extra_unsafe)``: ``extra_unsafe`` is an RE2 class
    of characters (beyond the Unicode ones) whose rows need Python's ``re`` for this pattern.
    """
    if flags & (re.VERBOSE | re.DEBUG) or re.search(r"\{,|\[[:=.]", pattern):
        return None  # RE2 reads "{,n}" and "[[:alpha:]]" differently from Python
    if (flags & re.IGNORECASE or re.search(r"\(\?[a-zA-Z]*i", pattern)) and not _folds_alike(
        pattern
    ):
        return None
    parser = _re_parser()
    try:
        nodes = _pattern_nodes(pattern, flags)
    except (re.error, RecursionError):
        return None
    unsupported = {parser.ASSERT, parser.ASSERT_NOT, parser.GROUPREF, parser.GROUPREF_EXISTS}
    if any(op in unsupported for op, _ in nodes):
        return None
    extra = []
    if any(
        op == parser.CATEGORY and arg in (parser.CATEGORY_SPACE, parser.CATEGORY_NOT_SPACE)
        for op, arg in nodes
    ):
        extra.append(_PYTHON_ONLY_SPACE)
    if not flags & re.MULTILINE and any(
        op == parser.AT and arg == parser.AT_END for op, arg in nodes
    ):
        extra.append(r"\n")  # Python's $ also matches before a final newline
    inline = ("m" if flags & re.MULTILINE else "") + ("s" if flags & re.DOTALL else "")
    re2 = f"(?{inline}){pattern}" if inline else pattern
    if not _re2_compiles(re2):
        return None
    return re2, bool(flags & re.IGNORECASE), "|".join(extra) or None


def _re2_compiles(pattern: str) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid:
        return False
    return True


class _TextView:
    """A text column prepared once per batch and shared by every regex LF reading it.

    Holds the column as an Arrow string array (non-strings as nulls: they never match) and
    finds, once, the rows that Python's ``re`` must re-check.
    """

    def __init__(self, values: pd.Series) -> None:
        self.n = len(values)
        self._values = values
        self.arrow = self._to_arrow(values)
        self._python_rows: dict[str | None, np.ndarray] = {}

    @staticmethod
    def _to_arrow(values: pd.Series) -> Any:
        import pyarrow as pa

        try:
            if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
                return pa.array(values)
            objects = values.to_numpy(dtype=object)
            is_str = np.fromiter(
                (isinstance(v, str) for v in objects), dtype=bool, count=len(objects)
            )
            if not is_str.all():
                objects = np.where(is_str, objects, np.array(None, dtype=object))
            return pa.array(objects, type=pa.large_string())
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            return None  # e.g. lone surrogates, which UTF-8 cannot hold: Python's re does it all

    @functools.cached_property
    def _objects(self) -> np.ndarray:
        objects = self._values.to_numpy(dtype=object)
        is_str = np.fromiter((isinstance(v, str) for v in objects), dtype=bool, count=len(objects))
        return np.where(is_str, objects, np.array(None, dtype=object))

    def strings(self, positions: np.ndarray) -> list[str | None]:
        """The values at ``positions``: a string, or None for a missing or non-string value."""
        if self.arrow is not None:
            return self.arrow.take(positions).to_pylist()
        return self._objects[positions].tolist()

    @functools.cached_property
    def string_positions(self) -> np.ndarray:
        if self.arrow is not None:
            return np.flatnonzero(self.arrow.is_valid().to_numpy(zero_copy_only=False))
        return np.flatnonzero(self._objects != None)  # noqa: E711  (elementwise)

    def rows_matching(self, char_class: str, among: np.ndarray | None = None) -> np.ndarray:
        """Positions of rows (optionally among ``among``) that contain a char of ``char_class``."""
        import pyarrow.compute as pc

        if among is None:
            hits = pc.match_substring_regex(self.arrow, char_class)
            return np.flatnonzero(hits.fill_null(False).to_numpy(zero_copy_only=False))
        if among.size == 0:
            return among
        hits = pc.match_substring_regex(self.arrow.take(among), char_class)
        return among[hits.fill_null(False).to_numpy(zero_copy_only=False)]

    @functools.cached_property
    def unicode_rows(self) -> np.ndarray:
        import pyarrow.compute as pc

        ascii_rows = pc.string_is_ascii(self.arrow).fill_null(True).to_numpy(zero_copy_only=False)
        candidates = np.flatnonzero(~ascii_rows)
        if candidates.size < _FEW_ROWS:
            search = _UNSAFE_CHARS_PY.search
            unsafe = [t is not None and search(t) is not None for t in self.strings(candidates)]
            return candidates[np.asarray(unsafe, dtype=bool)]
        return self.rows_matching(_unsafe_chars(), among=candidates)

    def python_rows(self, extra: str | None) -> np.ndarray:
        """Rows Python's ``re`` must re-check: Unicode ones, plus those holding ``extra``."""
        if extra not in self._python_rows:
            rows = self.unicode_rows
            if extra is not None:
                rows = np.union1d(rows, self.rows_matching(extra))
            self._python_rows[extra] = rows
        return self._python_rows[extra]


class RegexLabelingFunction(VectorizedLabelingFunction):
    """Votes ``label`` where ``pattern.search(value)`` matches a string value, else abstains.

    Built by ``regex_lf`` and ``keyword_lf``. Runs on pyarrow's RE2 engine where
    that gives the same answer as Python's ``re``, and on ``re`` for the rows (or patterns)
    where it might not, so the votes always equal the row-wise
    ``label if isinstance(v, str) and pattern.search(v) else ABSTAIN``.
    """

    def __init__(
        self,
        name: str,
        pattern: re.Pattern[str],
        label: int | str,
        column: str = "text",
        *,
        re2_plan: tuple[str, bool, str | None] | None = None,
    ) -> None:
        super().__init__(name, self._vote_series, column=column)
        self.pattern = pattern
        self.label = label
        self._plan = re2_plan if re2_plan is not None else _re2_plan(pattern.pattern, pattern.flags)

    def _vote_series(self, values: pd.Series) -> np.ndarray:
        return self._votes(_TextView(values))

    def apply_batch(
        self,
        batch: pd.DataFrame,
        *,
        cache: dict[Any, Any] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Votes for every row of ``batch``; ``cache`` shares prepared columns between LFs.

        A ``label`` given by name becomes its index in ``class_names``; without them the
        votes are the name itself (an object array), which the applier maps.
        """
        values = self._column(batch)
        if cache is None:
            return self._votes(_TextView(values), class_names)
        view = cache.get(self.column)
        if view is None:
            view = cache[self.column] = _TextView(values)
        return self._votes(view, class_names)

    def _votes(self, view: _TextView, class_names: Sequence[str] | None = None) -> np.ndarray:
        mask = self.matches(view)
        if isinstance(self.label, str) and class_names is None:
            named = np.full(view.n, ABSTAIN, dtype=object)
            named[mask] = self.label
            return named
        label = (
            class_index(self.label, class_names, f"LF {self.name!r}: label")
            if isinstance(self.label, str)
            else self.label  # the applier checks its range, as for any vote
        )
        return np.where(mask, np.int16(label), np.int16(ABSTAIN))

    def matches(self, view: _TextView) -> np.ndarray:
        """Boolean mask of the rows of ``view`` where the pattern matches."""
        if self._plan is None or view.arrow is None:
            mask = np.zeros(view.n, dtype=bool)
            recheck = view.string_positions
        else:
            import pyarrow.compute as pc

            re2, ignore_case, extra = self._plan
            hits = pc.match_substring_regex(view.arrow, re2, ignore_case=ignore_case)
            mask = np.array(hits.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            recheck = view.python_rows(extra)
        if recheck.size:
            search = self.pattern.search
            mask[recheck] = [t is not None and search(t) is not None for t in view.strings(recheck)]
        return mask


def _check_label(name: str, label: Any) -> int | str:
    """A class index, or a class name (resolved when the LF is applied with class names)."""
    if isinstance(label, str):
        if not label:
            raise ValueError(f"LF {name!r}: label must be a class name or index, got ''")
        return label
    return class_index(label, None, f"LF {name!r}: label")


def regex_lf(
    name: str,
    pattern: str | re.Pattern[str],
    label: int | str,
    column: str = "text",
    *,
    flags: int = re.IGNORECASE,
) -> RegexLabelingFunction:
    """Vote ``label`` on rows whose ``column`` matches ``pattern`` (searched anywhere), else abstain.

    ``label`` is a class index or a class name (``"HUM"``), mapped through the
    ``class_names`` given to ``apply_lfs``.

    The pattern is Python ``re`` syntax, compiled once (a compiled pattern keeps its own
    flags). Missing or non-string values never match. Runs vectorised; the votes equal
    ``label if pattern.search(value) else ABSTAIN`` row by row.
    """
    _check_name(name)
    label = _check_label(name, label)
    if isinstance(pattern, re.Pattern):
        compiled = pattern
    elif isinstance(pattern, str):
        try:
            compiled = re.compile(pattern, flags)
        except re.error as exc:
            raise ValueError(f"LF {name!r}: invalid regular expression {pattern!r}: {exc}") from exc
    else:
        raise TypeError(
            f"LF {name!r}: pattern must be a str or re.Pattern, got {type(pattern).__name__}"
        )
    if not isinstance(compiled.pattern, str):
        raise TypeError(f"LF {name!r}: pattern must be a text (str) pattern, not bytes")
    lf = RegexLabelingFunction(name, compiled, label, column)
    lf.__doc__ = f"Votes {label} where {column!r} matches {compiled.pattern!r}."
    return lf


def _escape(word: str) -> str:
    """Escape regex metacharacters the same way for Python's re and RE2."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", word)


def keyword_lf(
    name: str,
    keywords: str | Sequence[str],
    label: int | str,
    column: str = "text",
    *,
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> RegexLabelingFunction:
    """Vote ``label`` on rows whose ``column`` contains any of ``keywords``, else abstain.

    ``label`` is a class index or a class name, as in ``regex_lf``.

    Keywords are matched literally (regex characters escaped), as whole words unless
    ``whole_word=False`` (no letter, digit or ``_`` right before or after, in any script),
    ignoring case unless ``case_sensitive=True``. Missing or non-string values never match.
    """
    _check_name(name)
    label = _check_label(name, label)
    words = [keywords] if isinstance(keywords, str) else list(keywords)
    if not words or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"LF {name!r}: keywords must be non-empty strings, got {keywords!r}")
    alternatives = "|".join(_escape(w) for w in sorted(set(words), key=len, reverse=True))
    flags = 0 if case_sensitive else re.IGNORECASE
    if not whole_word:
        return regex_lf(name, f"(?:{alternatives})", label, column, flags=flags)
    compiled = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags)
    # RE2 has no lookbehind; for "is there a match" consuming the neighbour is the same.
    plan = None
    if case_sensitive or _folds_alike(alternatives):
        re2 = rf"(?:^|\W)(?:{alternatives})(?:\W|$)"
        plan = (re2, not case_sensitive, None) if _re2_compiles(re2) else None
    lf = RegexLabelingFunction(name, compiled, label, column, re2_plan=plan)
    lf.__doc__ = f"Votes {label} where {column!r} contains any of {words!r} as a word."
    return lf


# ---------------------------------------------------------------- loading LF modules
def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).is_file()


def _import_lf_module(spec: str) -> types.ModuleType:
    if _looks_like_path(spec):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no LF module file at {path}")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        stem = re.sub(r"\W", "_", path.stem)
        module_name = f"_weaklabel_lfs_{stem}_{digest}"
        file_spec = importlib.util.spec_from_file_location(module_name, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load LF module from {path}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        try:
            file_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise ImportError(
                f"LF module {path} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise ImportError(f"no LF module named {spec!r} ({exc})") from exc
        raise ImportError(
            f"LF module {spec!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise ImportError(
            f"LF module {spec!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def _is_lf_object(value: Any) -> bool:
    return isinstance(value, BaseLabelingFunction) or (
        not isinstance(value, type)
        and (type(value).__module__ or "").startswith("snorkel.labeling.lf")
    )


def load_lfs(spec: str | Path | types.ModuleType) -> list[BaseLabelingFunction]:
    """The labeling functions a module defines.

    ``spec`` is a dotted module name (``"labeling_functions.youtube"``), a ``.py`` file path,
    or a module. If the module has an ``LFS`` list it is returned (in that order); otherwise
    every labeling-function object at module level (ours or Snorkel's), in definition order.
    """
    if isinstance(spec, types.ModuleType):
        module, label = spec, spec.__name__
    else:
        label = str(spec)
        module = _import_lf_module(label)
    if hasattr(module, "LFS"):
        if isinstance(module.LFS, str | bytes | Mapping) or not isinstance(module.LFS, Iterable):
            raise TypeError(f"LF module {label!r}: LFS must be a list of labeling functions")
        found = list(module.LFS)
    else:
        found = [value for value in vars(module).values() if _is_lf_object(value)]
    if not found:
        raise ValueError(f"LF module {label!r} defines no labeling functions (and no LFS list)")
    try:
        lfs = [as_labeling_function(lf) for lf in found]
    except TypeError as exc:
        raise TypeError(f"LF module {label!r}: {exc}") from exc
    names = [lf.name for lf in lfs]
    duplicated = repeated_names(names)
    if duplicated:
        raise ValueError(f"LF module {label!r} defines duplicate LF names: {duplicated}")
    return lfs
