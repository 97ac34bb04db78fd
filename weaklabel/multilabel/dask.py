"""Multi-label weak supervision on a Dask cluster: per-label votes per partition, the
label model from merged statistics, probabilities per partition.

The per-label sources are two-class LFs, so ``weaklabel.dask.apply_lfs`` labels each
partition with them unchanged; ``MultiLabelVotes`` keeps the label of each column.
``fit_multilabel_model`` has every partition summarise its votes in
``MultiLabelStatistics`` and merges them in a tree:
the same model as ``MultiLabelModel().fit`` on the whole matrix. Dev rows (in memory) give
the calibration as in the single-process fit::

    from weaklabel.multilabel import dask as mdask

    votes = mdask.apply_multilabel_lfs(lfs, ddf, classes).persist()
    model = mdask.fit_multilabel_model(MultiLabelModel(), votes, Y_dev, M_dev)
    mdask.predict_proba(model, votes).to_parquet("probs/")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weaklabel.dask import _check_picklable, _compute, _statistics_graph
from weaklabel.dask import apply_lfs as _apply_lfs
from weaklabel.multilabel.label_model import MultiLabelModel
from weaklabel.multilabel.lf import expand, target_label
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

__all__ = ["MultiLabelVotes", "apply_multilabel_lfs", "fit_multilabel_model", "predict_proba"]


@dataclass
class MultiLabelVotes:
    """Lazy per-label votes: one ``int8`` column per (source, label), the data's index."""

    votes: dd.DataFrame
    targets: list[str]
    classes: list[str]

    def persist(self) -> MultiLabelVotes:
        """Compute the votes once and keep them on the workers (the LFs then run once)."""
        return MultiLabelVotes(self.votes.persist(), self.targets, self.classes)

    def compute(self) -> MultiLabelMatrix:
        """All votes in one in-memory ``MultiLabelMatrix``."""
        frame = self.votes.compute()
        return MultiLabelMatrix(frame.to_numpy(), list(frame.columns), targets=self.targets,
                                classes=self.classes, index=frame.index)


def apply_multilabel_lfs(
    lfs: Iterable[Any], ddf: dd.DataFrame, classes: Sequence[str], **options: Any
) -> MultiLabelVotes:
    """Per-label votes of ``lfs`` on every row of ``ddf`` (lazy). ``options`` are those of
    ``weaklabel.dask.apply_lfs`` (``on_error``, ``batch_size``)."""
    classes = list(classes)
    expanded = expand(lfs, classes)
    votes = _apply_lfs(expanded, ddf, class_names=list(VOTE_NAMES), **options)
    return MultiLabelVotes(votes, [target_label(lf) for lf in expanded], classes)  # type: ignore[misc]


def fit_multilabel_model(
    model: MultiLabelModel,
    votes: MultiLabelVotes,
    Y_dev: Any = None,
    M_dev: MultiLabelMatrix | None = None,
    *,
    client: Client | None = None,
    scheduler_address: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> MultiLabelModel:
    """Fit ``model`` from per-partition statistics merged in a tree; returns it. Gold dev
    labels need their own votes (``Y_dev`` with ``M_dev``, in memory). The client options
    are those of ``weaklabel.dask.connect``."""
    if not isinstance(model, MultiLabelModel):
        raise TypeError(f"fit_multilabel_model fits a MultiLabelModel, got {type(model).__name__}")
    template = model.new_statistics([str(c) for c in votes.votes.columns], votes.targets, votes.classes)
    stats = _compute(_statistics_graph(template, votes.votes), client, scheduler_address, n_workers, threads_per_worker)
    return model.fit_statistics(stats, Y_dev, M_dev)


def _partition_proba(part: pd.DataFrame, model: Any, targets: list[str], classes: list[str]) -> pd.DataFrame:
    M = MultiLabelMatrix(part.to_numpy(), list(part.columns), targets=targets, classes=classes, index=part.index)
    probs = np.asarray(model.predict_proba(M))
    return pd.DataFrame(probs, columns=[f"prob_{c}" for c in classes], index=part.index)


def predict_proba(model: Any, votes: MultiLabelVotes) -> dd.DataFrame:
    """Lazy Dask DataFrame of ``prob_<label>`` per label, indexed by the votes' index;
    row-wise, so each partition's are those of ``model.predict_proba`` on the whole matrix."""
    _check_picklable([("the label model", model)])
    meta = pd.DataFrame({f"prob_{c}": pd.Series(dtype=float) for c in votes.classes}, index=votes.votes._meta.index)
    return votes.votes.map_partitions(_partition_proba, model, votes.targets, votes.classes, meta=meta)
