"""Scores shared by label models, students and the pipeline, so all report the same numbers.

Binary tasks report F1 of the positive class (class 1, e.g. SPAM), as the weak-supervision
literature does; multi-class tasks report macro F1. Rows whose gold label is ``-1``
(unknown) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = [
    "METRICS",
    "calibration_curve",
    "confusion_matrix",
    "paired_bootstrap_z",
    "score_predictions",
    "stratified_folds",
]

METRICS = ("accuracy", "f1", "macro_f1", "coverage")


def _f1_per_class(y: np.ndarray, pred: np.ndarray, cardinality: int) -> np.ndarray:
    cm = confusion_matrix(y, pred, cardinality)
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0)
    actual = np.bincount(y[y >= 0], minlength=cardinality)  # predictions of -1 are misses
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(predicted + actual > 0, 2 * tp / np.maximum(predicted + actual, 1), 0.0)


def confusion_matrix(y: Any, pred: Any, cardinality: int) -> np.ndarray:
    """cm[i, j] = rows of gold class i predicted as j (rows with y or pred = -1 left out)."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    keep = (y >= 0) & (pred >= 0)
    flat = y[keep] * cardinality + pred[keep]
    return np.bincount(flat, minlength=cardinality * cardinality).reshape(cardinality, cardinality)


def score_predictions(
    y: Any,
    pred: Any,
    metrics: Sequence[str] = ("accuracy", "f1"),
    *,
    cardinality: int | None = None,
    abstains: Literal["wrong", "exclude"] = "wrong",
) -> dict[str, float]:
    """Score predicted classes against gold.

    ``pred`` may hold ``-1`` (no prediction): it is what ``coverage`` measures, and it counts
    as wrong for accuracy and F1 (``abstains="wrong"``) or is left out of them
    (``"exclude"``, as Snorkel's scorer does). ``f1`` is positive-class F1 when binary,
    macro F1 otherwise.
    """
    if abstains not in ("wrong", "exclude"):
        raise ValueError(f"abstains must be 'wrong' or 'exclude', got {abstains!r}")
    y = np.asarray(y)
    pred = np.asarray(pred)
    if y.shape != pred.shape or y.ndim != 1:
        raise ValueError(f"gold labels {y.shape} and predictions {pred.shape} must be 1-D of equal length")
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS}")
    known = y >= 0
    y, pred = y[known].astype(np.int64), pred[known].astype(np.int64)
    k = cardinality or int(max(y.max(initial=1), pred.max(initial=1))) + 1
    coverage = float(np.mean(pred >= 0)) if len(y) else float("nan")
    if abstains == "exclude":
        y, pred = y[pred >= 0], pred[pred >= 0]
    per_class = _f1_per_class(y, pred, k) if len(y) else np.zeros(k)
    results = {}
    for metric in metrics:
        if metric == "coverage":
            results[metric] = coverage
        elif not len(y):
            results[metric] = float("nan")
        elif metric == "accuracy":
            results[metric] = float(np.mean(y == pred))
        elif metric == "f1":
            results[metric] = float(per_class[1] if k == 2 else per_class.mean())
        elif metric == "macro_f1":
            results[metric] = float(per_class.mean())
    return results


def paired_bootstrap_z(
    y: Any,
    better: Any,
    other: Any,
    metric: str,
    *,
    cardinality: int | None = None,
    n_resamples: int = 200,
    random_state: int | None = None,
) -> float:
    """How many standard deviations ``better``'s score exceeds ``other``'s on the rows of
    ``y``: the mean over paired bootstrap resamples of the rows of the score difference, over
    its standard deviation (the metric's own noise, F1 included). Used to switch away from a
    default only when a few dozen gold rows can tell the difference."""
    y, better, other = np.asarray(y), np.asarray(better), np.asarray(other)
    rng = np.random.default_rng(random_state)
    diffs = np.empty(n_resamples)
    for b in range(n_resamples):
        rows = rng.integers(0, len(y), len(y))
        scores = [
            score_predictions(y[rows], pred[rows], (metric,), cardinality=cardinality)[metric]
            for pred in (better, other)
        ]
        diffs[b] = scores[0] - scores[1]
    spread = diffs.std()
    if spread == 0:
        return float("inf") if diffs.mean() > 0 else 0.0
    return float(diffs.mean() / spread)


def stratified_folds(y: Any, n_folds: int, random_state: int | None = None) -> np.ndarray:
    """Fold (0 .. ``n_folds`` - 1, fewer with fewer rows) of each row of ``y``, each class
    spread evenly over the folds in a seeded order: cross-validation on a few dozen gold
    rows needs every class in every fold."""
    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]
    folds = np.empty(len(y), dtype=np.int64)
    folds[order] = np.arange(len(y)) % min(n_folds, max(len(y), 1))
    return folds


def calibration_curve(y: Any, probs: Any, n_bins: int = 10) -> dict[str, Any]:
    """Reliability of probabilistic labels: confidence of the top class vs its accuracy, per bin.

    Returns ``confidence``, ``accuracy`` and ``count`` per non-empty bin and the expected
    calibration error ``ece``.
    """
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=float)
    known = y >= 0
    y, probs = y[known], probs[known]
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        mean_acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] * np.abs(mean_conf[filled] - mean_acc[filled])) / max(len(y), 1))
    return {
        "confidence": mean_conf[filled],
        "accuracy": mean_acc[filled],
        "count": count[filled],
        "ece": np.float64(ece),
    }
