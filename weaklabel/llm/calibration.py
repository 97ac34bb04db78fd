"""Choose the score threshold of a two-way label-word scorer on labeled dev rows.

A small model's raw preference between two answer words is biased (SmolLM2 prefers
"spam" for almost every comment), but the *difference* of the two words' log-probabilities
still ranks rows. Calibration picks the threshold on that difference that maximises a
metric on labeled dev rows; the labeler votes the first class above it and the second
below. One vectorised pass over the sorted scores evaluates every threshold.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from weaklabel.lf import ABSTAIN

__all__ = ["best_threshold"]

Metric = Literal["f1", "accuracy"]


def best_threshold(
    scores: np.ndarray,
    y: np.ndarray,
    above: int,
    below: int,
    metric: Metric = "f1",
) -> tuple[float, float]:
    """The threshold maximising ``metric`` when rows scoring above it vote ``above``.

    Parameters
    ----------
    scores
        One score per dev row; NaN rows are ignored.
    y
        Gold class per dev row (``-1`` rows are ignored).
    above, below
        The votes on either side of the threshold; ``below`` may be ABSTAIN (an aspect
        prompt), in which case only ``above`` is scored.
    metric
        ``"f1"``: the mean F1 of the voted classes (macro-F1; abstaining counts as not
        voting that class). ``"accuracy"``: share of rows voted right (needs two classes).

    Returns
    -------
    (threshold, metric value on the dev rows)
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    if scores.shape != y.shape:
        raise ValueError(f"calibration: {len(scores)} scores but {len(y)} labels")
    keep = np.isfinite(scores) & (y >= 0)
    if not keep.any():
        raise ValueError("calibration: no dev row has both a score and a gold label")
    if metric == "accuracy" and below == ABSTAIN:
        raise ValueError("calibration metric 'accuracy' needs two classes; use metric='f1' for aspect prompts")
    if metric not in ("f1", "accuracy"):
        raise ValueError(f"calibration metric must be 'f1' or 'accuracy', got {metric!r}")
    s, gold = scores[keep], y[keep]
    order = np.argsort(-s, kind="stable")
    s, gold = s[order], gold[order]
    n = len(s)
    # Voting `above` for the top j rows, j = 0..n.
    is_above = np.concatenate([[0], np.cumsum(gold == above)])
    is_below = np.concatenate([[0], np.cumsum(gold == below)]) if below != ABSTAIN else None
    j = np.arange(n + 1)
    tp_above = is_above
    f1_above = 2 * tp_above / np.maximum(j + is_above[-1], 1)
    if metric == "accuracy":
        values = (tp_above + (is_below[-1] - is_below)) / n
    elif is_below is None:
        values = f1_above
    else:
        tp_below = is_below[-1] - is_below
        f1_below = 2 * tp_below / np.maximum((n - j) + is_below[-1], 1)
        values = (f1_above + f1_below) / 2
    # A threshold can only fall between two different scores (or outside all of them).
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[:-1] > s[1:]
    values = np.where(valid, values, -np.inf)
    best = int(np.argmax(values))
    if best == 0:
        threshold = s[0] + 1.0
    elif best == n:
        threshold = s[-1] - 1.0
    else:
        threshold = (s[best - 1] + s[best]) / 2
    return float(threshold), float(values[best])
