"""Vectorised row scoring shared by the models: vote counts and naive-Bayes log-posteriors.

Both are sums of one table lookup per source (``table[j, vote_j]``). Sources are taken in
groups whose joint outcomes index a small precomputed table, so a row costs one gather of k
numbers per group (not per source) and a few MB of temporaries — no one-hot matrix.
"""

from __future__ import annotations

from typing import Literal, overload

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


_MAX_GROUP_TABLE = 4096  # rows of a combined lookup table: stays in the CPU cache


def _grouped_tables(table: np.ndarray) -> tuple[int, list[np.ndarray]]:
    """Sources taken g at a time, each group's table summed over its joint outcomes.

    One lookup in a group table replaces g lookups and g-1 additions of k-wide rows; the
    index is the group's outcomes as digits in base k+1, cheap integer arithmetic.
    """
    m, slots, d = table.shape
    size = max(1, int(np.log(_MAX_GROUP_TABLE) // np.log(slots)))
    groups = []
    for first in range(0, m, size):
        combined = table[first]
        for j in range(first + 1, min(first + size, m)):
            combined = (combined[:, None, :] + table[j][None, :, :]).reshape(-1, d)
        groups.append(combined)
    return size, groups


def _lookup_sum(votes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """out[i] = sum_j table[j, votes[i, j] + 1]: one ``take`` per group of sources and chunk."""
    m, slots, d = table.shape
    size, groups = _grouped_tables(table)
    out = np.empty((votes.shape[0], d))
    start = 0
    for chunk in iter_row_chunks(votes):
        # source-major (each row contiguous), int16: group indices stay below _MAX_GROUP_TABLE
        codes = chunk.T.astype(np.int16) + np.int16(1)
        block = None
        for g, combined in enumerate(groups):
            index = codes[g * size].copy()
            for j in range(g * size + 1, min(g * size + size, m)):
                index *= np.int16(slots)
                index += codes[j]
            part = np.take(combined, index, axis=0)
            if block is None:
                block = part
            else:
                block += part
        out[start : start + len(chunk)] = block if block is not None else 0.0
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


@overload
def log_joint(
    votes: np.ndarray, log_cond: np.ndarray, log_prior: np.ndarray, weights: np.ndarray | None = None,
    *, with_counts: Literal[False] = False,
) -> np.ndarray: ...


@overload
def log_joint(
    votes: np.ndarray, log_cond: np.ndarray, log_prior: np.ndarray, weights: np.ndarray | None = None,
    *, with_counts: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


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
