"""From label-word log-probabilities to votes: thresholds, per-class offsets, bias correction.

A small model's raw preference among answer words is biased (SmolLM2 prefers "spam" for
almost every comment, and one of six question types for every question), but the
*differences* between the words' log-probabilities still rank rows. A ``VoteRule``
turns a row's per-class scores into a vote:

- **two votes** (two classes, or a class and ABSTAIN for an aspect prompt): the first vote
  where its score minus the second's exceeds a threshold. ``best_threshold`` picks
  the threshold that maximises a metric on labeled dev rows (one vectorised pass over the
  sorted scores).
- **k votes**: the argmax of the scores plus one offset per class. ``fit_offsets``
  fits the offsets on labeled dev rows by maximum likelihood (a multinomial logit with
  only intercepts: convex, so the fit is unique), lightly shrunk towards zero.

Without labeled rows, per-class **bias correction** keeps a biased model from voting one
class on every row:

- ``"content_free"`` (contextual calibration, Zhao et al. 2021): score the prompt on
  inputs that carry no content (``""``, ``"N/A"``, ``"[MASK]"``) and divide each class's
  probability by its content-free probability;
- ``"batch"`` (batch calibration, Zhou et al. 2024): divide each class's probability by
  its mean over the rows being labeled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from weaklabel.lf import ABSTAIN

__all__ = [
    "CONTENT_FREE_INPUTS",
    "Metric",
    "VoteRule",
    "batch_offsets",
    "best_threshold",
    "content_free_offsets",
    "fit_offsets",
    "macro_f1",
]

Metric = Literal["f1", "accuracy"]
CONTENT_FREE_INPUTS = ("", "N/A", "[MASK]")
_SHRINK = 1e-2  # L2 pull of the fitted offsets towards 0, per dev row: keeps rare classes finite


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
    values = _threshold_values(gold, above, below, metric)
    n = len(s)
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


def _threshold_values(gold: np.ndarray, above: int, below: int, metric: Metric) -> np.ndarray:
    """The metric when the top ``j`` rows (sorted by score) vote ``above``, for j = 0..n."""
    n = len(gold)
    is_above = np.concatenate([[0], np.cumsum(gold == above)])
    j = np.arange(n + 1)
    f1_above = 2 * is_above / np.maximum(j + is_above[-1], 1)
    if below == ABSTAIN:
        return f1_above
    is_below = np.concatenate([[0], np.cumsum(gold == below)])
    tp_below = is_below[-1] - is_below
    if metric == "accuracy":
        return (is_above + tp_below) / n
    f1_below = 2 * tp_below / np.maximum((n - j) + is_below[-1], 1)
    return (f1_above + f1_below) / 2


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    shifted = scores - top
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def fit_offsets(scores: np.ndarray, gold: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:
    """Per-class offsets ``b`` maximising the likelihood of ``gold`` under softmax(scores + b).

    ``scores`` is ``(rows, k)`` (finite), ``gold`` the column index of each row's class.
    ``fixed`` marks columns whose offset stays 0 (an ABSTAIN answer group). Damped Newton
    steps on the concave log-likelihood with a small ridge (so a class absent from the
    dev rows gets a finite offset); converges in a few iterations.
    """
    n, k = scores.shape
    free = np.ones(k, dtype=bool) if fixed is None else ~fixed
    counts = np.bincount(gold, minlength=k).astype(np.float64)
    ridge = _SHRINK * n

    def objective(b: np.ndarray) -> float:
        logp = _log_softmax(scores + b)
        return float(logp[np.arange(n), gold].sum() - ridge / 2 * b @ b)

    b = np.zeros(k)
    value = objective(b)
    for _ in range(100):
        p = np.exp(_log_softmax(scores + b))
        grad = counts - p.sum(axis=0) - ridge * b
        hess = -(np.diag(p.sum(axis=0)) - p.T @ p) - ridge * np.eye(k)
        step = np.zeros(k)
        step[free] = np.linalg.solve(hess[np.ix_(free, free)], -grad[free])
        size = 1.0
        while objective(b + size * step) < value - 1e-12 and size > 1e-6:
            size /= 2
        b = b + size * step
        new_value = objective(b)
        converged = new_value - value < 1e-10 * max(1.0, abs(value))
        value = new_value
        if converged:
            break
    return b - (b[free].mean() if free.all() else 0.0)


def content_free_offsets(content_free_scores: np.ndarray) -> np.ndarray:
    """Offsets ``-log p_cf``: the class probabilities the prompt gives when the row says nothing,
    averaged over the content-free inputs (contextual calibration)."""
    probs = np.exp(_log_softmax(np.asarray(content_free_scores, dtype=np.float64))).mean(axis=0)
    return -np.log(np.maximum(probs, 1e-12))


def batch_offsets(scores: np.ndarray) -> np.ndarray:
    """Offsets ``-log mean_x p(class | x)`` over the rows being labeled (batch calibration)."""
    probs = np.exp(_log_softmax(np.asarray(scores, dtype=np.float64))).mean(axis=0)
    return -np.log(np.maximum(probs, 1e-12))


def macro_f1(pred: np.ndarray, gold: np.ndarray, classes: np.ndarray) -> float:
    """Mean F1 over ``classes`` (abstaining counts as not voting a class)."""
    scores = []
    for c in classes:
        tp = np.sum((pred == c) & (gold == c))
        denom = np.sum(pred == c) + np.sum(gold == c)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores)) if scores else 0.0


@dataclass
class VoteRule:
    """Scores per answer group -> votes. ``groups`` holds the vote of each score column.

    Two groups are decided by ``threshold`` on the score difference (first minus second);
    more groups by the argmax of scores plus ``offsets``. ``source`` says where the
    threshold or offsets came from (``"default"``, ``"fixed"``, ``"calibrated"``,
    ``"content_free"``, ``"batch"``).
    """

    groups: list[int]
    threshold: float = 0.0
    offsets: np.ndarray | None = None
    source: str = "default"
    score: float = field(default=float("nan"))

    @property
    def binary(self) -> bool:
        return len(self.groups) == 2

    def margins(self, scores: np.ndarray) -> np.ndarray:
        """The two-group score (first minus second), offsets included."""
        shifted = scores if self.offsets is None else scores + self.offsets
        return shifted[:, 0] - shifted[:, 1]

    def votes(self, scores: np.ndarray) -> np.ndarray:
        """One vote per row of finite ``scores`` (``(rows, groups)``)."""
        groups = np.asarray(self.groups)
        if self.binary:
            above = self.margins(scores) > self.threshold
            return np.where(above, groups[0], groups[1])
        shifted = scores if self.offsets is None else scores + self.offsets
        return groups[np.argmax(shifted, axis=1)]

    def calibrate(self, scores: np.ndarray, y: np.ndarray, metric: Metric) -> VoteRule:
        """A rule fitted on labeled rows (``scores`` finite, ``y`` gold classes)."""
        groups = np.asarray(self.groups)
        if self.binary:
            base = VoteRule(self.groups, offsets=self.offsets)
            threshold, value = best_threshold(base.margins(scores), y, self.groups[0], self.groups[1], metric)
            return VoteRule(self.groups, threshold, self.offsets, "calibrated", value)
        column = {vote: i for i, vote in enumerate(self.groups)}
        known = np.array([int(v) in column for v in y])
        gold = np.array([column[int(v)] for v in y[known]], dtype=np.int64)
        offsets = fit_offsets(scores[known], gold, fixed=groups == ABSTAIN)
        rule = VoteRule(self.groups, offsets=offsets, source="calibrated")
        pred = rule.votes(scores)
        classes = groups[groups != ABSTAIN]
        rule.score = macro_f1(pred, y, classes) if metric == "f1" else float(np.mean(pred == y))
        return rule
