"""Trusted labeling functions and LLM prompts as two families: the LFs teach a reader of the prompts.

Stacking LLM prompt votes beside hand-written LFs breaks the usual label models in a
predictable way. The prompts are many, dense and correlated with each other (one model,
paraphrased questions); their precision is often far below the LFs'. Majority vote lets the
prompts outvote the LFs; a generative model of conditionally independent sources models the
prompts' shared behaviour instead of the class (on SMS spam it learns a 30% spam rate where
there is 13%). Either way a student trained on the merged labels learns the prompts' errors.

This model keeps the families apart and assumes only that their errors are independent of
each other given the class — not that the prompts are independent among themselves:

1. a label model fitted on the *trusted* sources alone (the hand-written LFs) labels the rows
   they vote on;
2. a logistic regression (the *reader*) learns, on those rows, what the whole pattern of the
   *other* sources' votes says about the class — with their correlations, their abstains and
   their imprecision measured against the trusted labels, not against each other;
3. the two posteriors are combined as independent experts, P(y | both) ∝ P(y | trusted)
   P(y | others) / P(y); rows the trusted sources leave alone get the reader's posterior.

On SMS (73 keyword LFs + 73 T0++ prompts) the labels of the rows only the prompts vote on go
from a Brier score of 0.55 (majority vote of the stack) to 0.11; a TF-IDF student on the LFs
and the 36 prompts that beat chance on valid goes from 74 spam F1 (the stack's LabelModel) to
92 — above the 86 it reaches on the LFs alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from weaklabel._validation import ABSTAIN
from weaklabel.label_models._posterior import onehot, softmax_rows
from weaklabel.label_models.base import BaseLabelModel, DevSet, iter_row_chunks
from weaklabel.label_models.label_model import LabelModel
from weaklabel.label_models.majority import MajorityVote

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

__all__ = ["StackedLabelModel"]

TRUSTED_MODELS = {"label_model": LabelModel, "majority_vote": MajorityVote}
C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))
_CV_FOLDS = 5
_CV_MAX_ROWS = 20_000
"""Rows the choice of C is cross-validated on (a seeded sample beyond): the log-loss curve
over C is smooth, and the final fit uses every trusted row."""


class StackedLabelModel(BaseLabelModel):
    """Trusted sources label rows; a logistic regression learns from them to read the others.

    Parameters
    ----------
    trusted
        The trusted family: source names (with a LabelMatrix) or column indices — typically
        the hand-written LFs. Every other source (LLM prompts, other models) is read by the
        logistic regression. Their errors must be independent of the trusted sources' given
        the class; among themselves they may be correlated at will.
    trusted_model
        ``"label_model"`` (``LabelModel``) or ``"majority_vote"``: merges the trusted
        sources. It gets ``y_dev`` and ``class_balance`` when ``fit`` does.
    C
        Inverse L2 strength of the reader; ``None`` chooses it from a grid by cross-validated
        log loss on the trusted rows (grouped by row, so a row's soft targets never straddle
        folds).
    cardinality
        Number of classes; inferred from the votes (or the LabelMatrix) when omitted.
    random_state
        Seeds the cross-validation folds, the trusted model and ``predict``'s tie-breaking.

    Attributes
    ----------
    trusted_indices_
        Columns of the trusted sources.
    trusted_model_
        The fitted label model of the trusted sources.
    reader_coef_, reader_intercept_
        The reader's weights, (k, n_other·k) and (k,): logit of class y adds
        ``reader_coef_[y, j·k + a]`` for each other source j voting a.
    class_balance_
        Class frequencies of the rows the trusted sources label (the reader's prior); rows
        with no vote at all get it.
    C_
        The reader's regularisation, given or chosen.
    diagnostics_
        ``trusted_rows`` (rows the reader learned from), ``cv_log_loss`` per C tried (when
        ``C`` is None), ``reader_agreement`` (share of trusted rows where the reader alone
        predicts the trusted label) and ``reader_only_rows`` (rows of ``L`` only the others
        vote on).
    """

    _fitted_attributes = (
        "trusted_indices_",
        "reader_coef_",
        "reader_intercept_",
        "class_balance_",
        "C_",
        "diagnostics_",
    )

    def __init__(
        self,
        trusted: Sequence[str] | Sequence[int] | None = None,
        trusted_model: str = "label_model",
        C: float | None = None,
        cardinality: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.trusted = trusted
        self.trusted_model = trusted_model
        self.C = C
        self.cardinality = cardinality
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _trusted_columns(self) -> np.ndarray:
        if self.trusted is None or isinstance(self.trusted, str) or len(self.trusted) == 0:
            raise ValueError(
                "StackedLabelModel needs trusted=: the names (or column indices) of the trusted "
                f"sources, e.g. the hand-written LFs; got {self.trusted!r}"
            )
        m = self.n_sources_
        if all(isinstance(t, int | np.integer) and not isinstance(t, bool) for t in self.trusted):
            columns = [int(t) for t in self.trusted]
            bad = [c for c in columns if not 0 <= c < m]
            if bad:
                raise ValueError(f"trusted column(s) {bad} out of range: there are {m} sources")
        else:
            if self.lf_names_ is None:
                raise ValueError(
                    "trusted= names sources, but the votes have no names: pass a LabelMatrix "
                    "or column indices"
                )
            position = {name: j for j, name in enumerate(self.lf_names_)}
            unknown = [t for t in self.trusted if t not in position]
            if unknown:
                raise ValueError(f"trusted source(s) {unknown} are not in the label matrix")
            columns = [position[str(t)] for t in self.trusted]
        if len(set(columns)) != len(columns):
            raise ValueError(f"trusted= lists a source twice: {list(self.trusted)}")
        if len(columns) == m:
            raise ValueError("every source is trusted: there are no other sources to read")
        return np.sort(np.asarray(columns, dtype=np.int64))

    def _others(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.n_sources_), self.trusted_indices_)

    def _fit(self, votes: np.ndarray, dev: DevSet | None, class_balance: np.ndarray | None) -> None:
        if self.trusted_model not in TRUSTED_MODELS:
            raise ValueError(
                f"trusted_model must be one of {sorted(TRUSTED_MODELS)}, got {self.trusted_model!r}"
            )
        if self.C is not None and not self.C > 0:
            raise ValueError(f"C must be > 0 (or None to choose it), got {self.C}")
        k = self.cardinality_
        self.trusted_indices_ = self._trusted_columns()
        trusted_votes = votes[:, self.trusted_indices_]
        self.trusted_model_ = TRUSTED_MODELS[self.trusted_model](
            cardinality=k, random_state=self.random_state
        )
        self.trusted_model_.fit(
            trusted_votes,
            None if dev is None else dev.y,
            class_balance,
            L_dev=None if dev is None else dev.votes[:, self.trusted_indices_],
        )
        covered = (trusted_votes != ABSTAIN).any(axis=1)
        if not covered.any():
            raise ValueError("the trusted sources vote on no row: there is nothing to learn from")
        targets = self.trusted_model_.predict_proba(trusted_votes[covered])
        mass = targets.sum(axis=0)
        if (mass < 1.0).any():
            missing = np.flatnonzero(mass < 1.0).tolist()
            raise ValueError(
                f"the trusted sources (almost) never label class {missing}: the reader cannot "
                "learn what the other sources say about it; trust sources that vote for every class"
            )
        features = _vote_features(votes[covered][:, self._others()], k)
        self.C_, cv_scores = (
            (float(self.C), None) if self.C is not None else self._choose_C(features, targets)
        )
        reader = _fit_reader(features, targets, self.C_)
        self.reader_coef_, self.reader_intercept_ = _multinomial_weights(reader, k)
        self.class_balance_ = mass / mass.sum()
        agreement = self._reader_proba(features).argmax(axis=1) == targets.argmax(axis=1)
        self.diagnostics_ = {
            "trusted_rows": int(covered.sum()),
            "reader_only_rows": int(((votes != ABSTAIN).any(axis=1) & ~covered).sum()),
            "reader_agreement": float(agreement.mean()),
            "cv_log_loss": cv_scores,
        }

    def _choose_C(self, features: sparse.csr_matrix, targets: np.ndarray) -> tuple[float, dict]:
        """The grid's C with the lowest cross-validated log loss of the trusted labels."""
        rng = np.random.default_rng(self.random_state)
        n = features.shape[0]
        rows = np.sort(rng.choice(n, _CV_MAX_ROWS, replace=False)) if n > _CV_MAX_ROWS else np.arange(n)
        if len(rows) < 2 * _CV_FOLDS:
            raise ValueError(
                f"only {len(rows)} rows carry trusted votes: too few to choose C by "
                f"{_CV_FOLDS}-fold cross-validation; pass C="
            )
        # stratified by the trusted label, so that every fold's training part sees every class
        order = np.lexsort((rng.random(len(rows)), targets[rows].argmax(axis=1)))
        folds = np.empty(len(rows), dtype=np.int64)
        folds[order] = np.arange(len(rows)) % _CV_FOLDS
        losses: dict[float, float] = {}
        for C in C_GRID:
            loss = 0.0
            for fold in range(_CV_FOLDS):
                train, held = rows[folds != fold], rows[folds == fold]
                model = _fit_reader(features[train], targets[train], C)
                coef, intercept = _multinomial_weights(model, targets.shape[1])
                probs = softmax_rows(np.asarray(features[held] @ coef.T) + intercept)
                loss -= float(np.sum(targets[held] * np.log(np.clip(probs, 1e-12, None))))
            losses[C] = loss / len(rows)
        return min(losses, key=losses.__getitem__), {f"{C:.4g}": loss for C, loss in losses.items()}

    # ------------------------------------------------------------------ prediction
    def _reader_proba(self, features: sparse.csr_matrix) -> np.ndarray:
        return softmax_rows(np.asarray(features @ self.reader_coef_.T) + self.reader_intercept_)

    def _predict_proba(self, votes: np.ndarray) -> np.ndarray:
        others = self._others()
        out = []
        for chunk in iter_row_chunks(votes):
            trusted = chunk[:, self.trusted_indices_]
            reader = self._reader_proba(_vote_features(chunk[:, others], self.cardinality_))
            covered = (trusted != ABSTAIN).any(axis=1)
            combined = reader
            if covered.any():
                experts = self.trusted_model_.predict_proba(trusted[covered]) * reader[covered]
                experts /= self.class_balance_
                combined[covered] = experts / experts.sum(axis=1, keepdims=True)
            out.append(combined)
        return np.concatenate(out)

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        state["trusted_indices_"] = self.trusted_indices_.tolist()
        state["trusted_model_"] = {
            "params": self.trusted_model_.get_params(),
            "fitted": self.trusted_model_._fitted_state(),
        }
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        self.trusted_indices_ = np.asarray(state["trusted_indices_"], dtype=np.int64)
        nested = state["trusted_model_"]
        self.trusted_model_ = TRUSTED_MODELS[self.trusted_model](**nested["params"])
        self.trusted_model_._restore(nested["fitted"])


def _vote_features(votes: np.ndarray, k: int) -> sparse.csr_matrix:
    """``onehot`` of the votes, kept sparse: built a row chunk at a time, so a million-row
    fit never holds the dense (rows, m·k) indicator."""
    from scipy import sparse  # SciPy and scikit-learn load when the model is fitted or used

    return sparse.vstack(
        [sparse.csr_matrix(onehot(chunk, k, np.float64)) for chunk in iter_row_chunks(votes)],
        format="csr",
    )


def _fit_reader(features: sparse.csr_matrix, targets: np.ndarray, C: float) -> LogisticRegression:
    """Multinomial logistic regression on soft targets: each row once per class, weighted by
    its probability — the expected log loss under the targets, not their argmax."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    n, k = targets.shape
    weights = targets.T.reshape(-1)
    keep = weights > 1e-9
    X = sparse.vstack([features] * k, format="csr")[keep]
    y = np.repeat(np.arange(k), n)[keep]
    return LogisticRegression(C=C, max_iter=2000, tol=1e-6).fit(X, y, sample_weight=weights[keep])


def _multinomial_weights(model: LogisticRegression, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, d) coefficients and (k,) intercepts, also for the binary case (one row in sklearn)."""
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # binary: logit of class 1 against class 0
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    full_coef = np.zeros((k, coef.shape[1]))
    full_intercept = np.full(k, -np.inf)
    full_coef[model.classes_] = coef
    full_intercept[model.classes_] = intercept
    return full_coef, full_intercept
