"""The multi-label label matrix: per-label votes (present / absent / abstain) of every source.

A multi-label task with ``k`` classes is ``k`` two-class questions ("does the row have this
label?"). Each column of the matrix is one source voting on one label: ``PRESENT`` (1),
``ABSENT`` (0) or ``ABSTAIN`` (-1). The columns are an ordinary two-class
``LabelMatrix`` (so every single-label tool reads them), plus the
label each column votes on. ``MultiLabelMatrix.label`` gives the two-class matrix of
one label: the input of that label's label model.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.matrix import LabelMatrix
from weaklabel.multilabel.lf import ABSENT, PRESENT

__all__ = ["VOTE_NAMES", "MultiLabelMatrix"]

VOTE_NAMES = ("absent", "present")
"""Class names of every per-label column: vote 0 is ``absent``, vote 1 ``present``."""
_META_MEMBER = "multilabel_metadata"
_FORMAT = "weaklabel.MultiLabelMatrix"
_FORMAT_VERSION = 1


def _check_classes(classes: Any) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, Iterable):
        raise TypeError(f"classes must be a list of class names, got {classes!r:.80}")
    names = [str(c) for c in classes]
    if not names:
        raise ValueError("a multi-label matrix needs at least one class")
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    return names


class MultiLabelMatrix:
    """Votes of n rows x m per-label sources, each column voting on one of ``classes``.

    Parameters
    ----------
    votes
        A two-class ``LabelMatrix``, or an integer array (n, m) of
        ``-1`` (abstain), ``0`` (absent) and ``1`` (present) with ``lf_names``.
    targets
        The label each column votes on, one class name per column.
    classes
        The task's class names, in the order used everywhere (scores, probabilities).
    lf_names, index, error_counts
        As for ``LabelMatrix`` when ``votes`` is an array.

    Examples
    --------
    >>> M = MultiLabelMatrix([[1, -1], [0, 1]], ["waiter", "menu_word"],
    ...                      targets=["staff", "menu"], classes=["menu", "staff"])
    >>> M.label("staff").votes.ravel().tolist(), M.sources_of("menu")
    ([1, 0], ['menu_word'])
    """

    def __init__(
        self,
        votes: LabelMatrix | Any,
        lf_names: Sequence[str] | None = None,
        *,
        targets: Sequence[str],
        classes: Sequence[str],
        index: Iterable[Any] | pd.Index | None = None,
        error_counts: Mapping[str, int] | None = None,
    ) -> None:
        if isinstance(votes, LabelMatrix):
            if lf_names is not None or index is not None or error_counts is not None:
                raise TypeError("give lf_names, index and error_counts only with an array of votes")
            matrix = votes
        else:
            if lf_names is None:
                raise TypeError("lf_names is required with an array of votes")
            matrix = LabelMatrix(votes, lf_names, cardinality=2, index=index, error_counts=error_counts)
        if matrix.cardinality != 2:
            raise ValueError(
                f"per-label votes are two-class (absent/present), got cardinality {matrix.cardinality}"
            )
        self._matrix = LabelMatrix(
            matrix.votes, matrix.lf_names, cardinality=2, class_names=VOTE_NAMES,
            index=matrix.index, error_counts=matrix.error_counts,
        )
        self._classes = tuple(_check_classes(classes))
        targets = [str(t) for t in targets]
        if len(targets) != matrix.n_sources:
            raise ValueError(f"{len(targets)} targets given for {matrix.n_sources} columns")
        unknown = sorted(set(targets) - set(self._classes))
        if unknown:
            raise ValueError(f"targets name {unknown}, which are not classes {list(self._classes)}")
        self._targets = tuple(targets)
        self._positions = np.array([self._classes.index(t) for t in targets], dtype=np.int64)

    # ------------------------------------------------------------------ access
    @property
    def matrix(self) -> LabelMatrix:
        """All per-label columns as one two-class LabelMatrix."""
        return self._matrix

    @property
    def votes(self) -> np.ndarray:
        return self._matrix.votes

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    @property
    def n_classes(self) -> int:
        return len(self._classes)

    @property
    def targets(self) -> list[str]:
        """The label each column votes on."""
        return list(self._targets)

    @property
    def target_positions(self) -> np.ndarray:
        """The class index each column votes on (a copy)."""
        return self._positions.copy()

    @property
    def lf_names(self) -> list[str]:
        return self._matrix.lf_names

    @property
    def index(self) -> pd.Index:
        return self._matrix.index

    @property
    def error_counts(self) -> dict[str, int]:
        return self._matrix.error_counts

    @property
    def n_rows(self) -> int:
        return self._matrix.n_rows

    @property
    def n_sources(self) -> int:
        return self._matrix.n_sources

    @property
    def shape(self) -> tuple[int, int]:
        return self._matrix.shape

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return (
            f"MultiLabelMatrix(n_rows={self.n_rows}, sources={self.n_sources}, "
            f"classes={self.n_classes})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiLabelMatrix):
            return NotImplemented
        return (
            self._matrix == other._matrix
            and self._classes == other._classes
            and self._targets == other._targets
        )

    __hash__ = None  # type: ignore[assignment]

    def _label_position(self, label: str | int) -> int:
        if isinstance(label, str):
            if label not in self._classes:
                raise KeyError(f"no class {label!r}; classes are {list(self._classes)}")
            return self._classes.index(label)
        if isinstance(label, int | np.integer) and 0 <= label < self.n_classes:
            return int(label)
        raise KeyError(f"no class {label!r}; give a class name or an index below {self.n_classes}")

    def sources_of(self, label: str | int) -> list[str]:
        """The columns voting on ``label`` (a name or class index)."""
        c = self._label_position(label)
        return [name for name, p in zip(self.lf_names, self._positions, strict=True) if p == c]

    def label(self, label: str | int) -> LabelMatrix:
        """The two-class matrix of one label (its columns only; ``absent``/``present``)."""
        return self._matrix.select(self.sources_of(label))

    def vote_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(present, absent)``: (n, k) counts of PRESENT and ABSENT votes per row and label."""
        votes = self.votes
        present = np.zeros((self.n_rows, self.n_classes), dtype=np.int64)
        absent = np.zeros_like(present)
        for c in range(self.n_classes):
            columns = votes[:, self._positions == c]
            present[:, c] = (columns == PRESENT).sum(axis=1)
            absent[:, c] = (columns == ABSENT).sum(axis=1)
        return present, absent

    def coverage(self) -> pd.Series:
        """Per label, the share of rows on which at least one of its sources votes."""
        present, absent = self.vote_counts()
        covered = (present + absent) > 0
        return pd.Series(covered.mean(axis=0) if self.n_rows else 0.0, index=self.classes, name="coverage")

    # ------------------------------------------------------------------ subsets
    def _with(self, matrix: LabelMatrix) -> MultiLabelMatrix:
        targets = [self._targets[self.lf_names.index(name)] for name in matrix.lf_names]
        return MultiLabelMatrix(matrix, targets=targets, classes=self._classes)

    def take(self, rows: Any) -> MultiLabelMatrix:
        """A row subset (positions, boolean mask or slice), as ``LabelMatrix.take``."""
        return self._with(self._matrix.take(rows))

    def select(self, names: str | Sequence[str]) -> MultiLabelMatrix:
        """The columns with these source names, in the order given."""
        return self._with(self._matrix.select(names))

    def reindex(self, index: Iterable[Any] | pd.Index) -> MultiLabelMatrix:
        """The rows with these ids, in this order."""
        return self._with(self._matrix.reindex(index))

    @classmethod
    def hstack(cls, matrices: Sequence[MultiLabelMatrix]) -> MultiLabelMatrix:
        """Side by side, for the same rows and classes (e.g. LF votes and LLM votes)."""
        matrices = list(matrices)
        if not matrices:
            raise ValueError("hstack needs at least one MultiLabelMatrix")
        first = matrices[0]
        for pos, other in enumerate(matrices[1:], start=1):
            if other.classes != first.classes:
                raise ValueError(f"hstack item {pos} has classes {other.classes}, item 0 {first.classes}")
        return cls(
            LabelMatrix.hstack([m.matrix for m in matrices]),
            targets=[t for m in matrices for t in m.targets],
            classes=first.classes,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save to ``.npz``: the two-class LabelMatrix file (``LabelMatrix.load`` reads it)
        with the classes and targets added as one more member. Written atomically."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ValueError(f"a multi-label matrix is saved as .npz, got {path.suffix!r}")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.multilabel.npz")
        meta = {
            "format": _FORMAT, "version": _FORMAT_VERSION,
            "classes": list(self._classes), "targets": list(self._targets),
        }
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        try:
            self._matrix.save(tmp)
            with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(f"{_META_MEMBER}.npy", buffer.getvalue())
            os.replace(tmp, path)
        except OSError as exc:
            raise OSError(f"cannot write the multi-label matrix to {path}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MultiLabelMatrix:
        """Load a matrix written by ``save``; a foreign or corrupt file is a ValueError."""
        path = Path(path)
        matrix = LabelMatrix.load(path)
        try:
            with np.load(path, allow_pickle=False) as payload:
                meta = json.loads(payload[_META_MEMBER].tobytes())
            if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
                raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
            return cls(matrix, targets=meta["targets"], classes=meta["classes"])
        except Exception as exc:
            raise ValueError(
                f"{path} is not a weaklabel multi-label matrix or is corrupt: {type(exc).__name__}: {exc}"
            ) from exc

