"""Multi-label data larger than memory: per-label votes in resumable Parquet shards.

The per-label sources are two-class LFs, so ``weaklabel.stream.apply_lfs_to_shards``
labels them unchanged, shard by shard, resuming after a crash; this module adds what makes
the shards multi-label — the classes and the label of each column, in ``multilabel.json``
next to the manifest — and the two steps that follow::

    from weaklabel import load_lfs
    from weaklabel.multilabel import MAMS_CLASSES
    from weaklabel.multilabel.label_model import MultiLabelModel
    from weaklabel.multilabel.stream import apply_multilabel_lfs_to_shards, predict_proba_to_parquet

    shards = apply_multilabel_lfs_to_shards(load_lfs("labeling_functions.mams"), "reviews/", "votes/", MAMS_CLASSES)
    model = MultiLabelModel().fit_chunks(shards.chunks())       # one pass, sufficient statistics
    predict_proba_to_parquet(model, shards, "probs.parquet")   # one shard in memory at a time

``fit_chunks`` gives the model that ``fit`` gives on the whole matrix in memory (the same
per-label statistics; a label with more than ``max_patterns`` distinct vote patterns is fitted
on a seeded row sample in both).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from weaklabel.multilabel.lf import expand, target_label
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix
from weaklabel.stream import (
    ShardedLabelMatrix,
    _write_json_atomic,
    _write_tables,
    apply_lfs_to_shards,
)

__all__ = ["ShardedMultiLabelMatrix", "apply_multilabel_lfs_to_shards", "predict_proba_to_parquet"]

LABELS_FILE = "multilabel.json"
_FORMAT = "weaklabel.multilabel-shards"


class ShardedMultiLabelMatrix:
    """Multi-label votes stored as shards: a ``ShardedLabelMatrix``
    of per-label columns, the classes and the label of each column."""

    def __init__(self, shards: ShardedLabelMatrix, targets: Sequence[str], classes: Sequence[str]) -> None:
        if len(targets) != len(shards.lf_names):
            raise ValueError(f"{len(targets)} targets for {len(shards.lf_names)} columns in {shards.directory}")
        self.shards = shards
        self.targets = list(targets)
        self.classes = list(classes)

    @classmethod
    def open(cls, out_dir: str | os.PathLike[str]) -> ShardedMultiLabelMatrix:
        """The shards written by ``apply_multilabel_lfs_to_shards`` into ``out_dir``."""
        directory = Path(out_dir)
        path = directory / LABELS_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"its format is not {_FORMAT!r}")
            targets, classes = meta["targets"], meta["classes"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} does not describe multi-label shards ({exc})") from exc
        return cls(ShardedLabelMatrix.open(directory), targets, classes)

    @property
    def lf_names(self) -> list[str]:
        return self.shards.lf_names

    @property
    def n_rows(self) -> int:
        return self.shards.n_rows

    @property
    def complete(self) -> bool:
        return self.shards.complete

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return f"ShardedMultiLabelMatrix({self.shards!r}, classes={len(self.classes)})"

    def chunks(self, *, allow_incomplete: bool = False) -> Iterator[MultiLabelMatrix]:
        """One ``MultiLabelMatrix`` per shard, in row order, each read when reached."""
        for L in self.shards.chunks(allow_incomplete=allow_incomplete):
            yield MultiLabelMatrix(L, targets=self.targets, classes=self.classes)

    def to_multilabel_matrix(self, *, allow_incomplete: bool = False) -> MultiLabelMatrix:
        """All shards in one in-memory ``MultiLabelMatrix``."""
        L = self.shards.to_label_matrix(allow_incomplete=allow_incomplete)
        return MultiLabelMatrix(L, targets=self.targets, classes=self.classes)


def apply_multilabel_lfs_to_shards(
    lfs: Iterable[Any],
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    classes: Sequence[str],
    **options: Any,
) -> ShardedMultiLabelMatrix:
    """Apply per-label LFs and label set functions to a Parquet dataset, one shard per batch.

    ``options`` are those of ``weaklabel.stream.apply_lfs_to_shards`` (``batch_rows``,
    ``columns``, ``id_column``, ``n_jobs``, ``on_error``, ``progress``, ``resume``); the
    votes are two-class, so ``cardinality`` and ``class_names`` are set here.
    """
    for fixed in ("cardinality", "class_names"):
        if fixed in options:
            raise TypeError(f"{fixed} is set by apply_multilabel_lfs_to_shards (per-label votes are two-class)")
    classes = list(classes)
    expanded = expand(lfs, classes)
    targets = [target_label(lf) for lf in expanded]
    shards = apply_lfs_to_shards(expanded, source, out_dir, class_names=list(VOTE_NAMES), **options)
    meta = {"format": _FORMAT, "classes": classes, "targets": targets}
    _write_json_atomic(Path(out_dir) / LABELS_FILE, meta)
    return ShardedMultiLabelMatrix(shards, targets, classes)  # type: ignore[arg-type]


def predict_proba_to_parquet(
    model: Any,
    shards: ShardedMultiLabelMatrix | Iterable[MultiLabelMatrix],
    path: str | os.PathLike[str],
    *,
    threshold: float = 0.5,
) -> Path:
    """Write a fitted multi-label model's probabilities to Parquet, one shard at a time.

    Columns, as in a multi-label run's ``probs.parquet``: ``row_id``, ``prob_<label>`` per
    label and ``labels`` (the names above ``threshold``). The file appears under ``path``
    only once complete.
    """
    import pyarrow as pa

    chunks = shards.chunks() if isinstance(shards, ShardedMultiLabelMatrix) else iter(shards)

    def tables() -> Iterator[pa.Table]:
        for M in chunks:
            probs = np.asarray(model.predict_proba(M))
            ids = M.index.to_numpy()
            columns: dict[str, Any] = {"row_id": pa.array(ids.tolist() if ids.dtype == object else ids)}
            columns |= {f"prob_{label}": pa.array(probs[:, c]) for c, label in enumerate(M.classes)}
            named = [[M.classes[c] for c in np.flatnonzero(row > threshold)] for row in probs]
            columns["labels"] = pa.array(named, type=pa.list_(pa.string()))
            yield pa.table(columns)

    return _write_tables(path, tables())
