"""One pass over the rows, everything the label models need afterwards.

``VoteStatistics`` is updated chunk by chunk (a matrix in memory, or an iterator of chunks of
a matrix that does not fit) and keeps:

- ``n_rows``;
- the distinct vote patterns with their counts, while there are at most ``max_patterns`` of
  them (real label matrices repeat a few thousand patterns; EM over patterns is exact);
- a seeded uniform sample of at most ``sample_rows`` rows (all rows when there are fewer).

Statistics of disjoint row blocks ``merge`` into the statistics of their union, equal to
those of one pass over all the rows in any chunking or order: the patterns are kept sorted
and are dropped exactly when the union has more than ``max_patterns`` of them, and the
sample keeps the rows whose random key is smallest, where a row's key is a hash of the seed
and the row's global position (not a draw from a stream, which would depend on the chunks).
That is what lets Dask workers each summarise their partitions (see ``weaklabel.dask``).

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
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _position_keys(seed: np.uint64, positions: np.ndarray) -> np.ndarray:
    """Sampling key of each global row position: splitmix64 of ``position + seed``.

    A bijection of the position for a given seed, so keys never tie; uniform enough that the
    rows with the smallest keys are a uniform sample.
    """
    with np.errstate(over="ignore"):
        z = (positions.astype(np.uint64) + seed) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _row_keys(rows: np.ndarray, cardinality: int) -> tuple[np.ndarray, bool]:
    """One uint64 key per row; ``exact`` is True when keys are an exact base-(k+1) encoding."""
    m = rows.shape[1]
    base = cardinality + 1
    exact = m * np.log2(base) < 63
    weights: np.ndarray
    if exact:
        weights = np.full(m, base, dtype=np.uint64) ** np.arange(m, dtype=np.uint64)
    else:
        weights = np.bitwise_or(np.random.default_rng(_HASH_SEED).integers(1, 2**63, size=m, dtype=np.uint64), 1)
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
        Seed of that sample. Statistics meant to be merged must share it: make them with
        ``copy.deepcopy`` of one empty instance (the seed is drawn once when None).
    """

    def __init__(
        self,
        n_sources: int,
        cardinality: int,
        *,
        max_patterns: int | None = 100_000,
        sample_rows: int | None = 100_000,
        random_state: int | None = None,
    ) -> None:
        m, k = n_sources, cardinality
        self.n_sources, self.cardinality = m, k
        self.n_rows = 0
        self.max_patterns = max_patterns
        self._patterns: tuple[np.ndarray, np.ndarray] | None = (
            (np.empty((0, m), dtype=np.int16), np.empty(0)) if max_patterns else None
        )
        self.sample_rows = sample_rows
        self._seed = np.random.SeedSequence(random_state).generate_state(1, dtype=np.uint64)[0]
        self._sample: list[np.ndarray] = []
        self._sample_keys: list[np.ndarray] = []
        self._sample_sorted = False

    # ------------------------------------------------------------------ accumulation
    def update(self, votes: np.ndarray, *, offset: int | None = None) -> VoteStatistics:
        """Add validated votes (n_chunk x n_sources, values in [-1, k-1]).

        ``offset`` is the global position of the first row (default: right after the rows
        added so far). Statistics built from disjoint blocks with their true offsets merge
        into exactly those of one pass over all rows.
        """
        self.__dict__.pop("moments", None)
        start = self.n_rows if offset is None else int(offset)
        if start < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        for chunk in iter_row_chunks(np.asarray(votes)):
            compact = chunk.astype(np.int16, copy=False)
            self.n_rows += len(compact)
            self._update_patterns(compact)
            self._update_sample(compact, start)
            start += len(compact)
        return self

    def merge(self, other: VoteStatistics) -> VoteStatistics:
        """Add the statistics of other, disjoint rows (in place; returns self).

        Any grouping and order of merges gives the statistics of one pass over all the rows,
        provided each block was added with its global ``offset``.
        """
        mine = (self.n_sources, self.cardinality, self.max_patterns, self.sample_rows, self._seed)
        theirs = (
            other.n_sources,
            other.cardinality,
            other.max_patterns,
            other.sample_rows,
            other._seed,
        )
        if mine != theirs:
            raise ValueError(
                "cannot merge statistics made with different settings (sources, classes, "
                f"max_patterns, sample_rows, seed): {mine[:4]} vs {theirs[:4]}"
                + (" and different seeds" if mine[4] != theirs[4] else "")
                + "; copy one empty instance for every block"
            )
        self.__dict__.pop("moments", None)
        self.n_rows += other.n_rows
        if self._patterns is not None and other._patterns is not None:
            self._add_patterns(*other._patterns)
        else:
            self._patterns = None
        self._sample += other._sample
        self._sample_keys += other._sample_keys
        self._sample_sorted = False
        self._compact_sample()
        return self

    def _update_patterns(self, chunk: np.ndarray) -> None:
        if self._patterns is not None:
            self._add_patterns(*unique_rows(chunk, np.ones(len(chunk)), self.cardinality))

    def _add_patterns(self, rows: np.ndarray, counts: np.ndarray) -> None:
        """Union with the kept patterns (sorted, so the order of arrival does not matter)."""
        assert self._patterns is not None and self.max_patterns  # called only while patterns are kept
        old_rows, old_counts = self._patterns
        if len(old_rows):
            rows, counts = unique_rows(
                np.concatenate([old_rows, rows]),
                np.concatenate([old_counts, counts]),
                self.cardinality,
            )
        self._patterns = None if len(rows) > self.max_patterns else (rows, counts)

    def _update_sample(self, chunk: np.ndarray, start: int) -> None:
        """Keep the rows with the smallest keys: a uniform sample of every row seen."""
        self._sample.append(chunk.astype(np.int8 if self.cardinality <= 127 else np.int16))
        self._sample_sorted = False
        positions = np.arange(start, start + len(chunk), dtype=np.uint64)
        self._sample_keys.append(_position_keys(self._seed, positions))
        if self.sample_rows is None:
            return
        kept = sum(len(keys) for keys in self._sample_keys)
        if kept > 2 * self.sample_rows or (kept > self.sample_rows and len(self._sample) > 64):
            self._compact_sample()

    def _compact_sample(self) -> None:
        """One block, sorted by key, cut to ``sample_rows`` (the same for any arrival order)."""
        if not self._sample:
            dtype = np.int8 if self.cardinality <= 127 else np.int16
            self._sample_keys, self._sample = (
                [np.empty(0, np.uint64)],
                [np.empty((0, self.n_sources), dtype)],
            )
            self._sample_sorted = True
            return
        keys, rows = np.concatenate(self._sample_keys), np.concatenate(self._sample)
        if self.sample_rows is not None and len(keys) > self.sample_rows:
            keep = np.argpartition(keys, self.sample_rows)[: self.sample_rows]
            keys, rows = keys[keep], rows[keep]
        order = np.argsort(keys)
        self._sample_keys, self._sample = [keys[order]], [rows[order]]
        self._sample_sorted = True

    # ------------------------------------------------------------------ results
    @property
    def patterns(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(distinct rows, counts), or None when there were more than ``max_patterns``."""
        return self._patterns

    def _reservoir(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._sample_sorted:
            self._compact_sample()
        return self._sample_keys[0], self._sample[0]

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
        rows = self._reservoir()[1][:_DIAGNOSTIC_ROWS]  # sorted by key: the first are a sample
        return rows, np.ones(len(rows))
