"""Dawid–Skene: a full confusion table per source, learned by EM from majority vote.

Assumes sources are independent given the true class, and learns for each source how it
votes (or abstains) on each class. That is the right model for independent annotators and
it recovers known parameters on such data (see the tests); on hand-written LFs and LLM
prompts, which fire together on the same easy rows, it can lock onto that correlation
instead of the class and do worse than majority vote. ``LabelModel``
checks for exactly that and falls back; use this class when you want the classic estimator.
"""

from __future__ import annotations

import numpy as np

from weaklabel.label_models._em import conditional_from_counts, expected_counts, log_tables, run_em
from weaklabel.label_models._posterior import posterior, vote_counts
from weaklabel.label_models._quality import inverted_sources, warn_inverted
from weaklabel.label_models._stats import unique_rows
from weaklabel.label_models.base import BaseLabelModel, DevSet, warn_degenerate

__all__ = ["DawidSkene"]


def _majority_posterior(rows: np.ndarray, cardinality: int) -> np.ndarray:
    """Soft majority vote: mass spread evenly over the top classes, uniform on silent rows."""
    counts = vote_counts(rows, cardinality)
    top = counts >= counts.max(axis=1, keepdims=True)
    return top / top.sum(axis=1, keepdims=True)


class DawidSkene(BaseLabelModel):
    """Dawid–Skene EM over per-source confusion tables (abstain included by default).

    Parameters
    ----------
    cardinality
        Number of classes; inferred when omitted.
    max_iter, tol
        EM stops after ``max_iter`` iterations or when the negative log-likelihood per row
        changes by less than ``tol``.
    smoothing
        Pseudo-counts per (source, class) spread over the outcomes: keeps rarely-voting
        sources from looking perfect.
    model_abstain
        Treat abstaining as an observed outcome (True), so that a source that only ever votes
        one class still carries evidence; False conditions each table on the source voting.
    random_state
        Seed of ``predict``'s tie-breaking (the fit itself is deterministic).

    Attributes
    ----------
    class_balance_
        Learned class prior (or the one given / read from ``y_dev``).
    cond_probs_
        ``cond_probs_[j, a + 1, y]``: probability that source ``j`` votes ``a`` (``-1`` =
        abstains) when the class is ``y``.
    n_iter_, loss_history_
        EM iterations run and the negative log-likelihood per row after each.
    """

    _fitted_attributes = ("class_balance_", "cond_probs_", "n_iter_", "loss_history_")

    def __init__(
        self,
        cardinality: int | None = None,
        max_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 1.0,
        model_abstain: bool = True,
        random_state: int | None = None,
    ) -> None:
        self.cardinality = cardinality
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.model_abstain = model_abstain
        self.random_state = random_state

    def _fit(self, votes: np.ndarray, dev: DevSet | None, class_balance: np.ndarray | None) -> None:
        if self.max_iter < 1 or self.tol < 0 or self.smoothing < 0:
            raise ValueError(
                f"need max_iter >= 1, tol >= 0, smoothing >= 0; got max_iter={self.max_iter}, "
                f"tol={self.tol}, smoothing={self.smoothing}"
            )
        k = self.cardinality_
        rows, counts = unique_rows(votes, np.ones(len(votes)), k)
        fixed = self._prior_from(dev, class_balance, k)
        # initialise from majority vote: M-step on its soft labels
        q = _majority_posterior(rows, k) * counts[:, None]
        cond = conditional_from_counts(expected_counts(rows, q), self.smoothing)
        balance = fixed if fixed is not None else (q.sum(axis=0) + 1.0) / (counts.sum() + k)
        result = run_em(
            rows,
            counts,
            cond,
            balance,
            fixed_balance=fixed is not None,
            smoothing=self.smoothing,
            model_abstain=self.model_abstain,
            max_iter=self.max_iter,
            tol=self.tol,
        )
        self.cond_probs_ = result.cond
        self.class_balance_ = result.class_balance
        self.n_iter_ = result.n_iter
        self.loss_history_ = result.loss_history
        if fixed is None and self.class_balance_.max() > 1 - 0.01 / k:
            warn_degenerate(
                f"DawidSkene collapsed: class {int(self.class_balance_.argmax())} takes "
                f"{self.class_balance_.max():.1%} of the mass; LabelModel or MajorityVote is safer here"
            )
        warn_inverted(
            inverted_sources(self.cond_probs_, self.class_balance_), self.lf_names_, "DawidSkene"
        )

    def _predict_proba(self, votes: np.ndarray) -> np.ndarray:
        log_cond = log_tables(self.cond_probs_, self.model_abstain)
        return posterior(votes, log_cond, np.log(self.class_balance_))
