"""The label matrix: every source's vote on every row, in one compact integer array.

Rows are examples, columns are labeling sources (LFs or LLM labelers), ``-1`` is an
abstain. The matrix carries the names of its sources, the number of classes, optional
class names and the row ids of the data it was computed on, so that votes from different
runs (hand-written LFs today, an LLM labeler tomorrow) can be put side by side safely.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.lf import ABSTAIN

__all__ = ["LabelMatrix", "as_vote_array"]

_FORMAT_VERSION = 1


def _smallest_dtype(cardinality: int) -> np.dtype:
    return np.dtype(np.int8) if cardinality <= 127 else np.dtype(np.int16)


def as_vote_array(L: Any, *, cardinality: int | None = None) -> np.ndarray:
    """Return ``L`` (a LabelMatrix or array-like) as a validated 2-D integer array.

    Label models and analysis helpers call this so that a plain numpy array with ``-1`` for
    abstain is accepted everywhere a ``LabelMatrix`` is.
    """
    if isinstance(L, LabelMatrix):
        return L.votes
    arr = np.asarray(L)
    if arr.ndim != 2:
        raise ValueError(f"label matrix must be 2-D (rows x sources), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            row, col = np.argwhere(np.isnan(arr))[0]
            raise ValueError(f"label matrix contains NaN at row {row}, column {col}; use -1 to abstain")
        if not np.all(arr == np.round(arr)):
            row, col = np.argwhere(arr != np.round(arr))[0]
            raise ValueError(
                f"label matrix contains the non-integer vote {arr[row, col]!r} at row {row}, column {col}"
            )
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"label matrix must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < ABSTAIN:
        row, col = np.argwhere(arr < ABSTAIN)[0]
        raise ValueError(
            f"label matrix holds the vote {arr[row, col]} at row {row}, column {col}; "
            "votes are -1 (abstain) or a class index >= 0"
        )
    if cardinality is not None and arr.size and arr.max() >= cardinality:
        row, col = np.argwhere(arr >= cardinality)[0]
        raise ValueError(
            f"label matrix holds the vote {arr[row, col]} at row {row}, column {col}, "
            f"outside [-1, {cardinality - 1}] for cardinality {cardinality}"
        )
    return arr


class LabelMatrix:
    """An n x m matrix of votes with the names of its m sources.

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
        arr = np.asarray(votes)
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, len(lf_names))
        arr = as_vote_array(arr)
        names = [str(name) for name in lf_names]
        if len(names) != arr.shape[1]:
            raise ValueError(f"{len(names)} lf_names given for a matrix with {arr.shape[1]} columns")
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"source names must be unique; duplicated: {duplicated}")
        if class_names is not None:
            class_names = [str(c) for c in class_names]
        inferred = int(arr.max()) + 1 if arr.size else 0
        if cardinality is None:
            cardinality = max(inferred, len(class_names) if class_names else 0)
            if cardinality < 2:
                raise ValueError(
                    "cannot infer the number of classes from these votes "
                    f"(largest vote {inferred - 1}); pass cardinality="
                )
        cardinality = int(cardinality)
        if cardinality < 2:
            raise ValueError(f"cardinality must be >= 2, got {cardinality}")
        if class_names is not None and len(class_names) != cardinality:
            raise ValueError(f"{len(class_names)} class_names given for cardinality {cardinality}")
        as_vote_array(arr, cardinality=cardinality)
        if index is None:
            row_index = pd.RangeIndex(arr.shape[0])
        else:
            row_index = pd.Index(index)
        if len(row_index) != arr.shape[0]:
            raise ValueError(f"index has {len(row_index)} entries for {arr.shape[0]} rows")
        if not row_index.is_unique:
            dup = row_index[row_index.duplicated()][0]
            raise ValueError(
                f"row ids must be unique; {dup!r} appears more than once "
                "(reset the index of your data, e.g. df.reset_index(drop=True))"
            )
        unknown = set(error_counts or {}) - set(names)
        if unknown:
            raise ValueError(f"error_counts names unknown sources: {sorted(unknown)}")
        self._votes = arr.astype(_smallest_dtype(cardinality))
        self._votes.setflags(write=False)
        self.lf_names: list[str] = names
        self.cardinality: int = cardinality
        self.class_names: list[str] | None = class_names
        self.index: pd.Index = row_index
        self.error_counts: dict[str, int] = {name: int((error_counts or {}).get(name, 0)) for name in names}

    # ------------------------------------------------------------------ access
    @property
    def votes(self) -> np.ndarray:
        """The read-only vote array (int8, or int16 beyond 127 classes)."""
        return self._votes

    @property
    def shape(self) -> tuple[int, int]:
        return self._votes.shape  # type: ignore[return-value]

    @property
    def n_rows(self) -> int:
        return self._votes.shape[0]

    @property
    def n_sources(self) -> int:
        return self._votes.shape[1]

    def __len__(self) -> int:
        return self.n_rows

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._votes.astype(dtype) if dtype is not None else self._votes.copy()

    def __repr__(self) -> str:
        return (
            f"LabelMatrix(n_rows={self.n_rows}, sources={self.n_sources}, "
            f"cardinality={self.cardinality}, coverage={self.coverage():.3f})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMatrix):
            return NotImplemented
        return (
            self.lf_names == other.lf_names
            and self.cardinality == other.cardinality
            and self.class_names == other.class_names
            and self.index.equals(other.index)
            and np.array_equal(self._votes, other._votes)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_numpy(self, dtype: Any = np.int64) -> np.ndarray:
        """A writable copy of the votes (int64 by default, the safest for arithmetic)."""
        return self._votes.astype(dtype)

    def to_dataframe(self) -> pd.DataFrame:
        """The votes as a DataFrame: one column per source, indexed by row id."""
        return pd.DataFrame(self._votes, columns=self.lf_names, index=self.index)

    def coverage(self) -> float:
        """Share of rows with at least one non-abstain vote."""
        if self.n_rows == 0:
            return 0.0
        return float((self._votes != ABSTAIN).any(axis=1).mean())

    def select(self, names: str | Sequence[str]) -> LabelMatrix:
        """The columns with these source names, in the order given."""
        wanted = [names] if isinstance(names, str) else list(names)
        missing = [name for name in wanted if name not in self.lf_names]
        if missing:
            raise KeyError(f"no source named {missing}; sources are {self.lf_names}")
        cols = [self.lf_names.index(name) for name in wanted]
        return self._replace(self._votes[:, cols], wanted)

    def drop(self, names: str | Sequence[str]) -> LabelMatrix:
        """All columns but these."""
        dropped = {names} if isinstance(names, str) else set(names)
        missing = dropped - set(self.lf_names)
        if missing:
            raise KeyError(f"no source named {sorted(missing)}; sources are {self.lf_names}")
        return self.select([name for name in self.lf_names if name not in dropped])

    def take(self, rows: Any) -> LabelMatrix:
        """A row subset, by integer positions or a boolean mask (row ids follow)."""
        rows = np.asarray(rows)
        if rows.dtype == bool and rows.shape != (self.n_rows,):
            raise ValueError(f"boolean row mask has shape {rows.shape}, expected ({self.n_rows},)")
        return LabelMatrix(
            self._votes[rows],
            self.lf_names,
            cardinality=self.cardinality,
            class_names=self.class_names,
            index=self.index[rows],
        )

    def _replace(self, votes: np.ndarray, names: list[str]) -> LabelMatrix:
        return LabelMatrix(
            votes,
            names,
            cardinality=self.cardinality,
            class_names=self.class_names,
            index=self.index,
            error_counts={name: self.error_counts[name] for name in names},
        )

    @classmethod
    def hstack(cls, matrices: Sequence[LabelMatrix]) -> LabelMatrix:
        """Put the votes of several matrices for the same rows side by side.

        The row ids must match exactly (same rows, same order) and so must cardinality and
        class names; source names must stay unique.
        """
        matrices = list(matrices)
        if not matrices:
            raise ValueError("hstack needs at least one LabelMatrix")
        first = matrices[0]
        for pos, other in enumerate(matrices[1:], start=1):
            if not isinstance(other, LabelMatrix):
                raise TypeError(f"hstack item {pos} is a {type(other).__name__}, not a LabelMatrix")
            if other.n_rows != first.n_rows:
                raise ValueError(f"hstack item {pos} has {other.n_rows} rows, item 0 has {first.n_rows}")
            if not other.index.equals(first.index):
                diff = np.flatnonzero(np.asarray(other.index != first.index))
                at = int(diff[0]) if diff.size else 0
                raise ValueError(
                    f"hstack item {pos} has other row ids than item 0: at position {at}, "
                    f"{other.index[at]!r} != {first.index[at]!r}; align the rows first"
                )
            if other.cardinality != first.cardinality:
                raise ValueError(
                    f"hstack item {pos} has cardinality {other.cardinality}, item 0 has {first.cardinality}"
                )
            if other.class_names and first.class_names and other.class_names != first.class_names:
                raise ValueError(
                    f"hstack item {pos} names its classes {other.class_names}, item 0 {first.class_names}"
                )
        names = [name for m in matrices for name in m.lf_names]
        errors = {name: count for m in matrices for name, count in m.error_counts.items()}
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
        return {
            "format": "weaklabel.LabelMatrix",
            "version": _FORMAT_VERSION,
            "lf_names": self.lf_names,
            "cardinality": self.cardinality,
            "class_names": self.class_names,
            "error_counts": self.error_counts,
            "index_name": self.index.name,
        }

    def save(self, path: str | Path) -> Path:
        """Save to ``.npz`` or ``.parquet`` (chosen by suffix). Never a pickle."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            index_values = self.index.to_numpy()
            if index_values.dtype == object:
                index_values = index_values.astype(str)
            np.savez_compressed(
                path,
                votes=self._votes,
                index=index_values,
                metadata=np.array(json.dumps(self._metadata())),
            )
        elif suffix == ".parquet":
            frame = self.to_dataframe()
            frame.index = frame.index.rename("__row_id__")
            frame = frame.reset_index()
            frame.attrs = {}
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[b"weaklabel"] = json.dumps(self._metadata()).encode()
            pq.write_table(table.replace_schema_metadata(meta), path)
        else:
            raise ValueError(f"unknown label-matrix format {path.suffix!r}; use .npz or .parquet")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelMatrix:
        """Load a matrix written by :meth:`save`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if not path.exists():
            raise FileNotFoundError(f"no label matrix at {path}")
        try:
            if suffix == ".npz":
                with np.load(path, allow_pickle=False) as payload:
                    meta = json.loads(str(payload["metadata"]))
                    votes, index = payload["votes"], payload["index"]
            elif suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                meta = json.loads(table.schema.metadata[b"weaklabel"])
                frame = table.to_pandas()
                index = frame.pop("__row_id__").to_numpy()
                votes = frame[meta["lf_names"]].to_numpy()
            else:
                raise ValueError(f"unknown label-matrix format {path.suffix!r}; use .npz or .parquet")
        except (KeyError, OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path} is not a weaklabel label matrix or is corrupt: {exc}") from exc
        if meta.get("format") != "weaklabel.LabelMatrix":
            raise ValueError(f"{path} is not a weaklabel label matrix")
        return cls(
            votes,
            meta["lf_names"],
            cardinality=meta["cardinality"],
            class_names=meta["class_names"],
            index=pd.Index(index, name=meta.get("index_name")),
            error_counts=meta["error_counts"],
        )
