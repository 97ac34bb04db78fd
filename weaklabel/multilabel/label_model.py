"""Multi-label label models: a two-class label model per label, and what links the labels.

``MultiLabelMajorityVote`` is the baseline: a label is present where more of its
sources vote PRESENT than ABSENT, absent elsewhere (no vote: absent).

``MultiLabelModel`` works in two stages.

1. **Per label, from its own votes.** Each label's columns are a two-class label matrix;
   a copy of the single-label ``LabelModel`` (its
   majority-vote-anchored estimator by default, or the ``base`` given) learns from the rows
   where at least one of them votes and gives ``P(present | votes)`` there. Aspect LFs are usually one-sided — a keyword says
   "present" and is silent otherwise — so the rows where no source of a label votes carry
   no vote to learn from; they get ``unvoted_rate``, the convention of majority vote (a
   label no source asserts is absent) stated as a small probability.
2. **With labeled dev rows, per label, what silence means — and what the other labels say.**
   On the rows where a label's sources are silent, a logistic regression with the stage-1
   log-odds as offset (so with no evidence it changes nothing) learns from the dev rows how
   often the label is present there and — the co-occurrence step — how the other labels'
   probabilities shift that (in review sentences, a row whose only clear aspect is the
   staff often has a second, unmarked one). Rows with votes keep their stage-1
   probabilities: learned from every train row, they know more than a hundred dev rows.
   Per label, five-fold cross-validation on the dev rows keeps the stage-1 output unless
   the calibration, then the calibration with co-occurrence, predicts the held-out dev rows
   better by more than two standard errors: the co-occurrence is used only where it
   clearly helps.

Everything is vectorised over rows; the per-label loop is over the k labels only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from weaklabel._estimator import EstimatorMixin
from weaklabel.exceptions import DegenerateFitWarning
from weaklabel.label_models.base import BaseLabelModel, load_label_model
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix
from weaklabel.multilabel.metrics import check_indicator, multilabel_scores
from weaklabel.multilabel.statistics import MultiLabelStatistics

__all__ = ["CALIBRATIONS", "MultiLabelMajorityVote", "MultiLabelModel"]

CALIBRATIONS = ("votes", "calibrated", "co_occurrence")
"""What ``MultiLabelModel`` keeps per label: the stage-1 probabilities, their
calibration on dev rows, or the calibration that also reads the other labels."""
_EPS = 1e-4
_FORMAT = "weaklabel.MultiLabelModel"
_FORMAT_VERSION = 1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


class _MultiLabelEstimator(EstimatorMixin):
    """Input checks, prediction and scoring shared by the multi-label label models."""

    _fitted_marker = "classes_"

    def _check_matrix(self, M: Any, what: str = "M") -> MultiLabelMatrix:
        if not isinstance(M, MultiLabelMatrix):
            raise TypeError(
                f"{what} must be a MultiLabelMatrix (see weaklabel.multilabel.apply_multilabel_lfs), "
                f"got {type(M).__name__}"
            )
        return M

    def _remember(self, M: MultiLabelMatrix) -> None:
        self.classes_ = M.classes
        self.lf_names_ = M.lf_names
        self.targets_ = M.targets

    def _check_same(self, M: Any, what: str = "M") -> MultiLabelMatrix:
        self._check_fitted()
        return self._check_like(M, what)

    def _check_like(self, M: Any, what: str) -> MultiLabelMatrix:
        """``M`` has the classes and sources remembered from the training matrix."""
        M = self._check_matrix(M, what)
        if M.classes != self.classes_:
            raise ValueError(f"{what} has classes {M.classes}; the model was fitted on {self.classes_}")
        if M.lf_names != self.lf_names_ or M.targets != self.targets_:
            raise ValueError(
                f"{what} has other sources than the model was fitted on "
                f"({M.lf_names} vs {self.lf_names_}); pass the same sources in the same order"
            )
        return M

    def predict_proba(self, M: MultiLabelMatrix) -> np.ndarray:
        raise NotImplementedError

    def predict(self, M: MultiLabelMatrix, threshold: float | Sequence[float] = 0.5) -> np.ndarray:
        """``(n, k)`` 0/1: present where the probability exceeds ``threshold`` (one, or
        one per label)."""
        probs = self.predict_proba(M)
        cut = np.broadcast_to(np.asarray(threshold, dtype=float), (probs.shape[1],))
        return (probs > cut[None, :]).astype(np.int8)

    def score(self, M: MultiLabelMatrix, Y: Any) -> float:
        """Subset accuracy (rows whose whole label set is right), scikit-learn's ``score``
        for multi-label classifiers; ``evaluate`` gives F1 and the rest."""
        return self.evaluate(M, Y)["subset_accuracy"]

    def evaluate(self, M: MultiLabelMatrix, Y: Any, threshold: float | Sequence[float] = 0.5) -> dict[str, float]:
        """Micro/macro F1 and the rest of ``multilabel_scores``
        against gold ``Y`` (``(n, k)`` 0/1; ``-1`` rows unknown)."""
        gold = check_indicator(Y, len(self.classes_))
        return multilabel_scores(gold, self.predict(M, threshold))


class MultiLabelMajorityVote(_MultiLabelEstimator):
    """Per label: the share of its sources' votes that say PRESENT; 0 where none votes.

    ``predict`` (threshold 0.5) is present where PRESENT votes outnumber ABSENT votes.
    """

    def fit(self, M: MultiLabelMatrix, Y_dev: Any = None, M_dev: Any = None) -> MultiLabelMajorityVote:
        """Nothing to learn: remembers the classes and sources (dev rows are not used)."""
        self._remember(self._check_matrix(M))
        return self

    def predict_proba(self, M: MultiLabelMatrix) -> np.ndarray:
        present, absent = self._check_same(M).vote_counts()
        total = present + absent
        return np.where(total > 0, present / np.maximum(total, 1), 0.0)


class MultiLabelModel(_MultiLabelEstimator):
    """One label model per label, calibrated and linked through co-occurrence on dev rows.

    Parameters
    ----------
    base
        The two-class label model copied for every label (unfitted; its parameters are
        reused). Default: ``LabelModel`` with its
        majority-vote-anchored estimator. A label often has a handful of positive rows and
        one-sided sources, too little for the checks that let the generative estimator in
        to tell a good latent-class fit from a bad one: on the tropes set (13 LLMs naming
        sets of 72 classes, 114 rows) letting each label choose fell below majority vote;
        on MAMS every label chose the anchored estimator anyway. ``base=LabelModel()``
        lets each label choose.
    co_occurrence
        ``"auto"``: per label, use the other labels where cross-validation on the dev rows
        shows it helps; ``True``: always (with dev rows); ``False``: never.
    unvoted_rate
        Probability that a label is present on a row none of its sources votes on, before
        dev rows correct it (see the module docstring).
    penalty
        L2 strength of the dev calibrations, pulling them toward "change nothing".
    cv_folds
        Folds of the cross-validation that chooses each label's calibration.
    random_state
        Seeds the per-label models and the folds.

    Attributes
    ----------
    label_models_
        The fitted two-class model of each label (``None`` for a label whose sources never vote).
    calibration_
        Per label, one of ``CALIBRATIONS``.
    coef_
        Per label, the calibration's coefficients (empty for ``"votes"``).
    cv_log_loss_
        Per label, the cross-validated dev log-loss of each calibration tried.
    """

    _fitted_marker = "calibration_"

    def __init__(
        self,
        base: BaseLabelModel | None = None,
        *,
        co_occurrence: bool | str = "auto",
        unvoted_rate: float = 0.01,
        penalty: float = 1.0,
        cv_folds: int = 5,
        random_state: int | None = None,
    ) -> None:
        self.base = base
        self.co_occurrence = co_occurrence
        self.unvoted_rate = unvoted_rate
        self.penalty = penalty
        self.cv_folds = cv_folds
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.co_occurrence not in ("auto", True, False):
            raise ValueError(f"co_occurrence must be 'auto', True or False, got {self.co_occurrence!r}")
        if not 0 < self.unvoted_rate < 1:
            raise ValueError(f"unvoted_rate must be in (0, 1), got {self.unvoted_rate!r}")
        if not self.penalty > 0:
            raise ValueError(f"penalty must be > 0, got {self.penalty!r}")
        if not isinstance(self.cv_folds, int) or self.cv_folds < 2:
            raise ValueError(f"cv_folds must be an integer >= 2, got {self.cv_folds!r}")

    def _new_base(self) -> BaseLabelModel:
        if self.base is None:
            from weaklabel.label_models import LabelModel

            return LabelModel(cardinality=2, estimator="anchored", random_state=self.random_state)
        if not isinstance(self.base, BaseLabelModel):
            raise TypeError(f"base must be a weaklabel label model, got {type(self.base).__name__}")
        return type(self.base)(**self.base.get_params())

    def fit(self, M: MultiLabelMatrix, Y_dev: Any = None, M_dev: MultiLabelMatrix | None = None) -> MultiLabelModel:
        """Learn from the per-label votes ``M``; with gold ``Y_dev`` (an ``(n_dev, k)`` 0/1
        matrix, ``-1`` rows unknown) of the rows ``M_dev`` (default: the rows of ``M``), also
        the dev calibrations."""
        M = self._check_matrix(M)
        return self.fit_chunks([M], Y_dev, M if Y_dev is not None and M_dev is None else M_dev)

    def fit_chunks(self, chunks: Iterable[MultiLabelMatrix], Y_dev: Any = None, M_dev: Any = None) -> MultiLabelModel:
        """Fit from row chunks of one matrix (e.g. Parquet shards), read once; gold labels
        need their own votes (``Y_dev`` with ``M_dev``)."""
        stats = None
        for position, chunk in enumerate(chunks):
            chunk = self._check_matrix(chunk, f"chunk {position}")
            if stats is None:
                stats = self.new_statistics(chunk.lf_names, chunk.targets, chunk.classes)
            elif (chunk.lf_names, chunk.targets, chunk.classes) != (stats.lf_names, stats.targets, stats.classes):
                raise ValueError(f"chunk {position} has other sources or classes than chunk 0")
            stats.update(chunk.votes)
        if stats is None:
            raise ValueError("fit_chunks got no chunks")
        return self.fit_statistics(stats, Y_dev, M_dev)

    def new_statistics(self, lf_names: Sequence[str], targets: Sequence[str], classes: Sequence[str]) -> MultiLabelStatistics:
        """Empty statistics to fill with row blocks (``update``) and merge, then pass to
        ``fit_statistics``: how streaming and Dask fits work."""
        self._check_params()
        base = self._new_base()
        maker = getattr(base, "new_statistics", None)
        return MultiLabelStatistics(lf_names, targets, classes, None if maker is None else lambda m: maker(m, 2))

    def fit_statistics(self, stats: MultiLabelStatistics, Y_dev: Any = None, M_dev: Any = None) -> MultiLabelModel:
        """Fit from accumulated ``MultiLabelStatistics`` (see ``new_statistics``)."""
        self._check_params()
        if stats.n_rows == 0:
            raise ValueError("cannot fit a multi-label model on no rows")
        self.classes_, self.lf_names_, self.targets_ = stats.classes, stats.lf_names, stats.targets
        if Y_dev is not None and M_dev is None:
            raise ValueError("Y_dev needs its rows' votes (M_dev) when fitting from chunks or statistics")
        dev = self._dev_rows(Y_dev, M_dev)
        self.label_models_ = [self._fit_label(stats, c) for c in range(len(stats.classes))]
        k = len(stats.classes)
        self.calibration_ = ["votes"] * k
        self.coef_ = [np.empty(0)] * k
        self.cv_log_loss_: list[dict[str, float]] = [{} for _ in range(k)]
        if dev is not None:
            self._fit_calibrations(*dev)
        return self

    def _dev_rows(self, Y_dev: Any, M_dev: Any) -> tuple[MultiLabelMatrix, np.ndarray] | None:
        if Y_dev is None:
            if M_dev is not None:
                raise ValueError("M_dev was given without Y_dev (the gold labels of its rows)")
            return None
        rows = self._check_like(M_dev, "M_dev")
        gold = check_indicator(Y_dev, len(self.classes_), name="Y_dev")
        if len(gold) != rows.n_rows:
            raise ValueError(f"Y_dev has {len(gold)} rows, its votes {rows.n_rows}")
        known = (gold >= 0).all(axis=1)
        if not known.any():
            raise ValueError("Y_dev holds no known row (all -1)")
        return rows.take(np.flatnonzero(known)), gold[known]

    def _fit_label(self, stats: MultiLabelStatistics, c: int) -> BaseLabelModel | None:
        if stats.per_label[c] is None or stats.covered[c] == 0:
            return None
        # A latent-class fit on a rare label with few rows can invent a class balance far
        # from what the votes say, and the handful of dev rows a rare label's sources vote
        # on cannot fix it: anchor it to majority vote's. Dev rows act in stage 2.
        rate = (stats.present[c] + 1.0) / (stats.covered[c] + 2.0)
        balance = [1.0 - rate, rate]
        names = stats.sources_of(c)
        model = self._new_base()
        with warnings.catch_warnings():
            # One-sided sources (a keyword says "present" or nothing) never vote the other
            # class: expected here, and the rows without votes are handled by this model.
            warnings.filterwarnings("ignore", "LabelModel: no source votes for class", DegenerateFitWarning)
            if isinstance(stats.per_label[c], list):
                L = LabelMatrix(stats.covered_votes(c), names, cardinality=2, class_names=VOTE_NAMES)
                return model.fit(L, class_balance=balance)
            # statistics exist only for a base that makes them (new_statistics): it fits from them
            fit_statistics = cast(Any, model).fit_statistics
            return fit_statistics(stats.per_label[c], class_balance=balance, lf_names=names)

    def _stage1(self, M: MultiLabelMatrix) -> tuple[np.ndarray, np.ndarray]:
        """``(q, uncovered)``: per-label probabilities from each label's own votes."""
        q = np.full((M.n_rows, M.n_classes), self.unvoted_rate)
        uncovered = np.ones((M.n_rows, M.n_classes), dtype=bool)
        for c, model in enumerate(self.label_models_):
            if model is None:
                continue
            L = M.label(c)
            covered = (L.votes != ABSTAIN).any(axis=1)
            uncovered[:, c] = ~covered
            if covered.any():
                q[covered, c] = model.predict_proba(L.take(covered))[:, 1]
        return q, uncovered

    # ------------------------------------------------------------------ dev calibration
    def _fit_calibrations(self, M_dev: MultiLabelMatrix, gold: np.ndarray) -> None:
        q, uncovered = self._stage1(M_dev)
        rng = np.random.default_rng(self.random_state)
        folds = rng.permutation(len(gold)) % min(self.cv_folds, len(gold))
        candidates = ["votes", "calibrated"]
        if self.co_occurrence is True:
            candidates = ["co_occurrence"]
        elif self.co_occurrence == "auto" and M_dev.n_classes > 1:
            candidates.append("co_occurrence")
        for c in range(M_dev.n_classes):
            y = gold[:, c].astype(float)
            losses = {kind: self._cv_losses(kind, q, uncovered, c, y, folds) for kind in candidates}
            best = candidates[0]
            for kind in candidates[1:]:
                if _clearly_better(losses[kind], losses[best]):
                    best = kind
            self.cv_log_loss_[c] = {kind: float(loss.mean()) for kind, loss in losses.items()}
            self.calibration_[c] = best
            if best != "votes":
                offset, X = _design(best, q, uncovered, c)
                self.coef_[c] = _fit_offset_logistic(X, offset, y, self.penalty)

    def _cv_losses(
        self, kind: str, q: np.ndarray, uncovered: np.ndarray, c: int, y: np.ndarray, folds: np.ndarray
    ) -> np.ndarray:
        """Per dev row, the log-loss of ``kind`` fitted without the row's fold."""
        offset, X = _design(kind, q, uncovered, c)
        if kind == "votes":
            return _log_losses(y, expit(offset))
        probs = np.empty(len(y))
        for fold in np.unique(folds):
            test = folds == fold
            coef = _fit_offset_logistic(X[~test], offset[~test], y[~test], self.penalty)
            probs[test] = expit(offset[test] + X[test] @ coef)
        return _log_losses(y, probs)

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, M: MultiLabelMatrix) -> np.ndarray:
        """``(n, k)``: the probability that each label is present on each row."""
        M = self._check_same(M)
        q, uncovered = self._stage1(M)
        probs = q.copy()
        for c, kind in enumerate(self.calibration_):
            if kind != "votes":
                offset, X = _design(kind, q, uncovered, c)
                probs[:, c] = expit(offset + X @ self.coef_[c])
        return probs

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to the folder ``path``: ``multilabel_model.json`` and one
        ``label_<i>.json`` per label (the two-class models' own JSON format). No pickle."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        files: list[str | None] = []
        for c, model in enumerate(self.label_models_):
            if model is None:
                files.append(None)
                continue
            name = f"label_{c}.json"
            files.append(name)
            model.save(path / name)
        params = self.get_params()
        base = params.pop("base")
        payload = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": params,
            "base": None if base is None else {"model": type(base).__name__, "params": base.get_params()},
            "classes": self.classes_,
            "lf_names": self.lf_names_,
            "targets": self.targets_,
            "label_model_files": files,
            "calibration": self.calibration_,
            "coef": [coef.tolist() for coef in self.coef_],
            "cv_log_loss": self.cv_log_loss_,
        }
        (path / "multilabel_model.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> MultiLabelModel:
        """Read a model written by ``save``."""
        path = Path(path)
        file = path / "multilabel_model.json"
        if not file.is_file():
            raise FileNotFoundError(f"no saved multi-label model at {path} (missing {file.name})")
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
            if payload.get("format") != _FORMAT or payload.get("version") != _FORMAT_VERSION:
                raise ValueError(f"format {payload.get('format')!r} version {payload.get('version')!r}")
            base = None
            if payload["base"] is not None:
                from weaklabel import label_models

                base = getattr(label_models, payload["base"]["model"])(**payload["base"]["params"])
            model = cls(base, **payload["params"])
            model.classes_ = payload["classes"]
            model.lf_names_ = payload["lf_names"]
            model.targets_ = payload["targets"]
            model.label_models_ = [
                None if name is None else load_label_model(path / name) for name in payload["label_model_files"]
            ]
            model.calibration_ = payload["calibration"]
            model.coef_ = [np.asarray(coef, dtype=float) for coef in payload["coef"]]
            model.cv_log_loss_ = payload["cv_log_loss"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path} is not a saved multi-label model or is corrupt: {exc}") from exc
        return model


def _design(kind: str, q: np.ndarray, uncovered: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, X)`` of label ``c``'s calibration: the stage-1 log-odds, and the features
    whose coefficients correct them on the rows where the label's sources are silent (the
    rows with votes keep their stage-1 probabilities: learned from every train row, they
    know more than a hundred dev rows). ``calibrated``: how often the label is present when
    its sources are silent; ``co_occurrence``: also as a function of the other labels."""
    offset = _logit(q[:, c])
    silent = uncovered[:, c].astype(float)
    if kind == "votes":
        return offset, np.empty((len(q), 0))
    columns = [np.ones(len(q))]
    if kind == "co_occurrence":
        others = np.delete(q, c, axis=1)
        columns += [*others.T, others.sum(axis=1)]
    return offset, np.column_stack(columns) * silent[:, None]


def _log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _clearly_better(candidate: np.ndarray, incumbent: np.ndarray) -> bool:
    """Whether the candidate's held-out log-loss is lower by more than two standard errors
    of the paired per-row difference: a hundred dev rows leave much noise, and a
    calibration that only seems better moves rare labels' probabilities across 0.5."""
    difference = incumbent - candidate
    return bool(difference.mean() > 2 * difference.std(ddof=1) / np.sqrt(len(difference)))


def _fit_offset_logistic(X: np.ndarray, offset: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Coefficients minimising the log-loss of ``expit(offset + X @ coef)`` plus
    ``penalty / 2 * |coef|^2``: with no data the answer is 0, i.e. the offset unchanged."""

    def objective(coef: np.ndarray) -> tuple[float, np.ndarray]:
        z = offset + X @ coef
        p = expit(z)
        loss = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * penalty * coef @ coef
        grad = X.T @ (p - y) + penalty * coef
        return float(loss), grad

    result = minimize(objective, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B")
    return result.x

