"""Multi-label labeling functions: votes per label — present, absent, or abstain.

Two shapes, both in Snorkel's vocabulary:

- **One LF per label** (an aspect LF): ``@labeling_function(label="food")`` on a function
  returning ``PRESENT``, ``ABSENT`` or ``ABSTAIN``; ``keyword_lf`` and
  ``regex_lf`` build the common kinds. Under the hood it is an ordinary two-class
  labeling function (``ABSENT = 0``, ``PRESENT = 1``) that also knows the label it votes
  on (``lf.target_label``), so the single-label appliers, streaming and Dask run it as is.
  Any binary source fits, an LLM yes/no prompt included: ``for_label(labeler, "food")``.
- **One LF naming a set of labels** (``@label_set_function()``): the function returns the
  labels it finds on the row (names or indices), or ``ABSTAIN``. What a label it does not
  name means is a property of the source: ``unnamed="abstain"`` (the default: a keyword
  list that finds "waiter" says nothing about food) or ``unnamed="absent"`` (an LLM asked
  "which of these aspects does the review mention?" claims the others are not there).

``expand`` turns every source into per-label binary LFs: a set function becomes one
column per label (``"<name>:<label>"``) that share one call of the function per batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from weaklabel.exceptions import InvalidVoteError, LabelingFunctionError
from weaklabel.lf import (
    ABSTAIN,
    BaseLabelingFunction,
    BatchLabelingFunction,
    Row,
    VectorizedLabelingFunction,
    as_labeling_function,
)
from weaklabel.lf import keyword_lf as _keyword_lf
from weaklabel.lf import labeling_function as _labeling_function
from weaklabel.lf import regex_lf as _regex_lf

__all__ = [
    "ABSENT",
    "ABSTAIN",
    "PRESENT",
    "LabelSetFunction",
    "expand",
    "for_label",
    "keyword_lf",
    "label_set_function",
    "label_set_source",
    "labeling_function",
    "regex_lf",
    "target_label",
]

PRESENT = 1
"""A per-label vote: the row has the label."""
ABSENT = 0
"""A per-label vote: the row does not have the label."""

Unnamed = Literal["abstain", "absent"]
_TARGET = "target_label"


def target_label(lf: Any) -> str | None:
    """The label a per-label LF votes on (``None`` for other sources)."""
    return getattr(lf, _TARGET, None)


def _check_vote(name: str, vote: Any) -> int:
    if vote not in (PRESENT, ABSENT) or isinstance(vote, bool):
        raise ValueError(f"LF {name!r}: vote must be PRESENT (1) or ABSENT (0), got {vote!r}")
    return int(vote)


def for_label(lf: Any, label: str) -> BaseLabelingFunction:
    """Mark a two-class source (votes ``ABSENT``/``PRESENT``/``ABSTAIN``) as voting on ``label``.

    Works for any labeling function, Snorkel's included, and for an LLM yes/no labeler
    (``LLMLabeler.aspect(..., yes=PRESENT, no=ABSENT)``). Returns the LF itself.
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a class name, got {label!r}")
    source = as_labeling_function(lf)
    if isinstance(source, LabelSetFunction):
        raise TypeError(f"{source.name!r} names a set of labels; it votes on every label already")
    setattr(source, _TARGET, label)
    return source


def labeling_function(
    label: str,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Callable[[Any], Any]] | None = None,
    *,
    vectorized: bool = False,
    column: str | None = None,
) -> Callable[[Callable[..., Any]], BaseLabelingFunction]:
    """Decorator: a labeling function voting on one ``label`` (PRESENT, ABSENT or ABSTAIN).

    The arguments after ``label`` are those of ``weaklabel.labeling_function``.

    Examples
    --------
    >>> @labeling_function(label="staff")
    ... def mentions_waiter(x):
    ...     return PRESENT if "waiter" in x.text.lower() else ABSTAIN
    >>> mentions_waiter.target_label, mentions_waiter(Row(text="Our waiter was rude"))
    ('staff', 1)
    """
    if callable(label) and not isinstance(label, str):
        raise TypeError("labeling_function needs the label it votes on: @labeling_function(label=...)")
    decorate = _labeling_function(name, resources, pre, vectorized=vectorized, column=column)

    def wrap(f: Callable[..., Any]) -> BaseLabelingFunction:
        return for_label(decorate(f), label)

    return wrap


def keyword_lf(
    name: str,
    keywords: str | Sequence[str],
    label: str,
    *,
    vote: int = PRESENT,
    column: str = "text",
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> BaseLabelingFunction:
    """Vote ``vote`` (PRESENT by default) on ``label`` where ``column`` contains a keyword.

    Matching is that of ``weaklabel.keyword_lf`` (literal, whole words, any case).
    """
    lf = _keyword_lf(
        name, keywords, _check_vote(name, vote), column,
        case_sensitive=case_sensitive, whole_word=whole_word,
    )
    return for_label(lf, label)


def regex_lf(
    name: str,
    pattern: str | re.Pattern[str],
    label: str,
    *,
    vote: int = PRESENT,
    column: str = "text",
    flags: int = re.IGNORECASE,
) -> BaseLabelingFunction:
    """Vote ``vote`` (PRESENT by default) on ``label`` where ``column`` matches ``pattern``."""
    lf = _regex_lf(name, pattern, _check_vote(name, vote), column, flags=flags)
    return for_label(lf, label)


# ---------------------------------------------------------------- set-valued sources
class LabelSetFunction(BaseLabelingFunction):
    """A source that names the set of labels it finds on each row.

    Parameters
    ----------
    name
        Unique source name; its per-label columns are named ``"<name>:<label>"``.
    f
        ``"row"``: ``f(x, **resources)`` for one row; ``"vectorized"``: ``f(batch)`` (the
        DataFrame, or ``column`` as a Series) returning one entry per row; ``"batch"``: an
        object with ``apply_batch(data)`` (an LLM labeler answering with sets). An entry is
        an iterable of labels (names or class indices), or ``ABSTAIN``/``None``.
    labels
        The labels the source votes on (default: every class of the task). With
        ``unnamed="absent"``, only these are claimed absent when not named.
    unnamed
        ``"abstain"``: a label not named gets no vote; ``"absent"``: it gets ``ABSENT``.
    """

    def __init__(
        self,
        name: str,
        f: Any,
        *,
        kind: Literal["row", "vectorized", "batch"] = "row",
        labels: Sequence[str] | None = None,
        unnamed: Unnamed = "abstain",
        resources: Mapping[str, Any] | None = None,
        column: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a labeling function needs a non-empty string name, got {name!r}")
        if kind not in ("row", "vectorized", "batch"):
            raise ValueError(f"LF {name!r}: kind must be 'row', 'vectorized' or 'batch', got {kind!r}")
        if unnamed not in ("abstain", "absent"):
            raise ValueError(f"LF {name!r}: unnamed must be 'abstain' or 'absent', got {unnamed!r}")
        if kind == "batch" and not callable(getattr(f, "apply_batch", None)):
            raise TypeError(f"LF {name!r}: a batch set source needs an apply_batch(data) method")
        if kind != "batch" and not callable(f):
            raise TypeError(f"LF {name!r}: f must be callable, got {type(f).__name__}")
        self.name = name
        self.set_kind = kind
        self._f = f
        self.labels = None if labels is None else [str(label) for label in labels]
        self.unnamed = unnamed
        self._resources = dict(resources or {})
        self.column = column

    kind = "batch"  # never applied directly: expand() turns it into per-label LFs

    def __call__(self, x: Any) -> Any:
        if self.set_kind != "row":
            raise TypeError(f"LF {self.name!r} labels batches, not single rows")
        return self._f(x, **self._resources)

    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> Any:
        raise TypeError(
            f"LF {self.name!r} names sets of labels; apply it with "
            "weaklabel.multilabel.apply_multilabel_lfs (or expand it first)"
        )

    def set_votes(self, batch: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        """``(n, k)`` int8 votes of the batch: PRESENT where named, else ABSENT or ABSTAIN."""
        if self.set_kind == "row":
            entries = self._row_entries(batch)
        elif self.set_kind == "vectorized":
            arg = batch if self.column is None else batch[self.column]
            entries = self._f(arg, **self._resources)
        else:
            entries = self._f.apply_batch(batch)
        return _entries_to_votes(self, entries, batch.index, list(classes))

    def _row_entries(self, batch: pd.DataFrame) -> list[Any]:
        entries = []
        records = batch.to_dict("records")
        for row_id, record in zip(batch.index, records, strict=True):
            try:
                entries.append(self._f(Row(**{str(k): v for k, v in record.items()}), **self._resources))
            except Exception as exc:
                raise LabelingFunctionError(
                    f"LF {self.name!r} raised {type(exc).__name__}: {exc} on row {row_id!r}",
                    self.name,
                    row_id,
                ) from exc
        return entries


def _entries_to_votes(
    lf: LabelSetFunction, entries: Any, index: pd.Index, classes: list[str]
) -> np.ndarray:
    """Check a set source's output (one entry per row, or an (n, k) vote array) and encode it."""
    n, k = len(index), len(classes)
    covered = np.ones(k, dtype=bool) if lf.labels is None else np.isin(classes, lf.labels)
    arr = entries if isinstance(entries, np.ndarray) and entries.ndim == 2 else None
    if arr is not None:
        if arr.shape != (n, k) or arr.dtype.kind not in "iu" or arr.min(initial=0) < ABSTAIN or arr.max(initial=0) > PRESENT:
            raise InvalidVoteError(
                f"LF {lf.name!r} returned an array of shape {arr.shape} and dtype {arr.dtype}; "
                f"an array result must be ({n}, {k}) votes in {{-1, 0, 1}}",
                lf.name, None, arr.shape,
            )
        votes = arr.astype(np.int8)
        votes[:, ~covered] = ABSTAIN
        return votes
    entries = list(entries)
    if len(entries) != n:
        raise InvalidVoteError(
            f"LF {lf.name!r} returned {len(entries)} entries for a batch of {n} rows; "
            "it must return one label set per row",
            lf.name, None, len(entries),
        )
    lookup = {name: c for c, name in enumerate(classes)}
    blank = ABSENT if lf.unnamed == "absent" else ABSTAIN
    votes = np.full((n, k), ABSTAIN, dtype=np.int8)
    for i, entry in enumerate(entries):
        if entry is None or (isinstance(entry, int | np.integer) and entry == ABSTAIN):
            continue
        if isinstance(entry, str) or not isinstance(entry, Iterable):
            raise InvalidVoteError(
                f"LF {lf.name!r} returned {entry!r:.80} on row {index[i]!r}; a label set "
                "function returns an iterable of labels (a set or list), or ABSTAIN",
                lf.name, index[i], entry,
            )
        votes[i, covered] = blank
        for label in entry:
            votes[i, _label_position(lf, label, lookup, classes, covered, index[i])] = PRESENT
    return votes


def _label_position(
    lf: LabelSetFunction, label: Any, lookup: dict[str, int], classes: list[str],
    covered: np.ndarray, row: Any,
) -> int:
    if isinstance(label, int | np.integer) and not isinstance(label, bool) and 0 <= label < len(classes):
        position = int(label)
    elif isinstance(label, str) and label in lookup:
        position = lookup[label]
    else:
        raise InvalidVoteError(
            f"LF {lf.name!r} named {label!r} on row {row!r}, which is not a class "
            f"(classes: {classes})",
            lf.name, row, label,
        )
    if not covered[position]:
        raise InvalidVoteError(
            f"LF {lf.name!r} named {classes[position]!r} on row {row!r}, outside its labels {lf.labels}",
            lf.name, row, label,
        )
    return position


def label_set_function(
    name: str | None = None,
    *,
    labels: Sequence[str] | None = None,
    unnamed: Unnamed = "abstain",
    resources: Mapping[str, Any] | None = None,
    vectorized: bool = False,
    column: str | None = None,
) -> Callable[[Callable[..., Any]], LabelSetFunction]:
    """Decorator: a labeling function returning the set of labels it finds on a row.

    Examples
    --------
    >>> @label_set_function()
    ... def service_words(x):
    ...     found = set()
    ...     if "waiter" in x.text:
    ...         found.add("staff")
    ...     if "slow" in x.text:
    ...         found.add("service")
    ...     return found or ABSTAIN
    >>> sorted(service_words(Row(text="a slow waiter")))
    ['service', 'staff']
    """
    if callable(name):
        raise TypeError("use label_set_function() with parentheses")
    if column is not None and not vectorized:
        raise ValueError("column= is for vectorized label set functions; row-wise ones get the whole row")

    def decorate(f: Callable[..., Any]) -> LabelSetFunction:
        lf = LabelSetFunction(
            name or str(getattr(f, "__name__", "")), f,
            kind="vectorized" if vectorized else "row",
            labels=labels, unnamed=unnamed, resources=resources, column=column,
        )
        lf.__doc__ = f.__doc__
        return lf

    return decorate


# ---------------------------------------------------------------- expansion to per-label LFs
class _SetVotes:
    """The shared step of a set source's per-label columns: its (n, k) votes for a batch.

    A vectorised LF's preprocessors run once per batch for all LFs that share them, so the
    source's function runs once per batch however many labels it names.
    """

    def __init__(self, source: LabelSetFunction, classes: Sequence[str]) -> None:
        self.source = source
        self.classes = list(classes)

    def __call__(self, batch: pd.DataFrame) -> np.ndarray:
        return self.source.set_votes(batch, self.classes)

    def __repr__(self) -> str:  # stable: used in vote-cache fingerprints
        f = self.source._f
        qualname = getattr(f, "__qualname__", type(f).__qualname__)
        return (
            f"_SetVotes({self.source.name!r}, {getattr(f, '__module__', '')}.{qualname}, "
            f"labels={self.source.labels}, unnamed={self.source.unnamed!r}, classes={self.classes})"
        )


class _BatchLabelView(BatchLabelingFunction):
    """One label's column of a batch set source (an LLM answering with sets): the source
    runs once per data object, the other labels' views reuse its answer."""

    def __init__(self, name: str, shared: _SharedBatch, position: int) -> None:
        self.name = name
        self._shared = shared
        self._position = position

    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        return self._shared.votes(data)[:, self._position]


class _SharedBatch:
    def __init__(self, step: _SetVotes) -> None:
        self.step = step
        self._last: tuple[pd.DataFrame, np.ndarray] | None = None

    def votes(self, data: pd.DataFrame) -> np.ndarray:
        if self._last is None or self._last[0] is not data:
            self._last = (data, self.step(data))
        return self._last[1]


def _column_picker(position: int) -> Callable[[np.ndarray], np.ndarray]:
    def pick(votes: np.ndarray) -> np.ndarray:
        return votes[:, position]

    pick.__qualname__ = f"label_column_{position}"
    return pick


def _expand_set(source: LabelSetFunction, classes: list[str]) -> list[BaseLabelingFunction]:
    step = _SetVotes(source, classes)
    covered = classes if source.labels is None else [c for c in classes if c in source.labels]
    unknown = sorted(set(source.labels or ()) - set(classes))
    if unknown:
        raise ValueError(f"LF {source.name!r}: labels {unknown} are not classes of the task {classes}")
    views: list[BaseLabelingFunction] = []
    shared = _SharedBatch(step) if source.set_kind == "batch" else None
    for label in covered:
        position = classes.index(label)
        name = f"{source.name}:{label}"
        if shared is not None:
            view: BaseLabelingFunction = _BatchLabelView(name, shared, position)
        else:
            view = VectorizedLabelingFunction(name, _column_picker(position), pre=[step])
        views.append(for_label(view, label))
    return views


def label_set_source(source: Any, *, unnamed: Unnamed = "absent", labels: Sequence[str] | None = None) -> LabelSetFunction:
    """A source that labels whole batches with label sets — an
    ``LLMLabelSetLabeler`` (one prompt naming the aspects of each row) —
    as a ``LabelSetFunction``. Its labels default to ``source.labels``; what it does not
    name is absent (``unnamed="absent"``), as its answer lists everything it finds."""
    return LabelSetFunction(
        source.name, source, kind="batch", unnamed=unnamed,
        labels=labels if labels is not None else getattr(source, "labels", None),
    )


def _is_set_source(obj: Any) -> bool:
    """An object that is no LF but labels batches with sets (an LLM set labeler)."""
    return (
        not isinstance(obj, BaseLabelingFunction)
        and callable(getattr(obj, "apply_batch", None))
        and isinstance(getattr(obj, "name", None), str)
        and getattr(obj, "labels", None) is not None
    )


def expand(lfs: Iterable[Any], classes: Sequence[str]) -> list[BaseLabelingFunction]:
    """Every source as per-label binary LFs (each with a ``target_label`` among ``classes``).

    Per-label LFs pass through; a ``LabelSetFunction`` becomes one LF per label it
    covers, and so does an LLM set labeler (read with ``label_set_source``). A source
    that is none of these is an error naming it.
    """
    classes = list(classes)
    out: list[BaseLabelingFunction] = []
    for lf in [lfs] if isinstance(lfs, BaseLabelingFunction) else lfs:
        if _is_set_source(lf):
            lf = label_set_source(lf)
        if isinstance(lf, LabelSetFunction):
            out.extend(_expand_set(lf, classes))
            continue
        source = as_labeling_function(lf)
        label = target_label(source)
        if label is None:
            raise ValueError(
                f"LF {source.name!r} does not say which label it votes on: build it with "
                "weaklabel.multilabel's labeling_function(label=...), keyword_lf or regex_lf, "
                "wrap it with for_label(lf, label), or make it a label_set_function"
            )
        if label not in classes:
            raise ValueError(f"LF {source.name!r} votes on {label!r}, which is not a class {classes}")
        out.append(source)
    if not out:
        raise ValueError("no labeling functions given")
    return out
