"""One pass over the rows, everything the label models need afterwards.

``VoteStatistics`` is updated chunk by chunk (a matrix in memory, or an iterator of chunks of
a matrix that does not fit) and keeps:

- ``n_rows``;
- the distinct vote patterns with their counts, while there are at most ``max_patterns`` of
  them (real label matrices repeat a few thousand patterns; EM over patterns is exact);
- a seeded uniform sample of at most ``sample_rows`` rows (all rows when there are fewer).

The agreement statistics are then computed once, from the patterns when they were kept
(exact) or else from the sample: the (m·k) x (m·k) co-vote counts ``gram`` of the one-hot
votes that the matrix-completion fit needs, and ``decisive[j, a + 1, c]``, the outcome counts
of source ``j`` on the rows that majority vote labels ``c`` with a strict margin (what the
tie-breaking naive Bayes learns from). A few hundred thousand rows pin these down to a
fraction of a percentage point; more rows only cost time (the co-vote counts are an
O(rows x (m·k)^2) product). After the pass nothing depends on the number of rows.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from threadpoolctl import threadpool_limits

from weaklabel.label_models._posterior import onehot
from weaklabel.label_models.base import iter_row_chunks

__all__ = ["SampleMoments", "VoteStatistics", "full_pair_counts", "unique_rows"]

_HASH_SEED = 20240601
"""Fixed: the row hash must not depend on the user's random_state."""
_DIAGNOSTIC_ROWS = 20_000
_PROJECTION_ROWS = 50_000
"""Rows seen before the share of distinct patterns is trusted for extrapolation."""


def _row_keys(rows: np.ndarray, cardinality: int) -> tuple[np.ndarray, bool]:
    """One uint64 key per row; ``exact`` is True when keys are an exact base-(k+1) encoding."""
    m = rows.shape[1]
    base = cardinality + 1
    exact = m * np.log2(base) < 63
    if exact:
        weights = base ** np.arange(m, dtype=np.uint64)
    else:
        weights = np.random.default_rng(_HASH_SEED).integers(1, 2**63, size=m, dtype=np.uint64) | 1
    with np.errstate(over="ignore"):
        keys = (rows.astype(np.int64) + 1).astype(np.uint64) @ weights
    return keys, exact


def unique_rows(
    rows: np.ndarray, counts: np.ndarray, cardinality: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``rows`` with summed ``counts``, sorted by key (order-independent).

    Rows are grouped by a 64-bit key; when the key is a hash rather than an exact encoding,
    every row is compared with its group's representative and an exact (slower) grouping is
    used should two different rows ever share a key.
    """
    keys, exact = _row_keys(rows, cardinality)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    reps = rows[first]
    if not exact and not np.array_equal(reps[inverse], rows):
        reps, inverse = np.unique(rows, axis=0, return_inverse=True)
        inverse = inverse.ravel()
    summed = np.bincount(inverse, weights=counts, minlength=len(reps))
    return reps, summed


def full_pair_counts(gram: np.ndarray, outcome_counts: np.ndarray, n_rows: float) -> np.ndarray:
    """Joint outcome counts of every source pair, abstain included: (m, k+1, m, k+1).

    Recovered from the co-vote counts and the per-source counts (the abstain cells are what
    the vote cells leave over), so the one-hot Gram matrix never needs an abstain column.
    """
    m, slots = outcome_counts.shape
    k = slots - 1
    joint = np.zeros((m, slots, m, slots))
    votes = gram.reshape(m, k, m, k)
    joint[:, 1:, :, 1:] = votes
    # source j abstains, source l votes b: all of l's b-votes minus those where j voted
    joint[:, 0, :, 1:] = outcome_counts[None, :, 1:] - votes.sum(axis=1)
    joint[:, 1:, :, 0] = outcome_counts[:, 1:, None] - votes.sum(axis=3)
    joint[:, 0, :, 0] = (
        n_rows - joint[:, 1:, :, :].sum(axis=(1, 3)) - joint[:, 0, :, 1:].sum(axis=2)
    )
    return joint


class SampleMoments:
    """Agreement statistics of a (weighted) set of rows: all rows, the patterns or a sample."""

    def __init__(self, rows: np.ndarray, weights: np.ndarray, cardinality: int) -> None:
        m, k = rows.shape[1], cardinality
        self.n_rows = float(weights.sum())
        self.gram = np.zeros((m * k, m * k))
        self.decisive = np.zeros((m, k + 1, k))
        class_sum = np.tile(np.eye(k, dtype=np.float32), (m, 1))
        start = 0
        # one BLAS thread: the products are small per chunk, and threaded BLAS stalls on busy machines
        with threadpool_limits(limits=1, user_api="blas"):
            for chunk in iter_row_chunks(rows):
                w = weights[start : start + len(chunk)].astype(np.float32)[:, None]
                start += len(chunk)
                x = onehot(chunk, k)
                unit = bool(np.all(w == 1))
                self.gram += x.T @ (x if unit else x * w)  # float32: exact below 2**24 per chunk
                self._add_decisive(x, x @ class_sum, None if unit else w)
        voted = np.diagonal(self.gram).reshape(m, k)
        self.outcome_counts = np.column_stack([self.n_rows - voted.sum(axis=1), voted])

    def _add_decisive(self, x: np.ndarray, counts: np.ndarray, w: np.ndarray | None) -> None:
        m, _, k = self.decisive.shape
        ordered = np.sort(counts, axis=1)
        rows = np.flatnonzero(ordered[:, -1] > ordered[:, -2])
        label = np.zeros((len(counts), k), dtype=np.float32)  # one-hot, zero where not decisive
        label[rows, np.argmax(counts[rows], axis=1)] = 1
        if w is not None:
            label *= w
        by_vote = (x.T @ label).astype(np.float64).reshape(m, k, k)
        self.decisive[:, 1:, :] += by_vote
        self.decisive[:, 0, :] += label.sum(axis=0)[None, :] - by_vote.sum(axis=1)

    def pair_counts(self) -> np.ndarray:
        """Joint outcome counts of every source pair: (m, k+1, m, k+1)."""
        return full_pair_counts(self.gram, self.outcome_counts, self.n_rows)


class VoteStatistics:
    """Sufficient statistics of a vote matrix, accumulated over row chunks.

    Parameters
    ----------
    n_sources, cardinality
        Shape of the votes.
    max_patterns
        Keep the distinct vote patterns while there are at most this many (None: never).
    sample_rows
        Size of the seeded uniform row sample (None: keep every row).
    random_state
        Seed of that sample.
    expected_rows
        The number of rows that will be added, when known: patterns are dropped early when
        the distinct share seen so far, extrapolated to that many rows, exceeds
        ``max_patterns`` (saves hashing rows that will not compress).
    """

    def __init__(
        self,
        n_sources: int,
        cardinality: int,
        *,
        max_patterns: int | None = 100_000,
        sample_rows: int | None = 100_000,
        random_state: int | None = None,
        expected_rows: int | None = None,
    ) -> None:
        m, k = n_sources, cardinality
        self.n_sources, self.cardinality = m, k
        self.n_rows = 0
        self.max_patterns = max_patterns
        self.expected_rows = expected_rows
        self._patterns: tuple[np.ndarray, np.ndarray] | None = (
            (np.empty((0, m), dtype=np.int16), np.empty(0)) if max_patterns else None
        )
        self.sample_rows = sample_rows
        self._rng = np.random.default_rng(random_state)
        self._sample: list[np.ndarray] = []
        self._sample_keys: list[np.ndarray] = []

    # ------------------------------------------------------------------ accumulation
    def update(self, votes: np.ndarray) -> VoteStatistics:
        """Add validated votes (n_chunk x n_sources, values in [-1, k-1])."""
        self.__dict__.pop("moments", None)
        for chunk in iter_row_chunks(np.asarray(votes)):
            compact = chunk.astype(np.int16, copy=False)
            self.n_rows += len(compact)
            self._update_patterns(compact)
            self._update_sample(compact)
        return self

    def _update_patterns(self, chunk: np.ndarray) -> None:
        if self._patterns is None:
            return
        rows, counts = unique_rows(chunk, np.ones(len(chunk)), self.cardinality)
        old_rows, old_counts = self._patterns
        if len(old_rows):
            rows, counts = unique_rows(
                np.concatenate([old_rows, rows]),
                np.concatenate([old_counts, counts]),
                self.cardinality,
            )
        projected = len(rows) / self.n_rows * (self.expected_rows or 0)
        hopeless = self.n_rows >= _PROJECTION_ROWS and projected > self.max_patterns
        self._patterns = None if len(rows) > self.max_patterns or hopeless else (rows, counts)

    def _update_sample(self, chunk: np.ndarray) -> None:
        """Keep the rows with the smallest random keys: a uniform sample of every row seen."""
        self._sample.append(chunk.astype(np.int8 if self.cardinality <= 127 else np.int16))
        self._sample_keys.append(self._rng.random(len(chunk)))
        if self.sample_rows is None:
            return
        kept = sum(len(keys) for keys in self._sample_keys)
        if kept > 2 * self.sample_rows or (kept > self.sample_rows and len(self._sample) > 64):
            keys, rows = np.concatenate(self._sample_keys), np.concatenate(self._sample)
            keep = np.sort(np.argpartition(keys, self.sample_rows)[: self.sample_rows])
            self._sample_keys, self._sample = [keys[keep]], [rows[keep]]

    # ------------------------------------------------------------------ results
    @property
    def patterns(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(distinct rows, counts), or None when there were more than ``max_patterns``."""
        return self._patterns

    def _reservoir(self) -> tuple[np.ndarray, np.ndarray]:
        keys, rows = np.concatenate(self._sample_keys), np.concatenate(self._sample)
        if self.sample_rows is not None and len(keys) > self.sample_rows:
            keep = np.sort(np.argpartition(keys, self.sample_rows)[: self.sample_rows])
            keys, rows = keys[keep], rows[keep]
        self._sample_keys, self._sample = [keys], [rows]
        return keys, rows

    def sample(self) -> np.ndarray:
        """The uniform row sample (every row when there are at most ``sample_rows``)."""
        return self._reservoir()[1]

    @property
    def exact(self) -> bool:
        """Whether the agreement statistics cover every row (patterns kept, or no sampling)."""
        return self._patterns is not None or len(self.sample()) == self.n_rows

    @cached_property
    def moments(self) -> SampleMoments:
        """Agreement statistics: from the patterns when kept, else from the row sample."""
        if self._patterns is not None:
            return SampleMoments(*self._patterns, self.cardinality)
        rows = self.sample()
        return SampleMoments(rows, np.ones(len(rows)), self.cardinality)

    def rows_for_diagnostics(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct patterns with counts when kept, else up to 20k sampled rows (count 1)."""
        if self._patterns is not None:
            return self._patterns
        keys, rows = self._reservoir()
        if len(rows) > _DIAGNOSTIC_ROWS:
            rows = rows[np.sort(np.argpartition(keys, _DIAGNOSTIC_ROWS)[:_DIAGNOSTIC_ROWS])]
        return rows, np.ones(len(rows))
