"""Synthetic votes with known parameters, and the best any label model can do on them.

Sources are independent given the class (the generative model's assumption): source ``j``
votes on a row with probability ``propensity[j]`` whatever its class, and then names the
true class with probability ``accuracy[j]``, else one of the other classes uniformly. The
Bayes-optimal posterior with the true parameters is the ceiling of any label model, which
is what the tests and the benchmark compare against. ``with_copies`` breaks the
independence on purpose: near-copies of one source, the classic way to fool a label model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from weaklabel.label_models._em import EPS
from weaklabel.label_models._posterior import posterior
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix

__all__ = ["SyntheticVotes", "bayes_posterior", "make_synthetic_votes", "with_copies"]


class SyntheticVotes(NamedTuple):
    """Votes, gold labels and the true parameters that generated them."""

    votes: LabelMatrix
    y: np.ndarray
    accuracy: np.ndarray
    propensity: np.ndarray
    class_balance: np.ndarray
    cond_probs: np.ndarray
    """``cond_probs[j, a + 1, y]`` = P(source j votes a | class y), ``a = -1``: abstains."""


def _per_source(
    values: Any, value_range: tuple[float, float], m: int, rng: np.random.Generator, what: str
) -> np.ndarray:
    if values is None:
        low, high = value_range
        return rng.uniform(low, high, size=m)
    arr = np.asarray(values, dtype=float)
    if arr.shape != (m,):
        raise ValueError(f"{what} must hold one value per source ({m}), got shape {arr.shape}")
    return arr


def true_conditionals(accuracy: np.ndarray, propensity: np.ndarray, cardinality: int) -> np.ndarray:
    """The (m, k+1, k) vote tables of the generating model."""
    k = cardinality
    wrong = propensity * (1 - accuracy) / (k - 1)
    cond = np.empty((len(accuracy), k + 1, k))
    cond[:, 0, :] = (1 - propensity)[:, None]
    cond[:, 1:, :] = wrong[:, None, None]
    cond[:, 1 + np.arange(k), np.arange(k)] = (propensity * accuracy)[:, None]
    return cond


def make_synthetic_votes(
    n_rows: int,
    n_sources: int,
    cardinality: int = 2,
    *,
    accuracy_range: tuple[float, float] = (0.55, 0.95),
    propensity_range: tuple[float, float] = (0.1, 0.6),
    accuracy: Sequence[float] | np.ndarray | None = None,
    propensity: Sequence[float] | np.ndarray | None = None,
    class_balance: Sequence[float] | np.ndarray | None = None,
    random_state: int | None = None,
) -> SyntheticVotes:
    """Draw votes of conditionally independent sources.

    Per-source ``accuracy`` and ``propensity`` are drawn uniformly from their ranges unless
    given (give them to draw several chunks of one data set with different seeds).
    """
    if cardinality < 2 or n_sources < 1 or n_rows < 0:
        raise ValueError(
            f"need cardinality >= 2, n_sources >= 1, n_rows >= 0; got {cardinality}, {n_sources}, {n_rows}"
        )
    rng = np.random.default_rng(random_state)
    k, m = cardinality, n_sources
    acc = _per_source(accuracy, accuracy_range, m, rng, "accuracy")
    prop = _per_source(propensity, propensity_range, m, rng, "propensity")
    balance = (
        np.full(k, 1.0 / k) if class_balance is None else np.asarray(class_balance, dtype=float)
    )
    y = rng.choice(k, size=n_rows, p=balance)
    votes = _draw_votes(y, acc, prop, k, rng)
    names = [f"synthetic_{j}" for j in range(m)]
    return SyntheticVotes(
        LabelMatrix(votes, names, cardinality=k),
        y,
        acc,
        prop,
        balance,
        true_conditionals(acc, prop, k),
    )


def _draw_votes(
    y: np.ndarray, acc: np.ndarray, prop: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    n, m = len(y), len(acc)
    votes_any = rng.random((n, m), dtype=np.float32) < prop.astype(np.float32)
    correct = rng.random((n, m), dtype=np.float32) < acc.astype(np.float32)
    wrong = (y[:, None] + rng.integers(1, k, size=(n, m))) % k
    return np.where(votes_any, np.where(correct, y[:, None], wrong), ABSTAIN).astype(np.int8)


def bayes_posterior(votes: Any, cond_probs: np.ndarray, class_balance: np.ndarray) -> np.ndarray:
    """P(y | votes) under the true parameters: the best any label model can do."""
    arr = votes.votes if isinstance(votes, LabelMatrix) else np.asarray(votes)
    return posterior(
        arr, np.log(np.maximum(cond_probs, EPS)), np.log(np.asarray(class_balance, dtype=float))
    )


def with_copies(
    data: SyntheticVotes,
    source: int = 0,
    n_copies: int = 4,
    noise: float = 0.05,
    random_state: int | None = None,
) -> SyntheticVotes:
    """Append ``n_copies`` near-copies of one source (each vote redrawn with prob. ``noise``).

    The copies are not independent of the original given the class, which is exactly what
    a label model must notice: counted as independent, one source gets ``n_copies + 1`` votes.
    """
    rng = np.random.default_rng(random_state)
    n, k = len(data.y), data.votes.cardinality
    acc, prop = data.accuracy[source], data.propensity[source]
    base = data.votes.votes[:, source]
    columns = [
        np.where(
            rng.random(n) < noise, _draw_votes(data.y, acc[None], prop[None], k, rng)[:, 0], base
        )
        for _ in range(n_copies)
    ]
    votes = np.column_stack([data.votes.votes, *columns]).astype(np.int8)
    names = data.votes.lf_names + [
        f"{data.votes.lf_names[source]}_copy{c}" for c in range(n_copies)
    ]
    acc_all = np.concatenate([data.accuracy, np.repeat(acc, n_copies)])
    prop_all = np.concatenate([data.propensity, np.repeat(prop, n_copies)])
    return SyntheticVotes(
        LabelMatrix(votes, names, cardinality=k),
        data.y,
        acc_all,
        prop_all,
        data.class_balance,
        true_conditionals(acc_all, prop_all, k),
    )
