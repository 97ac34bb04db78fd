"""Checks every module shares, with one message each: votes, numbers of classes, gold labels,
class names.

A vote matrix, a cardinality or a gold label is checked the same way whether it reaches an
applier, a label matrix, a label model, an analysis table or a student, so the same mistake
always reads the same. This module imports numpy only: the estimators that use it must stay
importable without pandas or scikit-learn.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, overload

import numpy as np

__all__ = [
    "ABSTAIN",
    "MAX_CARDINALITY",
    "check_cardinality",
    "check_class_names",
    "check_gold",
    "check_vote_array",
    "class_index",
    "is_label_matrix",
    "refuse_sparse",
]

ABSTAIN = -1
"""The vote of a source that has no opinion on a row."""

MAX_CARDINALITY = 32767
"""The most classes a label matrix holds: votes are stored as int8, or int16 beyond 127."""


def is_label_matrix(obj: Any) -> bool:
    """Whether ``obj`` is a ``LabelMatrix``, without importing pandas:
    if ``weaklabel.matrix`` was never imported, no LabelMatrix can exist."""
    matrix = sys.modules.get("weaklabel.matrix")
    return matrix is not None and isinstance(obj, matrix.LabelMatrix)


def check_cardinality(value: Any, what: str = "cardinality") -> int:
    """The number of classes as an int in [2, MAX_CARDINALITY], or a ValueError saying so."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or not 2 <= value <= MAX_CARDINALITY
    ):
        raise ValueError(f"{what} must be an integer in [2, {MAX_CARDINALITY}], got {value!r}")
    return int(value)


def _first(mask: np.ndarray) -> tuple[int, int]:
    row, col = np.argwhere(mask)[0]
    return int(row), int(col)


def refuse_sparse(L: Any, what: str = "label matrix") -> None:
    """A scipy sparse matrix would turn into a 0-d object array: say what is wrong instead."""
    if hasattr(L, "tocsr") and hasattr(L, "nnz"):
        raise TypeError(
            f"a sparse matrix was passed as the {what}, but dense data is required: votes are "
            "a dense array with -1 for abstain (sparse zeros would read as votes for class 0)"
        )


def check_vote_array(
    arr: np.ndarray, cardinality: int | None = None, what: str = "label matrix"
) -> np.ndarray:
    """Validate a 2-D vote array (``-1`` = abstain); returns it as an integer array.

    Floats holding whole numbers are converted; NaN, booleans, strings, objects, complex
    numbers and unsigned integers (which cannot hold ``-1``: an abstain stored in ``uint8``
    wraps to 255) are refused with the row, column and value at fault.
    """
    refuse_sparse(arr, what)
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(
            f"{what} must be 2-D (rows x sources), got shape {arr.shape}. Reshape your data: one "
            "row per example, one column per source (L.reshape(-1, 1) for a single source)"
        )
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: the {what} holds votes, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            row, col = _first(~np.isfinite(arr))
            found = "NaN" if np.isnan(arr[row, col]) else "infinity"
            raise ValueError(
                f"{what} contains {found} at row {row}, column {col}; use -1 to abstain"
            )
        if not np.all(arr == np.round(arr)):
            row, col = _first(arr != np.round(arr))
            raise ValueError(
                f"{what} contains the non-integer vote {arr[row, col].item()!r} at row {row}, "
                f"column {col}"
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        raise ValueError(
            f"{what} holds booleans; votes are class indices with -1 for abstain "
            "(e.g. np.where(mask, 1, -1))"
        )
    elif arr.dtype.kind == "u":
        raise ValueError(
            f"{what} has dtype {arr.dtype}, which cannot hold -1 (abstain): an abstain stored in "
            f"it wraps to {np.iinfo(arr.dtype).max}; use a signed integer dtype (int8, int16, int64)"
        )
    elif arr.dtype.kind != "i":
        hint = " (None found? use -1 to abstain)" if arr.dtype.kind == "O" else ""
        raise ValueError(f"{what} must hold integers (-1 = abstain), got dtype {arr.dtype}{hint}")
    if arr.size and arr.min() < ABSTAIN:
        row, col = _first(arr < ABSTAIN)
        raise ValueError(
            f"{what} holds the vote {arr[row, col]} at row {row}, column {col}; "
            "votes are -1 (abstain) or a class index >= 0"
        )
    upper = MAX_CARDINALITY if cardinality is None else cardinality
    if arr.size and arr.max() >= upper:
        row, col = _first(arr >= upper)
        raise ValueError(
            f"{what} holds the vote {arr[row, col]} at row {row}, column {col}, "
            f"outside [-1, {upper - 1}]"
            + (f" for cardinality {cardinality}" if cardinality is not None else "")
        )
    return arr


@overload
def check_class_names(names: None, cardinality: int | None = None) -> None: ...


@overload
def check_class_names(names: Iterable[Any], cardinality: int | None = None) -> list[str]: ...


def check_class_names(names: Any, cardinality: int | None = None) -> list[str] | None:
    """Class names as a list of unique strings (``None`` passes through), one per class."""
    if names is None:
        return None
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise TypeError(f"class_names must be a list of names, got {names!r:.80}")
    names = [str(c) for c in names]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise ValueError(f"class_names must be unique; repeated: {repeated}")
    if cardinality is not None and len(names) != cardinality:
        raise ValueError(f"{len(names)} class_names given for {cardinality} classes: {names}")
    return names


def class_index(label: Any, class_names: Sequence[str] | None, what: str) -> int:
    """One class given by name (``"HUM"``) or index (``3``) as its index.

    ``what`` names the place in the message (e.g. ``"LF 'who': label"``). A name needs
    ``class_names``, unless the label is an index.
    """
    if isinstance(label, str):
        if class_names is None:
            raise ValueError(
                f"{what} is the class name {label!r}, but no class names are known here; "
                "pass class_names=[...] or use the class index"
            )
        if label not in class_names:
            raise ValueError(f"{what} {label!r} is not a class name; classes are {list(class_names)}")
        return list(class_names).index(label)
    if isinstance(label, bool | np.bool_) or not isinstance(label, int | np.integer) or label < 0:
        raise ValueError(f"{what} must be a class name or a class index >= 0, got {label!r}")
    if class_names is not None and label >= len(class_names):
        raise ValueError(
            f"{what} is {label}, outside the {len(class_names)} classes {list(class_names)}"
        )
    if label > MAX_CARDINALITY - 1:
        raise ValueError(f"{what} is {label}; class indices stop at {MAX_CARDINALITY - 1}")
    return int(label)


def _names_to_indices(
    values: np.ndarray, class_names: Sequence[str] | None, what: str
) -> np.ndarray:
    """Object/string labels: class names to indices; None/NaN to -1; whole numbers as they are."""
    lookup = {name: i for i, name in enumerate(class_names or [])}
    out = np.empty(len(values), dtype=np.int64)
    for pos, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[pos] = ABSTAIN
        elif isinstance(value, str):
            if value not in lookup:
                known = f"classes are {list(class_names)}" if class_names else "no class names known"
                raise ValueError(f"{what} holds {value!r} at position {pos}, not a class name ({known})")
            out[pos] = lookup[value]
        elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            out[pos] = int(value)
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            out[pos] = int(value)
        else:
            raise ValueError(
                f"{what} holds {value!r} at position {pos}; labels are class names or indices "
                "(-1 or None = unknown)"
            )
    return out


def check_gold(
    y: Any,
    n_rows: int | None,
    cardinality: int | None,
    what: str = "y",
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Gold labels as int64 class indices with ``-1`` for unknown.

    Accepts class indices (whole floats too) or class names (mapped through
    ``class_names``; ``None`` is unknown). Refuses NaN in numeric labels (write -1), values
    outside ``[-1, cardinality - 1]`` and a length other than ``n_rows``, naming the position.
    """
    values = y.to_numpy() if hasattr(y, "to_numpy") else y
    gold = np.asarray(values)
    if gold.ndim != 1 or (n_rows is not None and gold.shape[0] != n_rows):
        expected = f"({n_rows},)" if n_rows is not None else "1-D"
        raise ValueError(f"{what} has shape {gold.shape}, expected {expected}")
    if gold.dtype.kind in "OUS":
        gold = _names_to_indices(gold.astype(object), class_names, what)
    elif gold.dtype.kind == "f":
        bad = ~np.isfinite(gold) | (gold != np.round(np.nan_to_num(gold)))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{what} holds {gold[pos].item()!r} at position {pos}; labels are class indices "
                "(-1 = unknown)"
            )
    elif gold.dtype.kind not in "iu":
        raise ValueError(
            f"{what} must hold class indices or names (-1 = unknown), got dtype {gold.dtype}"
        )
    gold = gold.astype(np.int64)
    bad = gold < ABSTAIN
    if cardinality is not None:
        bad |= gold >= cardinality
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        allowed = f"[-1, {cardinality - 1}]" if cardinality is not None else "-1 or >= 0"
        raise ValueError(f"{what} holds {gold[pos]} at position {pos}, outside {allowed} (-1 = unknown)")
    return gold
