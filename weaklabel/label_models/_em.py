"""Expectation-maximisation for conditionally independent sources (Dawid & Skene, 1979).

Each source ``j`` has a table ``cond[j, a + 1, y] = P(source j votes a | true class y)`` with
abstaining as outcome ``a = -1`` (index 0), so how often a source stays silent on each class
is evidence too — the only evidence a source that votes one class (most keyword LFs) gives.
EM runs over the distinct vote patterns weighted by their counts, which is exact and, on real
label matrices, thousands of times fewer rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from weaklabel.label_models._posterior import log_joint, softmax_rows

__all__ = ["EPS", "EMResult", "conditional_from_counts", "expected_counts", "log_tables", "run_em"]

EPS = 1e-12
"""Floor of every probability before its log: a zero count must not give -inf."""


@dataclass
class EMResult:
    cond: np.ndarray
    class_balance: np.ndarray
    n_iter: int
    loss_history: list[float] = field(default_factory=list)
    """Negative log-likelihood per row after each iteration (non-increasing up to smoothing)."""


def conditional_from_counts(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Normalise (m, k+1, k) outcome counts per (source, class) with additive smoothing.

    ``smoothing`` pseudo-counts are spread evenly over the k+1 outcomes of each (source,
    class): a source seen on few rows stays close to uninformative instead of certain.
    """
    slots = counts.shape[1]
    smoothed = counts + smoothing / slots
    return smoothed / np.maximum(smoothed.sum(axis=1, keepdims=True), EPS)


def expected_counts(rows: np.ndarray, weighted_q: np.ndarray) -> np.ndarray:
    """(m, k+1, k) counts: [j, a + 1, y] = sum of ``weighted_q[i, y]`` over rows ``i`` where
    source ``j`` votes ``a`` (one bincount per class, no loop over rows)."""
    m = rows.shape[1]
    k = weighted_q.shape[1]
    slots = k + 1
    flat = (rows.astype(np.int64) + 1 + (np.arange(m, dtype=np.int64) * slots)[None, :]).ravel()
    out = np.empty((m * slots, k))
    for y in range(k):
        out[:, y] = np.bincount(flat, weights=np.repeat(weighted_q[:, y], m), minlength=m * slots)
    return out.reshape(m, slots, k)


def run_em(
    rows: np.ndarray,
    counts: np.ndarray,
    init_cond: np.ndarray,
    init_balance: np.ndarray,
    *,
    fixed_balance: bool = False,
    weights: np.ndarray | None = None,
    smoothing: float = 1.0,
    model_abstain: bool = True,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> EMResult:
    """EM from given parameters over ``rows`` (distinct patterns) weighted by ``counts``.

    ``model_abstain=False`` ignores silent sources: each table is then over the k votes only,
    conditioned on voting. ``weights`` down-weight duplicated sources in the E-step.
    """
    k = init_cond.shape[2]
    cond, balance = init_cond.copy(), init_balance.copy()
    total = counts.sum()
    history: list[float] = []
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        log_cond = log_tables(cond, model_abstain)
        scores = log_joint(rows, log_cond, np.log(np.maximum(balance, EPS)), weights)
        top = scores.max(axis=1, keepdims=True)
        loglik = (top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))) @ counts
        history.append(float(-loglik / total))
        q = softmax_rows(scores) * counts[:, None]
        expected = expected_counts(rows, q)
        if not model_abstain:
            expected[:, 0, :] = 0.0
        cond = conditional_from_counts(expected, smoothing)
        if not fixed_balance:
            balance = (q.sum(axis=0) + 1.0) / (total + k)
        if len(history) > 1 and abs(history[-2] - history[-1]) < tol:
            break
    return EMResult(cond=cond, class_balance=balance, n_iter=n_iter, loss_history=history)


def log_tables(cond: np.ndarray, model_abstain: bool) -> np.ndarray:
    log_cond = np.log(np.maximum(cond, EPS))
    if not model_abstain:
        # P(vote a | y, voted): renormalise over the k votes; a silent source adds nothing
        votes = cond[:, 1:, :]
        log_cond[:, 1:, :] = np.log(
            np.maximum(votes / np.maximum(votes.sum(axis=1, keepdims=True), EPS), EPS)
        )
        log_cond[:, 0, :] = 0.0
    return log_cond
