"""Greedy selection of candidate LFs by their held-out gain on the labeled rows.

The labeled rows are scored by a weighted vote: each source (existing or suggested) adds,
to the class it votes, its log-odds lift over that class's prior share,
``logit(p) - logit(prior)``, with ``p`` its precision on the labeled rows shrunk toward the
prior by ``prior_strength`` pseudo-rows. The precision used on row ``i`` is computed
**without row i** (leave-one-out), so a feature seen only on the row it would score earns
nothing there: every gain is measured on rows held out from its own estimate.

Greedy: at each step add the candidate that most raises the (priority-weighted) held-out
log-likelihood of the gold labels, stop at the budget or when no candidate gains
``min_gain`` nats. The vote counts sources as independent, so a near-copy of a chosen LF
would look like fresh evidence on the rows they share: a candidate whose labeled rows are
already ``max_overlap`` covered by chosen LFs of its class is not considered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

__all__ = ["GreedyStep", "LeaveOneOutVote", "greedy_select"]

_EPS = 1e-9


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass
class GreedyStep:
    """One accepted candidate and what it changed on the labeled rows (held out)."""

    column: int
    gain: float
    """Increase of the priority-weighted held-out log-likelihood, in nats."""
    accuracy_before: float
    accuracy_after: float
    log_loss_after: float


class LeaveOneOutVote:
    """The weighted vote over the labeled rows with leave-one-out source weights."""

    def __init__(self, y: np.ndarray, cardinality: int, prior_strength: float, row_weight: np.ndarray) -> None:
        self.y = np.asarray(y, dtype=np.int64)
        self.k = cardinality
        self.m = float(prior_strength)
        self.row_weight = np.asarray(row_weight, dtype=np.float64)
        counts = np.bincount(self.y, minlength=cardinality).astype(np.float64)
        self.prior = (counts + 1.0) / (counts.sum() + cardinality)
        self.scores = np.tile(np.log(self.prior), (len(self.y), 1))

    def weights(self, fires: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(rows x sources) weight each source adds on each row it fires on, held out per row."""
        fires = np.asarray(fires, dtype=bool)
        correct_row = self.y[:, None] == labels[None, :]
        n = fires.sum(axis=0)
        k = (fires & correct_row).sum(axis=0)
        n_loo = n[None, :] - 1.0
        k_loo = k[None, :] - correct_row
        prior = self.prior[labels][None, :]
        p = (k_loo + self.m * prior) / (np.maximum(n_loo, 0.0) + self.m)
        lift = np.maximum(_logit(p) - _logit(prior), 0.0)
        return np.where(fires, lift, 0.0)

    def add(self, fires: np.ndarray, labels: np.ndarray) -> None:
        """Add sources to the vote for good (existing sources, accepted candidates)."""
        w = self.weights(fires, labels)
        for c in np.unique(labels):
            self.scores[:, c] += w[:, labels == c].sum(axis=1)

    def gains(self, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Held-out log-likelihood gain of adding each candidate alone (priority-weighted)."""
        lse = logsumexp(self.scores, axis=1)
        own = self.scores[:, labels]
        new_lse = lse[:, None] + np.log1p(np.exp(own - lse[:, None]) * np.expm1(w))
        hit = self.y[:, None] == labels[None, :]
        gain = np.where(hit, w, 0.0) - (new_lse - lse[:, None])
        return self.row_weight @ gain

    def accuracy(self) -> float:
        return float(np.mean(self.scores.argmax(axis=1) == self.y)) if len(self.y) else 0.0

    def log_loss(self) -> float:
        if not len(self.y):
            return 0.0
        lse = logsumexp(self.scores, axis=1)
        return float(np.mean(lse - self.scores[np.arange(len(self.y)), self.y]))


def greedy_select(
    vote: LeaveOneOutVote, fires: np.ndarray, labels: np.ndarray, *, budget: int, min_gain: float,
    max_overlap: float = 0.9,
) -> list[GreedyStep]:
    """Accept candidates (columns of ``fires``) one at a time while they gain ``min_gain``."""
    fires = np.asarray(fires, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    w = vote.weights(fires, labels)
    available = np.ones(fires.shape[1], dtype=bool)
    chosen_rows = np.zeros((vote.k, fires.shape[0]), dtype=np.float64)  # rows a chosen LF of class c fires on
    support = np.maximum(fires.sum(axis=0), 1)
    steps: list[GreedyStep] = []
    while len(steps) < budget and available.any():
        shared = np.einsum("ji,ij->j", chosen_rows[labels], fires) / support
        available &= shared < max_overlap
        gains = np.where(available, vote.gains(w, labels), -np.inf)
        best = int(np.argmax(gains))
        if not available[best] or gains[best] < min_gain:
            break
        before = vote.accuracy()
        vote.scores[:, labels[best]] += w[:, best]
        chosen_rows[labels[best]] = np.maximum(chosen_rows[labels[best]], fires[:, best])
        available[best] = False
        steps.append(GreedyStep(best, float(gains[best]), before, vote.accuracy(), vote.log_loss()))
    return steps
