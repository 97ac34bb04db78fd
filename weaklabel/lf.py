"""Labeling functions: the sources of votes.

Three kinds share one small protocol (a ``name`` and a ``kind``), so the applier can run
each the fastest way it allows:

- ``"row"``: :class:`LabelingFunction`, Snorkel's familiar form — a function of one row
  that returns a class index or :data:`ABSTAIN`. Easy to write, run in Python per row.
- ``"vectorized"``: :class:`VectorizedLabelingFunction` — a function of a whole batch
  (a DataFrame) that returns one vote per row, run once per batch with pandas/numpy.
  :func:`keyword_lf` and :func:`regex_lf` build the common kinds.
- ``"batch"``: :class:`BatchLabelingFunction` — a source that wants every row at once and
  manages its own concurrency, caching and progress (LLM labelers).

Snorkel's ``LabelingFunction`` objects are accepted as they are.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

__all__ = [
    "ABSTAIN",
    "BaseLabelingFunction",
    "BatchLabelingFunction",
    "LabelingFunction",
    "Row",
    "VectorizedLabelingFunction",
    "as_labeling_function",
    "keyword_lf",
    "labeling_function",
    "load_lfs",
    "regex_lf",
]

ABSTAIN = -1
"""The vote of a source that has no opinion on a row."""

LFKind = Literal["row", "vectorized", "batch"]


class Row(types.SimpleNamespace):
    """One data point as a row-wise LF sees it: ``x.text`` and ``x["text"]`` both work.

    A light namespace rather than a ``pandas.Series``: building a Series per row is what
    makes row-wise appliers slow.
    """

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


class LabelingFunction(BaseLabelingFunction):
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
        Preprocessors applied to ``x`` in order before ``f`` (each ``x -> x``).
    """

    kind: ClassVar[LFKind] = "row"

    def __init__(
        self,
        name: str,
        f: Callable[..., int],
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Callable[[Any], Any]] | None = None,
    ) -> None:
        self.name = _check_name(name)
        if not callable(f):
            raise TypeError(f"labeling function {name!r}: f must be callable, got {type(f).__name__}")
        self._f = f
        self._resources = dict(resources or {})
        self._pre = list(pre or [])

    def __call__(self, x: Any) -> int:
        for step in self._pre:
            x = step(x)
            if x is None:
                raise ValueError(f"a preprocessor of LF {self.name!r} returned None")
        return self._f(x, **self._resources)


class VectorizedLabelingFunction(BaseLabelingFunction):
    """A labeling function over a whole batch: ``f(batch, **resources) -> array of votes``.

    ``batch`` is a DataFrame (or, with ``column=``, that one column as a Series). The result
    must have one integer vote per row.
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
        self.name = _check_name(name)
        if not callable(f):
            raise TypeError(f"labeling function {name!r}: f must be callable, got {type(f).__name__}")
        self._f = f
        self._resources = dict(resources or {})
        self._pre = list(pre or [])
        self.column = column

    def apply_batch(self, batch: pd.DataFrame) -> Any:
        if self.column is not None and self.column not in batch.columns:
            raise KeyError(
                f"LF {self.name!r} reads column {self.column!r}, "
                f"which the data lacks (columns: {list(batch.columns)})"
            )
        data: Any = batch[self.column] if self.column is not None else batch
        for step in self._pre:
            data = step(data)
        return self._f(data, **self._resources)

    def __call__(self, batch: pd.DataFrame) -> Any:
        return self.apply_batch(batch)


class BatchLabelingFunction(BaseLabelingFunction):
    """A source that labels every row in one call and runs its own concurrency.

    Subclasses (LLM labelers) implement :meth:`apply_batch`; the applier calls it once with
    the whole dataset, never splits it, and never sends it to another process.
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

    ``@labeling_function()`` gives a row-wise :class:`LabelingFunction` named after the
    function; ``@labeling_function(vectorized=True)`` a :class:`VectorizedLabelingFunction`
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
        return labeling_function()(name)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"labeling_function(name=...) takes a string, got {type(name).__name__}")
    if column is not None and not vectorized:
        raise ValueError("column= is for vectorized labeling functions; row-wise LFs get the whole row")

    def decorate(f: Callable[..., Any]) -> BaseLabelingFunction:
        lf_name = name or f.__name__
        if vectorized:
            lf: BaseLabelingFunction = VectorizedLabelingFunction(lf_name, f, resources, pre, column)
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
    if module.startswith("snorkel.") and callable(obj) and isinstance(getattr(obj, "name", None), str):
        # Snorkel's LF runs its own preprocessors and resources when called on a row.
        return LabelingFunction(obj.name, lambda x, _lf=obj: _lf(x))
    if callable(obj):
        label = getattr(obj, "__name__", repr(obj))
        raise TypeError(
            f"{label} is a plain function, not a labeling function; "
            "decorate it with @labeling_function()"
        )
    raise TypeError(f"expected a labeling function, got {type(obj).__name__}: {obj!r}")


# ---------------------------------------------------------------- builders
def _vote_where(mask: pd.Series, label: int) -> np.ndarray:
    return np.where(mask.to_numpy(dtype=bool, na_value=False), label, ABSTAIN).astype(np.int8)


def _check_label(name: str, label: Any) -> int:
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or label < 0:
        raise ValueError(f"LF {name!r}: label must be a class index >= 0, got {label!r}")
    return int(label)


def regex_lf(
    name: str,
    pattern: str | re.Pattern[str],
    label: int,
    column: str = "text",
    *,
    flags: int = re.IGNORECASE,
) -> VectorizedLabelingFunction:
    """Vote ``label`` on rows whose ``column`` matches ``pattern`` (searched anywhere), else abstain.

    The pattern is compiled once and run with pandas' vectorised string methods; missing
    or non-string values never match.
    """
    label = _check_label(name, label)
    compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)

    def vote(texts: pd.Series) -> np.ndarray:
        return _vote_where(texts.astype("string").str.contains(compiled, regex=True), label)

    lf = VectorizedLabelingFunction(name, vote, column=column)
    lf.__doc__ = f"Votes {label} where {column!r} matches {compiled.pattern!r}."
    lf.pattern = compiled  # type: ignore[attr-defined]
    return lf


def keyword_lf(
    name: str,
    keywords: str | Sequence[str],
    label: int,
    column: str = "text",
    *,
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> VectorizedLabelingFunction:
    """Vote ``label`` on rows whose ``column`` contains any of ``keywords``, else abstain.

    Keywords are matched literally (regex characters escaped), as whole words unless
    ``whole_word=False``, ignoring case unless ``case_sensitive=True``.
    """
    words = [keywords] if isinstance(keywords, str) else list(keywords)
    if not words or not all(isinstance(w, str) and w for w in words):
        raise ValueError(f"LF {name!r}: keywords must be non-empty strings, got {keywords!r}")
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    pattern = rf"(?<!\w)(?:{alternatives})(?!\w)" if whole_word else f"(?:{alternatives})"
    return regex_lf(name, pattern, label, column, flags=0 if case_sensitive else re.IGNORECASE)


# ---------------------------------------------------------------- loading LF modules
def _import_lf_module(spec: str) -> types.ModuleType:
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"no LF module file at {path}")
        module_name = f"_weaklabel_lfs_{abs(hash(str(path.resolve())))}"
        file_spec = importlib.util.spec_from_file_location(module_name, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load LF module from {path}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        try:
            file_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise ImportError(f"LF module {path} failed to import: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise ImportError(f"no LF module named {spec!r} ({exc})") from exc
        raise ImportError(f"LF module {spec!r} failed to import: {exc}") from exc
    except Exception as exc:
        raise ImportError(f"LF module {spec!r} failed to import: {type(exc).__name__}: {exc}") from exc


def load_lfs(spec: str | types.ModuleType) -> list[BaseLabelingFunction]:
    """The labeling functions a module defines.

    ``spec`` is a dotted module name (``"labeling_functions.youtube"``) or a ``.py`` file path.
    If the module has an ``LFS`` list it is returned (in that order); otherwise every
    labeling-function object at module level, in definition order.
    """
    module = spec if isinstance(spec, types.ModuleType) else _import_lf_module(spec)
    label = module.__name__ if isinstance(spec, types.ModuleType) else spec
    if hasattr(module, "LFS"):
        found = list(module.LFS)
    else:
        found = [
            value
            for value in vars(module).values()
            if isinstance(value, BaseLabelingFunction)
            or (type(value).__module__ or "").startswith("snorkel.labeling.lf")
        ]
    if not found:
        raise ValueError(f"LF module {label!r} defines no labeling functions (and no LFS list)")
    lfs = [as_labeling_function(lf) for lf in found]
    names = [lf.name for lf in lfs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"LF module {label!r} defines duplicate LF names: {duplicated}")
    return lfs
