"""Vectorised row scoring shared by the models: vote counts and naive-Bayes log-posteriors.

Both are sums of one table lookup per source (``table[j, vote_j]``): per row chunk, one
``numpy.take`` per source on the transposed chunk, so a million-row matrix costs m gathers
of k numbers per row and a few MB of temporaries — no one-hot matrix.
"""

from __future__ import annotations

import numpy as np

from weaklabel.label_models.base import iter_row_chunks

__all__ = ["log_joint", "onehot", "posterior", "softmax_rows", "vote_counts"]


def onehot(chunk: np.ndarray, cardinality: int, dtype: type = np.float32) -> np.ndarray:
    """(rows, m·k) indicator of each source's vote; an abstain is an all-zero block."""
    compact = chunk.astype(np.int16, copy=False)
    n, m = compact.shape
    return (
        (compact[:, :, None] == np.arange(cardinality, dtype=np.int16))
        .reshape(n, m * cardinality)
        .astype(dtype)
    )


def _lookup_sum(votes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """out[i] = sum_j table[j, votes[i, j] + 1]: one small ``take`` per source and chunk."""
    m, _, d = table.shape
    out = np.empty((votes.shape[0], d))
    start = 0
    for chunk in iter_row_chunks(votes):
        codes = chunk.T.astype(np.intp) + 1  # source-major: each take reads one contiguous row
        block = np.take(table[0], codes[0], axis=0)
        for j in range(1, m):
            block += np.take(table[j], codes[j], axis=0)
        out[start : start + len(chunk)] = block
        start += len(chunk)
    return out


def _count_table(n_sources: int, cardinality: int, weights: np.ndarray | None) -> np.ndarray:
    w = np.ones(n_sources) if weights is None else np.asarray(weights, dtype=float)
    table = np.zeros((n_sources, cardinality + 1, cardinality))
    table[:, 1:, :] = w[:, None, None] * np.eye(cardinality)[None]
    return table


def vote_counts(
    votes: np.ndarray, cardinality: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """counts[i, c] = (weighted) number of sources voting class ``c`` on row ``i``."""
    return _lookup_sum(votes, _count_table(votes.shape[1], cardinality, weights))


def log_joint(
    votes: np.ndarray,
    log_cond: np.ndarray,
    log_prior: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    with_counts: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """log P(y) + sum_j w_j log P(vote_j | y) per row and class, shape (n, k).

    ``log_cond[j, a + 1, y]`` is the log probability that source ``j`` votes ``a`` (``a = -1``:
    abstains) when the true class is ``y``. ``weights`` (default 1) shrink the contribution
    of sources that duplicate others, so a group of copies counts once. ``with_counts`` also
    returns the unweighted vote counts, from the same pass over the votes.
    """
    m, _, k = log_cond.shape
    table = (
        log_cond if weights is None else log_cond * np.asarray(weights, dtype=float)[:, None, None]
    )
    if not with_counts:
        return _lookup_sum(votes, table) + log_prior
    both = _lookup_sum(votes, np.concatenate([table, _count_table(m, k, None)], axis=2))
    return both[:, :k] + log_prior, both[:, k:]


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for very negative log scores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def posterior(
    votes: np.ndarray,
    log_cond: np.ndarray,
    log_prior: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """P(y | votes) under conditionally independent sources."""
    return softmax_rows(log_joint(votes, log_cond, log_prior, weights))
