"""The label matrix: every source's vote on every row, in one compact integer array.

Rows are examples, columns are labeling sources (LFs or LLM labelers), ``-1`` is an
abstain. The matrix carries the names of its sources, the number of classes, optional
class names and the row ids of the data it was computed on, so that votes from different
runs (hand-written LFs today, an LLM labeler tomorrow) can be put side by side safely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._matrix_io import check_suffix, read_matrix, write_matrix
from weaklabel._validation import (
    ABSTAIN,
    MAX_CARDINALITY,
    check_cardinality,
    check_class_names,
    check_vote_array,
)
from weaklabel.lf import repeated_names

__all__ = ["MAX_CARDINALITY", "LabelMatrix", "as_vote_array"]



def _smallest_dtype(cardinality: int) -> np.dtype:
    return np.dtype(np.int8) if cardinality <= 127 else np.dtype(np.int16)


def as_vote_array(L: Any, *, cardinality: int | None = None) -> np.ndarray:
    """Return ``L`` (a LabelMatrix or array-like) as a validated 2-D int64 array.

    Label models and analysis helpers call this so that a plain numpy array with ``-1`` for
    abstain is accepted everywhere a ``LabelMatrix`` is. Floats are accepted when they hold
    whole numbers; NaN, booleans, strings and objects are not (abstain is ``-1``). A
    LabelMatrix gives a fresh writable copy; ``cardinality`` checks the vote range.
    """
    if isinstance(L, LabelMatrix):
        arr = L.to_numpy()
        if cardinality is not None:
            check_vote_array(arr, cardinality)
        return arr
    return check_vote_array(np.asarray(L), cardinality).astype(np.int64, copy=False)


def _as_index(ids: Iterable[Any]) -> pd.Index:
    values = ids if isinstance(ids, np.ndarray | pd.Series) else list(ids)
    try:
        return pd.Index(values)
    except UnicodeError:  # a lone surrogate: pandas' Arrow strings cannot hold it, objects can
        return pd.Index(values, dtype=object)


def _row_index(index: Iterable[Any] | pd.Index | None, n_rows: int) -> pd.Index:
    """The row ids (default ``0..n-1``): one per row, unique."""
    if index is None:
        return pd.RangeIndex(n_rows)
    row_index = index if isinstance(index, pd.Index) else _as_index(index)
    if len(row_index) != n_rows:
        raise ValueError(f"index has {len(row_index)} entries for {n_rows} rows")
    if not row_index.is_unique:
        dup = row_index[row_index.duplicated()][0]
        raise ValueError(
            f"row ids must be unique; {dup!r} appears more than once "
            "(reset the index of your data, e.g. df.reset_index(drop=True))"
        )
    return row_index


def _error_counts(error_counts: Mapping[str, int] | None, names: list[str]) -> dict[str, int]:
    """One count >= 0 per source (0 where not given); unknown source names refused."""
    unknown = set(error_counts or {}) - set(names)
    if unknown:
        raise ValueError(f"error_counts names unknown sources: {sorted(unknown)}")
    counts = {name: int((error_counts or {}).get(name, 0)) for name in names}
    if any(count < 0 for count in counts.values()):
        raise ValueError(f"error_counts must be >= 0, got {counts}")
    return counts


class LabelMatrix:
    """An n x m matrix of votes with the names of its m sources.

    Immutable: the vote array is read-only and every operation returns a new matrix.

    Parameters
    ----------
    votes
        Integer array-like of shape (n_rows, n_sources); ``-1`` means abstain.
    lf_names
        One unique name per column.
    cardinality
        Number of classes. Inferred as ``max(vote) + 1`` (or ``len(class_names)``) when omitted.
    class_names
        Optional names of the classes, index ``i`` naming class ``i``.
    index
        Row ids of the data the votes were computed on (default ``0..n-1``); must be unique.
    error_counts
        Per-source count of rows whose vote became ABSTAIN because the source raised
        (``apply_lfs(..., on_error="abstain")``).

    Examples
    --------
    >>> L = LabelMatrix([[1, -1], [0, 0]], lf_names=["has_link", "short"])
    >>> L.shape, L.cardinality
    ((2, 2), 2)
    """

    def __init__(
        self,
        votes: Any,
        lf_names: Sequence[str],
        *,
        cardinality: int | None = None,
        class_names: Sequence[str] | None = None,
        index: Iterable[Any] | pd.Index | None = None,
        error_counts: Mapping[str, int] | None = None,
    ) -> None:
        if isinstance(lf_names, str) or not isinstance(lf_names, Iterable):
            raise TypeError(f"lf_names must be a list of names, got {lf_names!r:.80}")
        names = [str(name) for name in lf_names]
        arr = np.asarray(votes)
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, len(names))
        arr = check_vote_array(arr)
        if len(names) != arr.shape[1]:
            raise ValueError(
                f"{len(names)} lf_names given for a matrix with {arr.shape[1]} columns"
            )
        duplicated = repeated_names(names)
        if duplicated:
            raise ValueError(f"source names must be unique; duplicated: {duplicated}")
        class_names = check_class_names(class_names)
        if cardinality is None:
            inferred = int(arr.max()) + 1 if arr.size else 0
            cardinality = max(inferred, len(class_names) if class_names else 0)
            if cardinality < 2:
                raise ValueError(
                    "cannot infer the number of classes from these votes "
                    f"(largest vote {inferred - 1}); pass cardinality="
                )
        cardinality = check_cardinality(cardinality)
        check_class_names(class_names, cardinality)
        check_vote_array(arr, cardinality)
        row_index = _row_index(index, arr.shape[0])
        counts = _error_counts(error_counts, names)
        self._votes = arr.astype(_smallest_dtype(cardinality))
        self._votes.setflags(write=False)
        self._lf_names = tuple(names)
        self._cardinality = cardinality
        self._class_names = None if class_names is None else tuple(class_names)
        self._index = row_index
        self._error_counts = counts

    # ------------------------------------------------------------------ access
    @property
    def votes(self) -> np.ndarray:
        """The read-only vote array (int8, or int16 beyond 127 classes)."""
        return self._votes

    @property
    def lf_names(self) -> list[str]:
        """The source names, one per column (a copy)."""
        return list(self._lf_names)

    @property
    def cardinality(self) -> int:
        """The number of classes."""
        return self._cardinality

    @property
    def class_names(self) -> list[str] | None:
        """Names of the classes (a copy), or None."""
        return None if self._class_names is None else list(self._class_names)

    @property
    def index(self) -> pd.Index:
        """Row ids of the data the votes were computed on."""
        return self._index

    @property
    def error_counts(self) -> dict[str, int]:
        """Per source, the rows whose vote became ABSTAIN because the source raised (a copy)."""
        return dict(self._error_counts)

    @property
    def shape(self) -> tuple[int, int]:
        return self._votes.shape

    @property
    def n_rows(self) -> int:
        return self._votes.shape[0]

    @property
    def n_sources(self) -> int:
        return self._votes.shape[1]

    def __len__(self) -> int:
        return self.n_rows

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False and (dtype is None or np.dtype(dtype) == self._votes.dtype):
            return self._votes
        return self._votes.astype(dtype if dtype is not None else self._votes.dtype)

    def __repr__(self) -> str:
        return (
            f"LabelMatrix(n_rows={self.n_rows}, sources={self.n_sources}, "
            f"cardinality={self.cardinality}, coverage={self.coverage():.3f})"
        )

    def __eq__(self, other: object) -> bool:
        """Same votes, names, classes and row ids (error counts are not compared)."""
        if not isinstance(other, LabelMatrix):
            return NotImplemented
        return (
            self._lf_names == other._lf_names
            and self._cardinality == other._cardinality
            and self._class_names == other._class_names
            and self._index.equals(other._index)
            and np.array_equal(self._votes, other._votes)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_numpy(self, dtype: Any = np.int64) -> np.ndarray:
        """A writable copy of the votes (int64 by default, the safest for arithmetic)."""
        return self._votes.astype(dtype)

    def to_dataframe(self, as_names: bool = False) -> pd.DataFrame:
        """The votes as a DataFrame: one column per source, indexed by row id.

        ``as_names=True`` shows each vote as its class name (``None`` = abstain); it needs
        ``class_names``.
        """
        frame = pd.DataFrame(self._votes.copy(), columns=list(self._lf_names), index=self._index)
        if not as_names:
            return frame
        if self._class_names is None:
            raise ValueError("as_names=True needs a LabelMatrix with class_names")
        lookup = np.asarray([*self._class_names, None], dtype=object)  # -1 picks None
        return pd.DataFrame(
            lookup[self._votes], columns=list(self._lf_names), index=self._index
        )

    def coverage(self) -> float:
        """Share of rows with at least one non-abstain vote."""
        if self.n_rows == 0:
            return 0.0
        return float((self._votes != ABSTAIN).any(axis=1).mean())

    def _replace(
        self, votes: np.ndarray, names: Sequence[str], index: pd.Index, counts: bool
    ) -> LabelMatrix:
        return LabelMatrix(
            votes,
            names,
            cardinality=self._cardinality,
            class_names=self._class_names,
            index=index,
            error_counts={name: self._error_counts[name] for name in names} if counts else None,
        )

    def select(self, names: str | Sequence[str]) -> LabelMatrix:
        """The columns with these source names, in the order given."""
        wanted = [names] if isinstance(names, str) else list(names)
        missing = [name for name in wanted if name not in self._lf_names]
        if missing:
            raise KeyError(f"no source named {missing}; sources are {list(self._lf_names)}")
        cols = [self._lf_names.index(name) for name in wanted]
        return self._replace(self._votes[:, cols], wanted, self._index, counts=True)

    def drop(self, names: str | Sequence[str]) -> LabelMatrix:
        """All columns but these."""
        dropped = {names} if isinstance(names, str) else set(names)
        missing = dropped - set(self._lf_names)
        if missing:
            raise KeyError(f"no source named {sorted(missing)}; sources are {list(self._lf_names)}")
        return self.select([name for name in self._lf_names if name not in dropped])

    def take(self, rows: Any) -> LabelMatrix:
        """A row subset, by integer positions, a boolean mask or a slice (row ids follow).

        Error counts are dropped: they were counted over all rows.
        """
        if isinstance(rows, slice):
            return self._replace(self._votes[rows], self._lf_names, self._index[rows], counts=False)
        rows = np.asarray(rows)
        if rows.size == 0:
            rows = rows.astype(np.intp)
        if rows.dtype == bool:
            if rows.shape != (self.n_rows,):
                raise ValueError(
                    f"boolean row mask has shape {rows.shape}, expected ({self.n_rows},)"
                )
        elif rows.dtype.kind not in "iu" or rows.ndim != 1:
            raise TypeError(
                f"take needs 1-D integer positions or a boolean mask, got {rows.dtype} {rows.shape}"
            )
        elif rows.size and not (-self.n_rows <= rows.min() and rows.max() < self.n_rows):
            bad = rows[(rows < -self.n_rows) | (rows >= self.n_rows)][0]
            raise IndexError(f"row position {bad} is out of range for {self.n_rows} rows")
        return self._replace(self._votes[rows], self._lf_names, self._index[rows], counts=False)

    def reindex(self, index: Iterable[Any] | pd.Index) -> LabelMatrix:
        """The rows with these ids, in this order: aligns votes computed on another row order.

        Every id must be present (votes are never invented); error counts are kept.
        """
        wanted = pd.Index(index)
        positions = self._index.get_indexer(wanted)
        if (positions < 0).any():
            missing = wanted[positions < 0]
            raise KeyError(
                f"{len(missing)} row ids are not in the matrix, e.g. {list(missing[:5])}"
            )
        return self._replace(self._votes[positions], self._lf_names, wanted, counts=True)

    @classmethod
    def hstack(cls, matrices: Sequence[LabelMatrix]) -> LabelMatrix:
        """Put the votes of several matrices for the same rows side by side.

        The row ids must match exactly (same rows, same order: see ``reindex``) and so
        must cardinality and class names; source names must stay unique.
        """
        matrices = list(matrices)
        if not matrices:
            raise ValueError("hstack needs at least one LabelMatrix")
        for pos, item in enumerate(matrices):
            if not isinstance(item, LabelMatrix):
                raise TypeError(f"hstack item {pos} is a {type(item).__name__}, not a LabelMatrix")
        first = matrices[0]
        for pos, other in enumerate(matrices[1:], start=1):
            if other.n_rows != first.n_rows:
                raise ValueError(
                    f"hstack item {pos} has {other.n_rows} rows, item 0 has {first.n_rows}"
                )
            if not other.index.equals(first.index):
                same = np.asarray(other.index == first.index, dtype=bool)
                at = int(np.flatnonzero(~same)[0]) if not same.all() else 0
                raise ValueError(
                    f"hstack item {pos} has other row ids than item 0: at position {at}, "
                    f"{other.index[at]!r} != {first.index[at]!r}; align the rows first "
                    f"(e.g. item.reindex(items[0].index))"
                )
            if other.cardinality != first.cardinality:
                raise ValueError(
                    f"hstack item {pos} has cardinality {other.cardinality}, item 0 has {first.cardinality}"
                )
            if other.class_names and first.class_names and other.class_names != first.class_names:
                raise ValueError(
                    f"hstack item {pos} names its classes {other.class_names}, item 0 {first.class_names}"
                )
        names = [name for m in matrices for name in m._lf_names]
        duplicated = repeated_names(names)
        if duplicated:
            raise ValueError(
                f"hstack would repeat the source names {duplicated}; rename or drop them first"
            )
        errors = {name: count for m in matrices for name, count in m._error_counts.items()}
        class_names = next((m.class_names for m in matrices if m.class_names), None)
        return cls(
            np.hstack([m.votes for m in matrices]),
            names,
            cardinality=first.cardinality,
            class_names=class_names,
            index=first.index,
            error_counts=errors,
        )

    # ------------------------------------------------------------------ persistence
    def _metadata(self) -> dict[str, Any]:
        name = self._index.name
        return {
            "lf_names": list(self._lf_names),
            "cardinality": self._cardinality,
            "class_names": self.class_names,
            "error_counts": self._error_counts,
            "index_name": None if name is None else str(name),
            "n_rows": self.n_rows,
        }

    def _index_values(self) -> np.ndarray | list[str]:
        """Row ids that need no pickle: numbers or dates as an array, strings as a list."""
        if isinstance(self._index, pd.MultiIndex):
            raise ValueError(
                "cannot save a label matrix with a MultiIndex; reset the index of the data first"
            )
        values = self._index.to_numpy()
        if values.dtype != object:
            return values
        if not all(isinstance(v, str) for v in values):
            kinds = sorted({type(v).__name__ for v in values})
            raise ValueError(
                f"cannot save row ids of mixed or object types {kinds}; use all ints or all strings"
            )
        for pos, value in enumerate(values):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise ValueError(
                        f"cannot save the row id {value!r} at position {pos}: it is not valid "
                        f"Unicode ({exc.reason}: {value[exc.start:exc.end]!r})"
                    ) from None
        return [str(v) for v in values]

    def save(self, path: str | Path) -> Path:
        """Save to ``.npz`` or ``.parquet`` (chosen by suffix), versioned and checksummed
        (``weaklabel._matrix_io``). Never a pickle.

        Written to a temporary file first and moved into place, so an interrupted save never
        leaves a half-written matrix under ``path``.
        """
        path = Path(path)
        check_suffix(path)
        return write_matrix(path, self._votes, self._index_values(), self._metadata())

    @classmethod
    def load(cls, path: str | Path) -> LabelMatrix:
        """Load a matrix written by ``save``; a corrupt or foreign file is a ValueError naming it."""
        path = Path(path)
        votes, index, meta = read_matrix(path)
        try:
            return cls(
                votes,
                meta["lf_names"],
                cardinality=meta["cardinality"],
                class_names=meta["class_names"],
                index=pd.Index(index, name=meta.get("index_name")),
                error_counts=meta["error_counts"],
            )
        except Exception as exc:
            raise ValueError(
                f"{path} is not a weaklabel label matrix or is corrupt: {type(exc).__name__}: {exc}"
            ) from exc
