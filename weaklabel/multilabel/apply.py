"""Apply multi-label sources: every per-label vote, in one ``MultiLabelMatrix``.

The sources are expanded into per-label two-class LFs (``expand``)
and run by ``weaklabel.apply.apply_lfs``, so they get its speed (vectorised batches,
processes for row-wise LFs), its checks (every vote named by LF and row) and its error
handling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from weaklabel.apply import OnError, apply_lfs
from weaklabel.multilabel.lf import expand, target_label
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix

__all__ = ["apply_multilabel_lfs"]


def apply_multilabel_lfs(
    lfs: Iterable[Any],
    data: Any,
    classes: Sequence[str],
    *,
    n_jobs: int = 1,
    batch_size: int = 50_000,
    progress: bool = True,
    on_error: OnError = "raise",
) -> MultiLabelMatrix:
    """Apply per-label LFs and label set functions to ``data``.

    Parameters
    ----------
    lfs
        Per-label LFs (``labeling_function(label=...)``, ``keyword_lf``, ``regex_lf``,
        ``for_label(lf, label)``) and ``LabelSetFunction``
        sources.
    data
        A DataFrame (or what ``weaklabel.apply.apply_lfs`` accepts).
    classes
        The task's class names, in order.
    n_jobs, batch_size, progress, on_error
        As for ``weaklabel.apply.apply_lfs`` (a label set function that raises abstains
        on its whole batch under ``on_error="abstain"``).
    """
    classes = list(classes)
    expanded = expand(lfs, classes)
    matrix = apply_lfs(
        expanded,
        data,
        cardinality=2,
        class_names=list(VOTE_NAMES),
        n_jobs=n_jobs,
        batch_size=batch_size,
        progress=progress,
        on_error=on_error,
    )
    return MultiLabelMatrix(
        matrix, targets=[target_label(lf) for lf in expanded], classes=classes  # type: ignore[misc]
    )
