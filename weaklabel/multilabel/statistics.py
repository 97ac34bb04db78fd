"""What a multi-label label model learns from the rows, accumulated chunk by chunk.

Per label: the votes of the rows where one of its sources votes — as the base label
model's mergeable sufficient statistics (``VoteStatistics``)
when it has them, else the votes themselves — and how many of those rows majority vote
calls present. Built from a whole matrix, from Parquet shards one at a time, or per Dask
partition and merged in any order: the fit is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from weaklabel.lf import ABSTAIN
from weaklabel.multilabel.lf import ABSENT, PRESENT

__all__ = ["MultiLabelStatistics"]


class MultiLabelStatistics:
    """Per-label statistics of the covered rows of a multi-label vote matrix.

    Parameters
    ----------
    lf_names, targets, classes
        The columns (sources), the label each votes on, and the task's classes.
    new_statistics
        ``new_statistics(n_sources)`` -> empty mergeable statistics of a two-class matrix of
        that many sources, or None to keep the covered votes themselves.
    """

    cardinality = 2
    """Votes are two-class (absent/present): what Dask's statistics graph checks them against."""

    def __init__(
        self,
        lf_names: Sequence[str],
        targets: Sequence[str],
        classes: Sequence[str],
        new_statistics: Callable[[int], Any] | None,
    ) -> None:
        self.lf_names = list(lf_names)
        self.targets = list(targets)
        self.classes = list(classes)
        self.positions = np.array([self.classes.index(t) for t in self.targets], dtype=np.int64)
        sizes = [int((self.positions == c).sum()) for c in range(len(self.classes))]
        self.per_label: list[Any] = [
            None if size == 0 else (new_statistics(size) if new_statistics else []) for size in sizes
        ]
        self.covered = np.zeros(len(self.classes), dtype=np.int64)
        self.present = np.zeros(len(self.classes), dtype=np.int64)
        self.n_rows = 0

    @property
    def n_sources(self) -> int:
        return len(self.lf_names)

    def sources_of(self, c: int) -> list[str]:
        return [name for name, p in zip(self.lf_names, self.positions, strict=True) if p == c]

    def update(self, votes: np.ndarray, *, offset: int | None = None) -> MultiLabelStatistics:
        """Add a block of rows (n x sources, values -1/0/1) at global row ``offset``
        (default: after the rows added so far)."""
        votes = np.asarray(votes)
        if votes.ndim != 2 or votes.shape[1] != self.n_sources:
            raise ValueError(f"votes have shape {votes.shape}, expected (n, {self.n_sources})")
        start = self.n_rows if offset is None else int(offset)
        for c, stats in enumerate(self.per_label):
            if stats is None:
                continue
            block = votes[:, self.positions == c]
            covered = (block != ABSTAIN).any(axis=1)
            rows = block[covered]
            self.covered[c] += len(rows)
            self.present[c] += int(((rows == PRESENT).sum(axis=1) > (rows == ABSENT).sum(axis=1)).sum())
            if isinstance(stats, list):
                stats.append(rows)
            else:  # covered rows keep their global positions: blocks never overlap
                stats.update(rows, offset=start)
        self.n_rows += len(votes)
        return self

    def merge(self, other: MultiLabelStatistics) -> MultiLabelStatistics:
        """Add the statistics of other, disjoint rows (in place; returns self)."""
        if (self.lf_names, self.targets, self.classes) != (other.lf_names, other.targets, other.classes):
            raise ValueError("cannot merge statistics of other sources or classes")
        for c, (mine, theirs) in enumerate(zip(self.per_label, other.per_label, strict=True)):
            if isinstance(mine, list):
                mine.extend(theirs)
            elif mine is not None:
                mine.merge(theirs)
            self.covered[c] += other.covered[c]
            self.present[c] += other.present[c]
        self.n_rows += other.n_rows
        return self

    def covered_votes(self, c: int) -> np.ndarray:
        """The kept covered rows of label ``c`` (when no mergeable statistics were used)."""
        blocks = self.per_label[c]
        return np.concatenate(blocks) if blocks else np.empty((0, len(self.sources_of(c))), dtype=np.int8)
