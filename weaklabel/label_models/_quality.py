"""Checks on fitted source tables: which sources look worse than random, which are copies."""

from __future__ import annotations

import warnings

import numpy as np

from weaklabel.label_models._em import EPS
from weaklabel.label_models.base import SourceQualityWarning

__all__ = [
    "dev_log_odds_weights",
    "duplicate_groups",
    "inverted_sources",
    "warn_inverted",
    "worse_than_random_on_dev",
]

_INVERTED_LOG_RATIO = -0.1
"""A source is flagged when its votes are, on average, evidence against the class they name
by more than this (a likelihood ratio below ~0.9): some margin keeps sources with a handful
of votes, whose smoothed tables hover around 1, out of the warning."""


def inverted_sources(cond: np.ndarray, class_balance: np.ndarray) -> np.ndarray:
    """Indices of sources whose votes point away from the class they vote.

    For a vote ``a`` the likelihood ratio is ``P(a | y=a) / P(a | y != a)`` (the denominator
    averaged over the other classes by the class balance). Averaged over the source's votes,
    its log is below zero for a source that is worse than random.
    """
    m, _, k = cond.shape
    votes = cond[:, 1:, :]  # [j, a, y]
    own = np.log(np.maximum(votes[:, np.arange(k), np.arange(k)], EPS))  # [j, a]
    others = np.empty((m, k))
    for a in range(k):
        w = np.delete(class_balance, a)
        others[:, a] = np.log(np.maximum(np.delete(votes[:, a, :], a, axis=1) @ (w / w.sum()), EPS))
    rate = votes @ class_balance  # [j, a]: how often j votes a
    mean_log_ratio = ((own - others) * rate).sum(axis=1) / np.maximum(rate.sum(axis=1), EPS)
    return np.flatnonzero(mean_log_ratio < _INVERTED_LOG_RATIO)


def warn_inverted(indices: np.ndarray, lf_names: list[str] | None, model: str) -> None:
    if not len(indices):
        return
    names = [lf_names[i] if lf_names else f"source {i}" for i in indices]
    shown = ", ".join(map(repr, names[:10])) + (
        f" and {len(names) - 10} more" if len(names) > 10 else ""
    )
    warnings.warn(
        f"{model}: {len(names)} source(s) look worse than random (their votes are evidence against "
        f"the class they vote): {shown}. Check them against a few gold labels; an inverted LF "
        "usually has its label swapped.",
        SourceQualityWarning,
        stacklevel=4,
    )


def duplicate_groups(
    pair_counts: np.ndarray, outcome_counts: np.ndarray, threshold: float
) -> np.ndarray:
    """Group label per source: sources that vote the same class on nearly the same rows.

    Similarity of two sources = rows where both vote the same class / rows where either votes
    (a Jaccard index of their votes). Independent sources with propensities up to 0.6 stay
    below ~0.4; copies and near-copies of an LF come close to 1. Groups are the connected
    components of the pairs at or above ``threshold``.
    """
    from scipy.sparse.csgraph import connected_components

    votes = pair_counts[:, 1:, :, 1:]
    same = np.einsum("jala->jl", votes)
    voted = outcome_counts[:, 1:].sum(axis=1)
    either_vote = voted[:, None] + voted[None, :] - votes.sum(axis=(1, 3))
    similarity = np.where(either_vote > 0, same / np.maximum(either_vote, 1), 0.0)
    np.fill_diagonal(similarity, 0.0)
    _, labels = connected_components(similarity >= threshold, directed=False)
    return labels


def worse_than_random_on_dev(
    votes: np.ndarray, y: np.ndarray, cardinality: int, z: float = 2.0
) -> np.ndarray:
    """Indices of sources whose votes on gold-labelled rows are right less often than chance.

    Chance is a vote drawn from the dev class balance: a source that votes class ``a`` is right
    that often by luck with probability ``P(a)``. A source is flagged when its number of
    correct votes falls more than ``z`` standard deviations below that expectation.
    """
    prior = np.bincount(y, minlength=cardinality) / len(y)
    voted = votes >= 0
    chance = np.where(voted, prior[np.where(voted, votes, 0)], 0.0)
    correct = (voted & (votes == y[:, None])).sum(axis=0)
    expected = chance.sum(axis=0)
    spread = np.sqrt((chance * (1 - chance)).sum(axis=0))
    return np.flatnonzero((spread > 0) & (correct < expected - z * np.maximum(spread, EPS)))


def dev_log_odds_weights(
    votes: np.ndarray, y: np.ndarray, cardinality: int, prior_votes: float = 2.0
) -> np.ndarray:
    """Vote weight per source from its precision on gold-labelled rows: ``log((k-1) p / (1-p))``.

    That is the weight of an independent source that is right with probability ``p`` and
    wrong uniformly over the other classes: weighted majority vote with it is the Bayes
    rule. Precisions are shrunk toward the pooled precision of all sources by
    ``prior_votes`` pseudo-votes, so a source seen on few dev rows keeps a typical weight;
    sources no better than chance get weight 0.
    """
    voted = votes >= 0
    correct = (voted & (votes == y[:, None])).sum(axis=0)
    n_votes = voted.sum(axis=0)
    pooled = (correct.sum() + 1.0) / (n_votes.sum() + 2.0)
    precision = (correct + prior_votes * pooled) / (n_votes + prior_votes)
    precision = np.clip(precision, EPS, 1 - 1e-6)
    return np.maximum(np.log((cardinality - 1) * precision / (1 - precision)), 0.0)
