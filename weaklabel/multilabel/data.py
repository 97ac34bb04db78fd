"""Multi-label gold data: a label column holding several class names per row.

A row's labels may be written as a list (JSONL, Parquet, Python), a JSON list inside a
string (a CSV cell such as ``["food", "staff"]``), or a delimited string (``food|staff``
with ``sep="|"``). They become an ``(n, k)`` indicator matrix ``Y`` with ``Y[i, c] = 1``
when row ``i`` has class ``c`` and ``0`` when it does not; a row whose labels are missing
(None, NaN, an empty cell) is unknown and holds ``-1`` in every column. An empty list is
known: the row has none of the classes.

The class order is the one the user gives (``classes=``); without it, the sorted names
seen in the data.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.data import load_table

__all__ = [
    "MAMS_CLASSES",
    "from_indicator",
    "load_mams",
    "load_multilabel_table",
    "parse_label_sets",
    "to_indicator",
]

MAMS_CLASSES = (
    "ambience", "food", "menu", "miscellaneous", "place", "price", "service", "staff",
)
"""The eight aspect categories of MAMS-ACSA, in the dataset's (alphabetical) order."""

_UNKNOWN = -1


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _one_set(value: Any, sep: str | None, row: Any) -> list[str] | None:
    """The class names of one cell, or None when the cell is missing (unknown labels)."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"row {row}: the labels {value!r} look like a JSON list but do not parse "
                    f"({exc.msg})"
                ) from exc
            return _one_set(parsed, sep, row) if isinstance(parsed, list) else [text]
        if sep is None:
            return [text]
        return [part.strip() for part in text.split(sep) if part.strip()]
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple | set | frozenset):
        names = []
        for item in value:
            if not isinstance(item, str | int | np.integer) or isinstance(item, bool):
                raise ValueError(
                    f"row {row}: the labels {value!r} hold {item!r}; expected class names"
                )
            names.append(str(item))
        return sorted(set(names)) if isinstance(value, set | frozenset) else names
    raise ValueError(
        f"row {row}: the labels {value!r} ({type(value).__name__}) are neither a list nor a "
        "string of class names"
    )


def parse_label_sets(
    values: Iterable[Any], *, sep: str | None = None, index: Sequence[Any] | None = None
) -> list[list[str] | None]:
    """Each cell's class names (``None`` for an unknown row).

    ``sep`` splits delimited strings (``"food|staff"``); a string starting with ``[`` is
    read as a JSON list whatever ``sep`` is. Errors name the row (its id from ``index``).
    """
    values = list(values)
    ids = list(index) if index is not None else range(len(values))
    return [_one_set(value, sep, row) for value, row in zip(values, ids, strict=True)]


def to_indicator(
    label_sets: Iterable[Any],
    classes: Sequence[str] | None = None,
    *,
    sep: str | None = None,
    index: Sequence[Any] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """``(Y, classes)``: the ``(n, k)`` int8 indicator matrix of the label sets.

    ``label_sets`` holds one cell per row (a list of names, a JSON list string or a
    delimited string; see the module docstring). A name outside ``classes`` is an error
    naming the row; rows with missing labels are ``-1`` throughout.

    Examples
    --------
    >>> Y, classes = to_indicator([["food", "staff"], "price", None], sep="|")
    >>> classes, Y.tolist()
    (['food', 'price', 'staff'], [[1, 0, 1], [0, 1, 0], [-1, -1, -1]])
    """
    sets = parse_label_sets(label_sets, sep=sep, index=index)
    if classes is None:
        classes = sorted({name for names in sets if names for name in names})
        if not classes:
            raise ValueError("no class name found in the labels; pass classes=")
    classes = _check_classes(classes)
    lookup = {name: c for c, name in enumerate(classes)}
    ids = list(index) if index is not None else range(len(sets))
    Y = np.zeros((len(sets), len(classes)), dtype=np.int8)
    for i, (names, row) in enumerate(zip(sets, ids, strict=True)):
        if names is None:
            Y[i] = _UNKNOWN
            continue
        for name in names:
            if name not in lookup:
                raise ValueError(f"row {row}: unknown class {name!r}; classes are {classes}")
            Y[i, lookup[name]] = 1
    return Y, classes


def _check_classes(classes: Any) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, Iterable):
        raise TypeError(f"classes must be a list of class names, got {classes!r:.80}")
    names = [str(c) for c in classes]
    if len(names) < 1:
        raise ValueError("classes is empty")
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"class names must be unique; repeated: {repeated}")
    return names


def from_indicator(Y: Any, classes: Sequence[str]) -> list[list[str] | None]:
    """The label sets of an indicator matrix (``None`` for an unknown row)."""
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] != len(classes):
        raise ValueError(f"Y has shape {Y.shape}, expected (n, {len(classes)})")
    return [
        None if (row < 0).all() else [classes[int(c)] for c in np.flatnonzero(row > 0)] for row in Y
    ]


def load_multilabel_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "labels",
    sep: str | None = None,
    classes: Sequence[str] | None = None,
    format: str | None = None,
    **read_options: Any,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Load a CSV/TSV, JSONL or Parquet file whose ``label_column`` holds several class names.

    Returns ``(data, Y, classes)``: the table with its text column renamed ``text``, the
    ``(n, k)`` indicator matrix (``-1`` rows: unknown labels) and the class names, in the
    order given or sorted. ``sep`` splits delimited label strings (``"food|staff"``).
    """
    path = Path(path)
    data, _ = load_table(path, text_column=text_column, format=format, **read_options)
    if label_column not in data.columns:
        raise KeyError(f"{path}: no column {label_column!r}; columns are {list(data.columns)}")
    try:
        Y, names = to_indicator(data[label_column], classes, sep=sep, index=data.index)
    except ValueError as exc:
        raise ValueError(f"{path}: column {label_column!r}: {exc}") from exc
    data.attrs["class_names"] = names
    return data, Y, names


# ---------------------------------------------------------------- MAMS-ACSA
_SPLITS = ("train", "val", "test")


def _bundled_mams(split: str) -> pd.DataFrame:
    package = resources.files("weaklabel.datasets").joinpath("mams_acsa", f"{split}.jsonl.gz")
    with package.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        return pd.DataFrame.from_records([json.loads(line) for line in handle if line.strip()])


def load_mams(split: str = "train", path: str | Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """A split of MAMS-ACSA (restaurant-review sentences, 2-5 of 8 aspect categories each).

    Without ``path``: the sample bundled with weaklabel (Apache-2.0; see
    ``weaklabel/datasets/mams_acsa/SOURCE.md``): 1,000 train, 200 val and the full 400
    test sentences. With ``path``: the folder of the full dataset
    (``{train,val,test}.jsonl``). Returns ``(data, Y)`` with the classes of
    ``MAMS_CLASSES``.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if path is None:
        frame = _bundled_mams(split)
        Y, _ = to_indicator(frame["labels"], MAMS_CLASSES)
        return frame, Y
    frame, Y, _ = load_multilabel_table(Path(path) / f"{split}.jsonl", classes=MAMS_CLASSES)
    return frame, Y
