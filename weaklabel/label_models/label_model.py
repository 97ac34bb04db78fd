"""The recommended label model: a matrix-completion fit that checks itself before it is trusted.

Two estimators are fitted from one pass of sufficient statistics (see ``_stats``):

``generative``
    Sources independent given the class, each with a (k+1) x k table of how it votes or
    abstains on each class, and a learned class balance. Fitted by matrix completion on the
    (m·k) x (m·k) agreement statistics (MeTaL-style, so the cost no longer depends on the
    number of rows), then refined by exact EM over the distinct vote patterns when there are
    not too many. Sources that are copies of each other are detected and counted once.
    When its assumptions hold this is the Bayes-optimal combination: it weighs a 95% source
    far above a 55% one and learns the class balance.

``anchored``
    Majority vote decides every row it decides with a strict margin; where votes tie, a
    naive-Bayes model learned on the rows majority vote labels decisively (which sources fire,
    and which stay silent, on each class) breaks the tie. Where that model agrees with the
    majority, its posterior is the row's probabilities, so the labels stay soft.

Real labeling functions and LLM prompts are rarely independent given the class: they fire
together on the easy rows, and a latent-class fit then models that instead of the class —
the failure behind Snorkel's one-class collapses. So ``fit`` tests the generative fit on the
data before using it: enough source pairs must vote together to test independence at all
(``diagnostics_["testable_pairs"]``; sparse keyword LFs rarely co-vote), its predicted
pairwise vote tables must match the observed ones (``diagnostics_["misfit"]``: a Pearson
chi-square per degree of freedom, ~1 under the model), and it must agree with majority vote
on most rows majority vote decides (``diagnostics_["disagreement"]``). If a check fails, or
the fit is degenerate (a collapsed class balance, mostly inverted sources), the anchored
estimator is used. With gold ``y_dev`` labels the candidates are compared on them instead.
Rows on which every source abstains get the chosen estimator's class balance.

Majority vote (and so the anchored estimator) wins when sources are correlated, of similar
quality, or rarely overlap — typical of LLM prompts and keyword LFs; the generative
estimator wins when sources are many, overlap often, are independent enough, and differ in
accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from weaklabel._validation import ABSTAIN, is_label_matrix
from weaklabel.exceptions import ConfigError
from weaklabel.label_models._em import EPS, conditional_from_counts, run_em
from weaklabel.label_models._moments import fit_moments
from weaklabel.label_models._posterior import log_joint, softmax_rows, vote_counts
from weaklabel.label_models._quality import (
    dev_log_odds_weights,
    duplicate_groups,
    inverted_sources,
    warn_inverted,
    worse_than_random_on_dev,
)
from weaklabel.label_models._stats import VoteStatistics, unique_rows
from weaklabel.label_models.base import (
    BaseLabelModel,
    DevSet,
    break_ties,
    check_class_balance,
    check_votes,
    infer_cardinality,
    warn_degenerate,
)
from weaklabel.metrics import paired_bootstrap_z, score_predictions, stratified_folds

__all__ = ["LabelModel", "trusts_generative"]

ESTIMATORS = ("auto", "generative", "anchored")
TIEBREAKS = ("posterior", "likelihood")
DEV_METRICS = ("f1", "macro_f1", "accuracy")
_MIN_EXPECTED = 5.0
"""Cells of a pairwise vote table with fewer expected rows are left out of the misfit
statistic, where the chi-square approximation breaks down."""


class LabelModel(BaseLabelModel):
    """Matrix-completion label model with a majority-vote-anchored fallback.

    Parameters
    ----------
    cardinality
        Number of classes; inferred from the votes (or the LabelMatrix) when omitted.
    estimator
        ``"auto"`` (choose as described in the module docs), or force ``"generative"`` /
        ``"anchored"``.
    max_iter, tol
        EM refinement limits (iterations; change of the negative log-likelihood per row).
    smoothing
        Pseudo-counts per (source, class) in every table: sources seen on few rows stay close
        to uninformative.
    duplicate_threshold
        Sources whose votes overlap at least this much (same class on the same rows, as a
        share of the rows either votes on) form a group whose members count 1/size each.
    max_misfit, max_disagreement, min_testable
        Limits of the checks the generative fit must pass: misfit of the pairwise vote tables,
        disagreement with majority vote where it is decisive, and the share of source pairs
        that vote together often enough to test independence at all (see the module docs).
        Chosen by the leave-one-dataset-out protocol over 14 real label matrices
        (``benchmarks/label_models.py``): on each left-out set the limits chosen on the others
        include a disagreement limit of 0.5 (LLM votes on hard tasks disagree with majority
        vote on a third of the rows where the generative fit is right to).
    max_patterns
        EM refinement runs over the distinct vote patterns when there are at most this many;
        beyond, the matrix-completion fit is used as is.
    sample_rows
        With more distinct patterns than ``max_patterns``, the agreement statistics come from
        a seeded uniform sample of this many rows (None: all rows). Their error is then a
        fraction of a percentage point, and a million-row fit costs a second, not a minute.
    dev_metric
        Metric used to choose between the estimators on ``y_dev``: ``"f1"`` (positive-class
        F1 when binary, macro F1 otherwise) or ``"accuracy"``.
    dev_margin
        With ``y_dev``, the best-scoring candidate replaces what ``fit`` would choose without
        gold only when its lead on the dev rows is this many standard deviations of a paired
        bootstrap of the dev metric (0: any higher score switches). Chosen by the leave-one-dataset-out
        protocol (``benchmarks/label_models.py``).
    tiebreak
        How the anchored estimator chooses among the classes majority vote ties on:
        ``"posterior"``, the naive Bayes posterior (class prior x the likelihood of every
        source's vote or abstention), or ``"likelihood"``, the same without the class prior.
        The prior is learned on the rows majority vote decides, where one class's sources
        outvote the others; on the rows where two classes' sources both fire it can point
        the wrong way (on TREC the posterior picks the gold class on 21% of the 48 tied test
        rows, a coin 38%, the likelihood 44%). ``"likelihood"`` was chosen by the
        leave-one-dataset-out protocol on every left-out set (``benchmarks/label_models.py``).
    random_state
        Seeds the diagnostic row sample and ``predict``'s tie-breaking.

    Attributes
    ----------
    estimator_
        ``"generative"`` or ``"anchored"``: what ``predict_proba`` uses.
    class_balance_
        Class prior of that estimator: given, else learned — or, with ``y_dev``, the learned
        one averaged with the dev label frequencies when that scores better on them.
    cond_probs_
        Generative tables: ``cond_probs_[j, a + 1, y]`` = P(source j votes a | class y),
        ``a = -1`` meaning abstain.
    tiebreak_cond_probs_, tiebreak_class_balance_
        The anchored estimator's naive-Bayes tables and prior.
    source_weights_
        1 / size of each source's duplicate group.
    silent_proba_
        Probabilities of a row no source votes on, for the anchored estimator (None: the
        class prior): silence is evidence against the classes whose sources fire often.
    vote_weights_
        None, or (chosen on ``y_dev``) each source's weight in the anchored estimator's
        majority vote: its log-odds of being right on the dev rows.
    diagnostics_
        ``misfit``, ``testable_pairs``, ``disagreement``, ``degenerate``, ``unvoted_classes``,
        ``duplicate_groups`` (source names), ``n_patterns``, ``statistics_rows``,
        ``exact_statistics``, and ``dev_scores`` and ``dev_choice`` when ``y_dev`` was given.
    n_iter_, loss_history_
        EM refinement iterations and negative log-likelihood per row (empty when skipped).

    Examples
    --------
    >>> from weaklabel.label_models.synthetic import make_synthetic_votes
    >>> data = make_synthetic_votes(2000, 8, random_state=0)
    >>> model = LabelModel(random_state=0).fit(data.votes)
    >>> model.estimator_
    'generative'
    """

    cond_probs_: np.ndarray
    generative_class_balance_: np.ndarray
    tiebreak_cond_probs_: np.ndarray
    tiebreak_class_balance_: np.ndarray

    _fitted_attributes = (
        "estimator_",
        "class_balance_",
        "cond_probs_",
        "generative_class_balance_",
        "tiebreak_cond_probs_",
        "tiebreak_class_balance_",
        "source_weights_",
        "vote_weights_",
        "silent_proba_",
        "diagnostics_",
        "n_iter_",
        "loss_history_",
    )

    def __init__(
        self,
        cardinality: int | None = None,
        estimator: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 1.0,
        duplicate_threshold: float = 0.8,
        max_misfit: float = 2.0,
        max_disagreement: float = 0.5,
        min_testable: float = 0.5,
        max_patterns: int | None = 100_000,
        sample_rows: int | None = 100_000,
        dev_metric: str = "f1",
        dev_margin: float = 1.0,
        tiebreak: str = "likelihood",
        random_state: int | None = None,
    ) -> None:
        self.cardinality = cardinality
        self.estimator = estimator
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.duplicate_threshold = duplicate_threshold
        self.max_misfit = max_misfit
        self.max_disagreement = max_disagreement
        self.min_testable = min_testable
        self.max_patterns = max_patterns
        self.sample_rows = sample_rows
        self.dev_metric = dev_metric
        self.dev_margin = dev_margin
        self.tiebreak = tiebreak
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        """Bad settings fail before any fit work, naming the setting."""
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.tiebreak not in TIEBREAKS:
            raise ConfigError(f"tiebreak must be one of {TIEBREAKS}, got {self.tiebreak!r}")
        if self.dev_metric not in DEV_METRICS:
            raise ConfigError(f"dev_metric must be one of {DEV_METRICS}, got {self.dev_metric!r}")
        if self.max_iter < 0 or self.tol < 0 or self.smoothing < 0:
            raise ConfigError(
                f"need max_iter >= 0, tol >= 0, smoothing >= 0; got max_iter={self.max_iter}, "
                f"tol={self.tol}, smoothing={self.smoothing}"
            )
        if not 0 < self.duplicate_threshold <= 1.0 + 1e-12:
            raise ConfigError(
                f"duplicate_threshold must be in (0, 1], got {self.duplicate_threshold}"
            )

    def _new_statistics(self, n_sources: int, cardinality: int) -> VoteStatistics:
        return VoteStatistics(
            n_sources,
            cardinality,
            max_patterns=self.max_patterns,
            sample_rows=self.sample_rows,
            random_state=self.random_state,
        )

    def _fit(self, votes: np.ndarray, dev: DevSet | None, class_balance: np.ndarray | None) -> None:
        self._check_params()
        stats = self._new_statistics(self.n_sources_, self.cardinality_).update(votes)
        self._fit_statistics(stats, dev, class_balance)

    def fit_chunks(
        self,
        chunks: Iterable[Any],
        y_dev: Any = None,
        class_balance: Any = None,
        *,
        L_dev: Any = None,
    ) -> LabelModel:
        """Fit from an iterable of row chunks (LabelMatrix or arrays), read once.

        For matrices that do not fit in memory: only the sufficient statistics are kept.
        The number of classes must be known up front (``cardinality=`` or LabelMatrix
        chunks); gold labels need their own votes (``y_dev`` with ``L_dev``).
        """
        self._reset()
        self._check_params()
        if y_dev is not None and L_dev is None:
            raise ValueError("fit_chunks needs L_dev with y_dev: the chunks' rows are not kept")
        stats: VoteStatistics | None = None
        for position, chunk in enumerate(chunks):
            if stats is None:
                k = self.cardinality or (
                    chunk.cardinality if is_label_matrix(chunk) else None
                )
                if k is None:
                    raise ValueError(
                        "fit_chunks needs the number of classes: pass cardinality= to the model"
                    )
                votes = check_votes(chunk, k)
                self._set_shape(chunk, votes.shape[1], infer_cardinality(chunk, votes, k))
                stats = self._new_statistics(self.n_sources_, self.cardinality_)
            else:
                votes = check_votes(chunk, self.cardinality_)
                if votes.shape[1] != self.n_sources_:
                    raise ValueError(
                        f"chunk {position} has {votes.shape[1]} sources, chunk 0 has {self.n_sources_}"
                    )
            stats.update(votes)
        if stats is None or stats.n_rows == 0:
            raise ValueError("fit_chunks got no rows (empty iterable or empty chunks)")
        return self._fit_from(stats, y_dev, class_balance, L_dev)

    def new_statistics(self, n_sources: int, cardinality: int) -> VoteStatistics:
        """Empty sufficient statistics with this model's settings, to fill elsewhere.

        For distributed fits: each worker ``update``s its own copy with its rows, the
        copies are merged, and ``fit_statistics`` fits from the result.
        """
        self._check_params()
        return self._new_statistics(n_sources, cardinality)

    def fit_statistics(
        self,
        stats: VoteStatistics,
        y_dev: Any = None,
        class_balance: Any = None,
        *,
        L_dev: Any = None,
        lf_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> LabelModel:
        """Fit from accumulated ``VoteStatistics`` (see ``new_statistics``).

        The statistics keep no names: ``lf_names`` and ``class_names`` (in the order of the
        votes' class indices) name the sources and the classes, as a LabelMatrix would.
        """
        self._reset()
        self._check_params()
        if stats.n_rows == 0:
            raise ValueError("fit_statistics got statistics of no rows")
        if y_dev is not None and L_dev is None:
            raise ValueError("fit_statistics needs L_dev with y_dev: the rows are not kept")
        if lf_names is not None and len(lf_names) != stats.n_sources:
            raise ValueError(f"{len(lf_names)} lf_names for statistics of {stats.n_sources} sources")
        self._set_shape(None, stats.n_sources, stats.cardinality, lf_names, class_names)
        return self._fit_from(stats, y_dev, class_balance, L_dev)

    def _fit_from(
        self, stats: VoteStatistics, y_dev: Any, class_balance: Any, L_dev: Any
    ) -> LabelModel:
        dev = self._dev_set(np.empty((0, self.n_sources_), dtype=np.int8), y_dev, L_dev)
        prior = (
            None if class_balance is None else check_class_balance(class_balance, self.cardinality_)
        )
        self._fit_statistics(stats, dev, prior)
        return self

    def _fit_statistics(
        self, stats: VoteStatistics, dev: DevSet | None, class_balance: np.ndarray | None
    ) -> None:
        moments = stats.moments
        pairs = moments.pair_counts()
        groups = duplicate_groups(pairs, moments.outcome_counts, self.duplicate_threshold)
        self.source_weights_ = 1.0 / np.bincount(groups)[groups]
        self.vote_weights_: np.ndarray | None = None
        independent = groups[:, None] != groups[None, :]
        unvoted = self._unvoted_classes(stats)
        self._fit_estimators(stats, pairs, independent, class_balance, bool(unvoted.size))
        self.diagnostics_ = self._diagnose(
            stats, pairs, independent, groups, class_balance is not None
        )
        self.diagnostics_["unvoted_classes"] = unvoted.tolist()
        if unvoted.size:  # the generative fit is unidentifiable: never trust it
            self._warn_unvoted(unvoted, class_balance is not None or dev is not None)
            self.diagnostics_["degenerate"] = True
            if class_balance is None and dev is not None:  # the only evidence of the balance
                self.tiebreak_class_balance_ = self._dev_prior(dev, self.cardinality_)
        learnable = class_balance is None and not unvoted.size
        self.silent_proba_ = self._silent_proba(stats) if learnable else None  # for "anchored"
        self.estimator_ = self._choose(
            dev, self.diagnostics_["degenerate"], blend=class_balance is None
        )
        generative = self.estimator_ == "generative"
        self.class_balance_ = (
            self.generative_class_balance_ if generative else self.tiebreak_class_balance_
        )
        if generative:
            self.silent_proba_ = None
        if dev is not None:
            suspects = worse_than_random_on_dev(dev.votes, dev.y, self.cardinality_)
        elif generative:
            suspects = inverted_sources(self.cond_probs_, self.class_balance_)
        else:  # no gold, no trusted model: votes alone cannot tell a bad source from a lonely one
            suspects = np.empty(0, dtype=np.int64)
        warn_inverted(suspects, self.lf_names_, "LabelModel")

    def _fit_estimators(
        self,
        stats: VoteStatistics,
        pairs: np.ndarray,
        independent: np.ndarray,
        fixed: np.ndarray | None,
        unvoted: bool,
    ) -> None:
        k = self.cardinality_
        moments = stats.moments
        # anchored estimator: naive Bayes on the rows majority vote decides
        self.tiebreak_cond_probs_ = conditional_from_counts(moments.decisive, self.smoothing)
        decided = moments.decisive[0].sum(axis=0)
        if fixed is not None:
            self.tiebreak_class_balance_ = fixed
        elif unvoted:  # votes cannot tell how common a class no source votes for is
            self.tiebreak_class_balance_ = np.full(k, 1.0 / k)
        else:
            self.tiebreak_class_balance_ = (decided + 1.0) / (decided.sum() + k)
        # generative estimator: matrix completion, then exact EM over patterns when affordable.
        # Fitted with the sources in a canonical order, so that the floating-point path (and
        # the way a symmetric fit breaks its symmetry) does not depend on the input's order.
        order = _canonical_order(pairs)
        m = len(order)
        gram = moments.gram.reshape(m, k, m, k)[order][:, :, order].reshape(m * k, m * k)
        cond, balance = fit_moments(
            gram,
            moments.outcome_counts[order],
            moments.n_rows,
            self.tiebreak_cond_probs_[order],
            self.tiebreak_class_balance_,
            pair_mask=independent[np.ix_(order, order)],
            fixed_balance=fixed is not None,
        )
        self.n_iter_, self.loss_history_ = 0, []
        if stats.patterns is not None and self.max_iter > 0:
            rows, counts = stats.patterns
            result = run_em(
                *unique_rows(rows[:, order], counts, k),
                cond,
                balance,
                fixed_balance=fixed is not None,
                weights=self.source_weights_[order],
                smoothing=self.smoothing,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            cond, balance = result.cond, result.class_balance
            self.n_iter_, self.loss_history_ = result.n_iter, result.loss_history
        self.cond_probs_, self.generative_class_balance_ = cond[np.argsort(order)], balance

    def _diagnose(
        self,
        stats: VoteStatistics,
        pairs: np.ndarray,
        independent: np.ndarray,
        groups: np.ndarray,
        fixed: bool,
    ) -> dict[str, Any]:
        misfit, testable = self._misfit(pairs, independent, stats.moments.n_rows)
        sizes = np.bincount(groups)
        return {
            "misfit": _nan_to_none(misfit),
            "testable_pairs": testable,
            "disagreement": _nan_to_none(self._disagreement(*stats.rows_for_diagnostics())),
            "degenerate": self._is_degenerate(fixed),
            "duplicate_groups": [
                [self._name(int(j)) for j in np.flatnonzero(groups == g)]
                for g in np.flatnonzero(sizes > 1)
            ],
            "n_patterns": None if stats.patterns is None else len(stats.patterns[0]),
            "statistics_rows": int(stats.moments.n_rows),
            "exact_statistics": stats.exact,
        }

    @staticmethod
    def _unvoted_classes(stats: VoteStatistics) -> np.ndarray:
        """Classes no source ever votes for."""
        return np.flatnonzero(stats.moments.outcome_counts[:, 1:].sum(axis=0) == 0)

    def _warn_unvoted(self, unvoted: np.ndarray, balance_known: bool) -> None:
        names = ", ".join(str(c) for c in unvoted)
        fix = (
            "the class balance given (or learned from y_dev) is used for it"
            if balance_known
            else "the class balance is taken as uniform (pass class_balance= or y_dev= with L_dev=)"
        )
        warn_degenerate(
            f"LabelModel: no source votes for class {names}, so the votes say nothing about how "
            f"common it is or how sources behave on it; the majority-vote-anchored estimator "
            f"decides the rows with votes and {fix}"
        )

    def _name(self, j: int) -> str:
        return self.lf_names_[j] if self.lf_names_ else f"source {j}"

    def _is_degenerate(self, balance_fixed: bool) -> bool:
        """One class takes nearly all mass, or most sources come out worse than random."""
        k = self.cardinality_
        collapsed = not balance_fixed and self.generative_class_balance_.max() > 1 - 0.01 / k
        inverted = len(inverted_sources(self.cond_probs_, self.generative_class_balance_))
        return bool(collapsed or inverted > self.n_sources_ / 2)

    def _misfit(
        self, pairs: np.ndarray, independent: np.ndarray, n_rows: float
    ) -> tuple[float, float]:
        """Mean Pearson chi-square per degree of freedom of the testable pairwise vote tables,
        and the share of source pairs that are testable.

        A pair is testable when the model expects at least ``_MIN_EXPECTED`` rows in some cell
        where both sources vote: dependence shows in co-votes, and sources that almost never
        vote together (sparse keyword LFs) cannot confirm or refute independence.
        """
        cond, balance = self.cond_probs_, self.generative_class_balance_
        expected = n_rows * np.einsum("jay,lby,y->jalb", cond, cond, balance)
        usable = expected >= _MIN_EXPECTED
        chi = np.where(usable, (pairs - expected) ** 2 / np.maximum(expected, EPS), 0.0).sum(
            axis=(1, 3)
        )
        cells = usable.sum(axis=(1, 3))
        candidates = np.triu(independent, k=1)
        testable = candidates & usable[:, 1:, :, 1:].any(axis=(1, 3)) & (cells >= 2)
        if not testable.any():
            return float("nan"), 0.0
        return float(np.mean(chi[testable] / (cells[testable] - 1))), float(
            testable.sum() / candidates.sum()
        )

    def _disagreement(self, rows: np.ndarray, counts: np.ndarray) -> float:
        """Share of the rows that (duplicate-weighted) majority vote decides where the
        generative fit predicts another class."""
        votes = vote_counts(rows, self.cardinality_, self.source_weights_)
        ordered = np.sort(votes, axis=1)
        decisive = ordered[:, -1] > ordered[:, -2] + 1e-9
        if not decisive.any():
            return float("nan")
        generative = np.argmax(self._generative_scores(rows[decisive]), axis=1)
        differs = generative != np.argmax(votes[decisive], axis=1)
        return float(counts[decisive] @ differs / counts[decisive].sum())

    def _choose(self, dev: DevSet | None, degenerate: bool, blend: bool) -> str:
        if self.estimator != "auto":
            return self.estimator
        trusted = trusts_generative(
            self.diagnostics_,
            max_misfit=self.max_misfit,
            max_disagreement=self.max_disagreement,
            min_testable=self.min_testable,
        )
        default = "generative" if trusted else "anchored"
        if degenerate and not self.diagnostics_["unvoted_classes"]:  # that one warned already
            warn_degenerate(
                "LabelModel: the generative fit is degenerate (a collapsed class balance or mostly "
                "inverted sources); using the majority-vote-anchored estimator instead"
            )
        return default if dev is None else self._choose_on_dev(dev, default, degenerate, blend)

    def _choose_on_dev(self, dev: DevSet, default: str, degenerate: bool, blend: bool) -> str:
        """The candidate that scores best on the gold dev rows, if it beats the no-dev choice
        by more than their noise.

        Candidates: each estimator with the learned class balance or its average with the dev
        frequencies, and the anchored estimator with each source's majority-vote weight set
        to its log-odds of being right on dev (``vote_weights_``). A candidate that learns
        from the dev rows (weights, blended balance) is scored on each of ``_DEV_FOLDS``
        folds of them as learned from the other folds: scored on the rows it learned from,
        it would look better than it is. The no-dev choice is kept unless the best candidate
        scores higher *and* its lead, resampled over the dev rows (paired bootstrap of the
        dev metric), is ``dev_margin`` standard deviations or more: a few dozen dev rows
        cannot tell close candidates apart, and a coin-flip switch would make the labels
        worse as often as better. The chosen candidate then learns from every dev row.
        """
        learned = (self.tiebreak_class_balance_, self.generative_class_balance_)
        variants = [(default, False)] + [
            (e, False)
            for e in ("generative", "anchored")
            if e != default and not (e == "generative" and degenerate)
        ]
        if dev_log_odds_weights(dev.votes, dev.y, self.cardinality_).any():
            variants.append(("anchored", True))
        folds = stratified_folds(dev.y, _DEV_FOLDS, self.random_state)
        scores: dict[str, float] = {}
        preds: dict[str, np.ndarray] = {}
        settings: dict[str, tuple[str, bool, bool]] = {}
        for name, weighted in variants:
            for blended in (False, True) if blend else (False,):
                key = (
                    f"{name}{', dev weights' if weighted else ''}, "
                    f"{'dev-blended' if blended else 'learned'} balance"
                )
                pred = np.empty(len(dev.y), dtype=np.int64)
                for held_out in [folds == f for f in np.unique(folds)] if weighted or blended else [None]:
                    rows = slice(None) if held_out is None else held_out
                    learn_from = dev if held_out is None else DevSet(dev.votes[~held_out], dev.y[~held_out])
                    self._set_dev_candidate(learn_from, weighted, blended, learned)
                    pred[rows] = break_ties(
                        self._proba(dev.votes[rows], name), "random", self.random_state
                    )
                scores[key] = score_predictions(
                    dev.y, pred, (self.dev_metric,), cardinality=self.cardinality_
                )[self.dev_metric]
                preds[key], settings[key] = pred, (name, weighted, blended)
        baseline = f"{default}, learned balance"
        best = max(scores, key=lambda key: scores[key])  # first of the best: ties keep it
        if best != baseline:
            z = paired_bootstrap_z(
                dev.y, preds[best], preds[baseline], self.dev_metric,
                cardinality=self.cardinality_, random_state=self.random_state,
            )
            if z < self.dev_margin:
                best = baseline
        name, weighted, blended = settings[best]
        self._set_dev_candidate(dev, weighted, blended, learned)
        self.diagnostics_["dev_scores"] = scores
        self.diagnostics_["dev_choice"] = best
        return name

    def _set_dev_candidate(
        self, dev: DevSet, weighted: bool, blended: bool, learned: tuple[Any, Any]
    ) -> None:
        """Set the vote weights and class priors of one dev candidate, learned from ``dev``."""
        k = self.cardinality_
        self.vote_weights_ = dev_log_odds_weights(dev.votes, dev.y, k) if weighted else None
        if blended:
            dev_prior = self._dev_prior(dev, k)
            learned = ((learned[0] + dev_prior) / 2, (learned[1] + dev_prior) / 2)
        self.tiebreak_class_balance_, self.generative_class_balance_ = learned

    # ------------------------------------------------------------------ prediction
    def _generative_scores(self, votes: np.ndarray) -> np.ndarray:
        return log_joint(
            votes,
            np.log(np.maximum(self.cond_probs_, EPS)),
            np.log(np.maximum(self.generative_class_balance_, EPS)),
            self.source_weights_,
        )

    def _proba(self, votes: np.ndarray, estimator: str) -> np.ndarray:
        if estimator == "generative":
            probs = softmax_rows(self._generative_scores(votes))
            silent = (votes == ABSTAIN).all(axis=1)
            prior = self.generative_class_balance_
        else:
            scores, counts = log_joint(
                votes,
                np.log(np.maximum(self.tiebreak_cond_probs_, EPS)),
                np.log(np.maximum(self.tiebreak_class_balance_, EPS)),
                self.source_weights_,
                with_counts=True,
            )
            if self.vote_weights_ is not None:  # majority vote weighted from dev labels
                counts = vote_counts(votes, self.cardinality_, self.vote_weights_)
            # Majority vote decides; the naive Bayes chooses among its tied winners and, where
            # it agrees with the winner, gives the confidence (a soft label, not a one-hot).
            losers = counts < counts.max(axis=1, keepdims=True) - 1e-9
            if self.tiebreak == "likelihood":  # ties: the votes' evidence, not the prior
                tied = (~losers).sum(axis=1) > 1
                scores[tied] -= np.log(np.maximum(self.tiebreak_class_balance_, EPS))
            probs = softmax_rows(scores)
            overruled = losers[np.arange(len(probs)), probs.argmax(axis=1)]
            scores[losers] = -np.inf
            probs[overruled] = softmax_rows(scores[overruled])
            silent = counts.max(axis=1) == 0
            prior = self.tiebreak_class_balance_
        probs[silent] = prior
        silent_proba = getattr(self, "silent_proba_", None)
        if estimator == "anchored" and silent_proba is not None:  # silence is evidence
            probs[(votes == ABSTAIN).all(axis=1)] = silent_proba
        return probs

    def _predict_proba(self, votes: np.ndarray) -> np.ndarray:
        return self._proba(votes, self.estimator_)

    def predict_proba(self, L: Any) -> np.ndarray:
        """Probability of each class for each row, shape (n_rows, cardinality).

        Rows on which every source abstains get ``silent_proba_`` (the anchored estimator:
        what silence says about the class) or else the class prior ``class_balance_``.
        """
        probs = super().predict_proba(L)
        if getattr(self, "silent_proba_", None) is not None and len(probs):
            probs[(self._checked(L) == ABSTAIN).all(axis=1)] = self.silent_proba_
        return probs

    def _silent_proba(self, stats: VoteStatistics) -> np.ndarray:
        """P(class | no source votes) for the anchored estimator.

        Silence is evidence: keyword LFs written for one class fire on most of its rows, so
        the rows none of them fires on are mostly of the other classes. With sources that
        vote independently given the class, a row of class y stays silent with probability
        ``prod_j (1 - v_jy)``, ``v_jy`` the share of class-y rows source j votes on. The
        class of every decided row is taken from majority vote, and the classes of the
        silent rows are solved for by a fixed point (an EM over the silent rows alone). The
        class prior of the rows with votes would label silent rows with the class the
        sources fire on most: on the keyword LFs GPT-4 wrote for YouTube that cost 22 spam
        F1 points on test.
        """
        k = self.cardinality_
        decisive = stats.moments.decisive  # [j, outcome, class of the decided row]
        decided = decisive[0].sum(axis=0)
        votes = decisive[:, 1:, :].sum(axis=1)  # [j, y]: j's votes on rows decided y
        rows, counts = stats.rows_for_diagnostics()
        silent = counts[(rows == ABSTAIN).all(axis=1)].sum() / max(counts.sum(), EPS)
        n_silent = silent * stats.moments.n_rows
        share = np.full(k, 1.0 / k)
        for _ in range(200):
            n = decided + n_silent * share + 1.0
            stays_silent = np.exp(np.log(np.clip(1.0 - votes / n, EPS, 1.0)).sum(axis=0))
            new = n / n.sum() * stays_silent
            new /= new.sum()
            if np.abs(new - share).max() < 1e-10:
                break
            share = new
        return new


_DEV_FOLDS = 5
"""Folds of the dev rows over which candidates that learn from them are scored."""


def trusts_generative(
    diagnostics: dict[str, Any], *, max_misfit: float, max_disagreement: float, min_testable: float
) -> bool:
    """The ``auto`` rule: whether a fit with these ``diagnostics_`` passes every check.

    Public so that benchmarks can replay the rule under other limits without refitting.
    """
    misfit, disagreement = diagnostics["misfit"], diagnostics["disagreement"]
    return (
        not diagnostics["degenerate"]
        and diagnostics["testable_pairs"] >= min_testable
        and misfit is not None
        and misfit <= max_misfit
        and disagreement is not None
        and disagreement <= max_disagreement
    )


def _canonical_order(pairs: np.ndarray) -> np.ndarray:
    """A source order that depends only on each source's statistics, not on its position.

    Key: the source's outcome counts, then the sum over its partners of the squared joint
    counts (symmetric in the partners' order); ties keep the input order.
    """
    own = np.einsum("jaja->ja", pairs)
    spread = (pairs**2).sum(axis=2).reshape(len(pairs), -1)
    features = np.concatenate([own, spread], axis=1)
    return np.lexsort(features.T[::-1])


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else value
