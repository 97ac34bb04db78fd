"""Weak labels plus the gold rows a user already has, in one training set for a student.

A few hundred gold rows can beat a whole weak-supervision pipeline when the weak labels are
poor, and are worth little next to thousands of good weak labels when they are not. Giving
the gold rows a fixed *share* of the training weight (not a fixed weight per row) keeps both
cases sane: the student never trains on gold rows drowned by weak ones, nor on weak labels
drowned by a handful of gold rows. The share is a default chosen by the
leave-one-dataset-out protocol (``benchmarks/students.py``), not tuned per data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from weaklabel.students.base import check_targets, check_texts

__all__ = ["LABELED_SHARE", "TrainingRows", "with_labeled_rows"]

LABELED_SHARE = 0.5
"""Share of the total training weight the gold rows carry by default."""


class TrainingRows(NamedTuple):
    """What ``with_labeled_rows`` returns: the arguments of ``student.fit``."""

    texts: list[str]
    probs: np.ndarray
    sample_weight: np.ndarray
    labeled_mask: np.ndarray


def with_labeled_rows(
    texts: Sequence[str],
    probs: Any,
    labeled_texts: Sequence[str],
    labeled_y: Any,
    *,
    labeled_mask: Any = None,
    share: float = LABELED_SHARE,
) -> TrainingRows:
    """Append gold rows (one-hot targets) to weakly labeled rows, weighted to ``share``.

    Parameters
    ----------
    texts, probs
        The weakly labeled rows and their n x k probabilistic labels.
    labeled_texts, labeled_y
        Gold rows: texts and class indices (``-1`` = unknown, dropped).
    labeled_mask
        ``True`` where a weak row got at least one vote (the others are not counted in the
        weight the gold rows are balanced against, and students leave them out).
    share
        Share of the total weight the gold rows get, in (0, 1). Each gold row weighs at
        least as much as a weak row.

    Returns
    -------
    TrainingRows
        ``texts``, ``probs``, ``sample_weight`` and ``labeled_mask`` to pass to ``fit``.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    weak_texts = check_texts(texts)
    weak_probs, _ = check_targets(probs, len(weak_texts))
    k = weak_probs.shape[1]
    gold_texts = check_texts(labeled_texts, "labeled_texts")
    gold = np.asarray(labeled_y)
    if gold.shape != (len(gold_texts),):
        raise ValueError(f"labeled_y has shape {gold.shape}, expected ({len(gold_texts)},)")
    gold_probs, known = check_targets(gold, len(gold_texts), n_classes=k, name="labeled_y")
    mask = (
        np.ones(len(weak_texts), dtype=bool)
        if labeled_mask is None
        else np.asarray(labeled_mask, dtype=bool)
    )
    if mask.shape != (len(weak_texts),):
        raise ValueError(f"labeled_mask has shape {mask.shape}, expected ({len(weak_texts)},)")
    n_gold, n_weak = int(known.sum()), int(mask.sum())
    if n_gold == 0:
        raise ValueError("labeled_y has no known label (all -1)")
    per_row = max(1.0, share / (1 - share) * n_weak / n_gold)
    kept = np.flatnonzero(known)
    return TrainingRows(
        texts=weak_texts + [gold_texts[i] for i in kept],
        probs=np.vstack([weak_probs, gold_probs[kept]]),
        sample_weight=np.concatenate([np.ones(len(weak_texts)), np.full(n_gold, per_row)]),
        labeled_mask=np.concatenate([mask, np.ones(n_gold, dtype=bool)]),
    )
