"""What every label model shares: input checks, prediction, scoring and JSON persistence.

A label model turns a vote matrix (rows x sources, ``-1`` = abstain) into one probability per
class and row. Subclasses implement two things: ``_fit(votes, dev)`` to learn their parameters
and ``_predict_proba(votes)`` to apply them; everything else — validating the matrix, the
dev labels and the class balance, breaking ties, scoring, saving — lives here once, so all
models fail on bad input with the same messages and predict the same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from weaklabel._estimator import EstimatorMixin
from weaklabel._io import read_json, write_json
from weaklabel._validation import (
    ABSTAIN,
    check_cardinality,
    check_class_names,
    check_gold,
    check_vote_array,
    is_label_matrix,
    refuse_sparse,
)
from weaklabel.exceptions import DegenerateFitWarning, SourceQualityWarning
from weaklabel.metrics import score_predictions

if TYPE_CHECKING:
    from weaklabel.exceptions import NotFittedError

__all__ = [
    "TIE_BREAKS",
    "BaseLabelModel",
    "DegenerateFitWarning",
    "DevSet",
    "NotFittedError",
    "SourceQualityWarning",
    "break_ties",
    "check_class_balance",
    "check_votes",
    "infer_cardinality",
    "iter_row_chunks",
    "load_label_model",
    "probs_columns",
    "warn_degenerate",
]

TIE_BREAKS = ("random", "abstain", "first")
TIE_TOLERANCE = 1e-9
"""Probabilities within this (relative) distance of a row's top one tie: computed in
different orders they differ in the last bits."""
_FORMAT = "weaklabel.label_model"
_FORMAT_VERSION = 1
ROW_CHUNK = 65_536
"""Rows processed at once in every pass over a matrix: bounds temporary memory to a few MB
per source whatever the number of rows."""


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":  # scikit-learn's, under weaklabel's root: built on first use
        from weaklabel import exceptions

        return exceptions.NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DevSet:
    """Gold-labelled rows available to ``fit``: their votes and labels (all labels known)."""

    votes: np.ndarray
    y: np.ndarray


def iter_row_chunks(votes: np.ndarray, size: int = ROW_CHUNK) -> Iterator[np.ndarray]:
    """Consecutive row blocks of ``votes`` (views, no copy)."""
    for start in range(0, votes.shape[0], size):
        yield votes[start : start + size]


def check_votes(L: Any, cardinality: int | None = None) -> np.ndarray:
    """``L`` as a validated signed-integer vote array, without copying integer numpy input.

    A million-row matrix would cost 8 bytes per vote as an int64 copy, so signed integer
    arrays are range-checked in place and only handed to the full check (for its precise
    error message) when a check fails; other input (lists, floats) goes through it directly.
    """
    if is_label_matrix(L):
        if cardinality is not None and L.cardinality > cardinality:
            check_vote_array(L.votes, cardinality)
        return L.votes
    refuse_sparse(L)
    arr = np.asarray(L)
    if arr.dtype.kind == "i" and arr.ndim == 2:
        if arr.size and (
            arr.min() < ABSTAIN or (cardinality is not None and arr.max() >= cardinality)
        ):
            check_vote_array(arr, cardinality)  # raises, naming row, column and value
        return arr
    return check_vote_array(arr, cardinality).astype(np.int64, copy=False)


def infer_cardinality(L: Any, votes: np.ndarray, cardinality: int | None) -> int:
    """The number of classes: given, else the LabelMatrix's, else the largest vote + 1."""
    if cardinality is not None:
        cardinality = check_cardinality(cardinality)
        if is_label_matrix(L) and L.cardinality != cardinality:
            raise ValueError(
                f"the model was built with cardinality={cardinality} but the LabelMatrix has "
                f"cardinality {L.cardinality}"
            )
        return cardinality
    if is_label_matrix(L):
        return int(L.cardinality)
    largest = int(votes.max()) if votes.size else ABSTAIN
    if largest + 1 < 2:
        raise ValueError(
            f"cannot infer the number of classes from these votes (largest vote {largest}); "
            "pass cardinality= to the model"
        )
    return largest + 1


def check_class_balance(class_balance: Any, cardinality: int) -> np.ndarray:
    """A validated class prior: ``cardinality`` positive numbers summing to one."""
    prior = np.asarray(class_balance, dtype=float)
    if prior.shape != (cardinality,):
        raise ValueError(
            f"class_balance must hold {cardinality} numbers (one per class), got shape {prior.shape}"
        )
    if not np.all(np.isfinite(prior)) or np.any(prior <= 0):
        raise ValueError(f"class_balance must be positive and finite, got {prior.tolist()}")
    if abs(prior.sum() - 1.0) > 1e-6:
        raise ValueError(f"class_balance must sum to 1, got {prior.sum():.6g} ({prior.tolist()})")
    return prior


def _class_counts(y: np.ndarray, cardinality: int) -> np.ndarray:
    return np.bincount(y, minlength=cardinality).astype(float)


class BaseLabelModel(EstimatorMixin):
    """Shared contract of the label models: a scikit-learn estimator over vote matrices.

    ``__init__`` only stores arguments; ``fit`` validates, learns and returns ``self``;
    learned state ends in ``_``. Subclasses set ``cardinality`` and ``random_state`` in their
    ``__init__`` and implement ``_fit`` and ``_predict_proba``. ``get_params``/``set_params``,
    tags and the fitted check follow scikit-learn's protocol (``sklearn.base.clone`` works)
    without importing it: see ``weaklabel._estimator``.

    Fitted attributes every model has: ``classes_`` (the class names, in the order of the
    LabelMatrix's ``class_names``, else ``0..k-1``), ``n_features_in_`` (sources),
    ``feature_names_in_`` (source names, when the votes came as a LabelMatrix),
    ``cardinality_``, ``lf_names_`` and ``class_balance_``.
    """

    _fitted_attributes: ClassVar[tuple[str, ...]] = ()
    """Learned arrays/values written by ``save`` (besides the shared ones)."""
    _fitted_marker = "class_balance_"  # set last by every model's _fit
    tie_tolerance: ClassVar[float] = TIE_TOLERANCE

    cardinality: int | None
    random_state: int | None
    class_balance_: np.ndarray

    def _more_sklearn_tags(self, tags: Any) -> None:
        tags.input_tags.categorical = True  # votes are class indices, not magnitudes
        tags.target_tags.single_output = True
        tags.non_deterministic = False

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        L: Any,
        y_dev: Any = None,
        class_balance: Any = None,
        *,
        L_dev: Any = None,
    ) -> BaseLabelModel:
        """Learn from the votes ``L`` (a LabelMatrix or an array with ``-1`` for abstain).

        Parameters
        ----------
        L
            Votes of the (unlabelled) training rows, shape (n_rows, n_sources).
        y_dev
            A few gold labels (class indices, or class names when ``L`` is a LabelMatrix
            with ``class_names``). With ``L_dev``: the labels of those dev rows. Without:
            one label per row of ``L``, ``-1`` where unknown. Used for the class balance and,
            where the model has a choice, to pick the estimator that scores best on them.
        class_balance
            The class prior, if known (overrides the one learned or read from ``y_dev``).
        L_dev
            Votes of the rows labelled by ``y_dev``, when they are not rows of ``L``.
        """
        self._reset()
        votes = check_votes(L, self.cardinality)
        if votes.shape[0] == 0 or votes.shape[1] == 0:
            empty = "0 sample(s)" if votes.shape[0] == 0 else "0 feature(s)"
            raise ValueError(
                f"cannot fit a label model on an empty label matrix: {empty} (shape="
                f"{votes.shape}) while a minimum of 1 is required (rows x sources)"
            )
        k = infer_cardinality(L, votes, self.cardinality)
        self._set_shape(L, votes.shape[1], k)
        dev = self._dev_set(votes, y_dev, L_dev)
        prior = None if class_balance is None else check_class_balance(class_balance, k)
        self._fit(votes, dev, prior)
        return self

    def _reset(self) -> None:
        """Forget learned state: a failed refit must not leave a half-fitted model behind."""
        for name in [
            name for name in vars(self) if name.endswith("_") and not name.startswith("_")
        ]:
            delattr(self, name)

    def _set_shape(
        self,
        L: Any,
        n_sources: int,
        cardinality: int,
        lf_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        """The shared fitted attributes; names come from a LabelMatrix ``L`` or are given."""
        if is_label_matrix(L):
            lf_names, class_names = L.lf_names, L.class_names
        self.cardinality_ = cardinality
        self.n_sources_ = self.n_features_in_ = n_sources
        self.lf_names_ = None if lf_names is None else list(lf_names)
        if self.lf_names_ is not None:
            self.feature_names_in_ = np.asarray(self.lf_names_, dtype=object)
        names = check_class_names(class_names, cardinality)
        self.classes_ = np.arange(cardinality) if names is None else np.asarray(names, dtype=object)

    @property
    def class_names_(self) -> list[str] | None:
        """The class names (``None`` when the classes are only indices)."""
        classes = self.classes_
        return None if classes.dtype.kind in "iu" else [str(c) for c in classes]

    def _gold(self, y: Any, n_rows: int, what: str) -> np.ndarray:
        return check_gold(y, n_rows, self.cardinality_, what, self.class_names_)

    def _dev_set(self, votes: np.ndarray, y_dev: Any, L_dev: Any) -> DevSet | None:
        if y_dev is None:
            if L_dev is not None:
                raise ValueError("L_dev was given without y_dev (the gold labels of its rows)")
            return None
        if L_dev is None:
            gold = self._gold(y_dev, votes.shape[0], "y_dev (one label per row of L, -1 = unknown)")
            dev_votes = votes
        else:
            dev_votes = self._check_same_sources(check_votes(L_dev, self.cardinality_), "L_dev")
            gold = self._gold(y_dev, dev_votes.shape[0], "y_dev (one label per row of L_dev)")
        known = gold >= 0
        if not known.any():
            raise ValueError("y_dev holds no known label (all -1)")
        return DevSet(votes=np.asarray(dev_votes)[known], y=gold[known])

    def _fit(self, votes: np.ndarray, dev: DevSet | None, class_balance: np.ndarray | None) -> None:
        raise NotImplementedError

    @staticmethod
    def _prior_from(
        dev: DevSet | None, class_balance: np.ndarray | None, cardinality: int
    ) -> np.ndarray | None:
        """The class prior fixed by the caller: ``class_balance``, else smoothed ``y_dev`` counts."""
        if class_balance is not None:
            return class_balance
        return None if dev is None else BaseLabelModel._dev_prior(dev, cardinality)

    @staticmethod
    def _dev_prior(dev: DevSet, cardinality: int) -> np.ndarray:
        """The class shares of ``y_dev``, add-one smoothed: no class gets zero mass."""
        counts = _class_counts(dev.y, cardinality) + 1.0
        return counts / counts.sum()

    # ------------------------------------------------------------------ prediction
    def _check_same_sources(self, votes: np.ndarray, what: str = "L") -> np.ndarray:
        if votes.ndim != 2 or votes.shape[1] != self.n_sources_:
            found = votes.shape[1] if votes.ndim == 2 else "?"
            raise ValueError(
                f"X has {found} features, but {type(self).__name__} is expecting "
                f"{self.n_sources_} features as input: {what} has {found} sources but the model "
                f"was fitted on {self.n_sources_}; pass the same sources in the same order"
            )
        return votes

    def _checked(self, L: Any) -> np.ndarray:
        self._check_fitted()
        votes = self._check_same_sources(check_votes(L, self.cardinality_))
        if is_label_matrix(L) and self.lf_names_ is not None and L.lf_names != self.lf_names_:
            diff = next(
                i for i, (a, b) in enumerate(zip(L.lf_names, self.lf_names_, strict=True)) if a != b
            )
            raise ValueError(
                f"source {diff} is {L.lf_names[diff]!r} but the model was fitted with "
                f"{self.lf_names_[diff]!r} there; pass the same sources in the same order"
            )
        return votes

    def predict_proba(self, L: Any) -> np.ndarray:
        """Probability of each class for each row, shape (n_rows, cardinality), columns in
        the order of ``classes_``.

        Rows on which every source abstains get the class prior ``class_balance_``.
        """
        votes = self._checked(L)
        if votes.shape[0] == 0:
            return np.empty((0, self.cardinality_))
        probs = self._predict_proba(votes)
        probs[(votes == ABSTAIN).all(axis=1)] = self.class_balance_
        return probs

    def _predict_proba(self, votes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self, L: Any, tie_break: str = "random", *, return_names: bool = False
    ) -> np.ndarray:
        """The most probable class per row: its index (``-1`` = abstained), or its name.

        Parameters
        ----------
        tie_break
            What to do when several classes share the top probability: ``"random"`` picks one
            with a generator seeded by ``random_state`` (same input, same output),
            ``"abstain"`` returns ``-1`` (Snorkel's default), ``"first"`` the lowest class index.
        return_names
            Return the class names of ``classes_`` (an object array; ``None`` where the model
            abstained) instead of indices.
        """
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        probs = self.predict_proba(L)
        pred = break_ties(probs, tie_break, self.random_state, self.tie_tolerance)
        if not return_names:
            return pred
        names = np.asarray([*self.classes_, None], dtype=object)
        return names[pred]  # -1 picks the trailing None

    def score(self, L: Any, y: Any) -> float:
        """Accuracy of ``predict`` against gold ``y`` (scikit-learn's ``score``).

        ``y`` holds class indices or names; ``-1`` (unknown) rows are left out. For F1,
        coverage and Snorkel's way of counting abstentions use ``evaluate``.
        """
        return self.evaluate(L, y, ("accuracy",))["accuracy"]

    def evaluate(
        self,
        L: Any,
        y: Any,
        metrics: Sequence[str] = ("accuracy", "f1"),
        tie_break: str = "random",
        abstains: Literal["wrong", "exclude"] = "wrong",
    ) -> dict[str, float]:
        """Scores of ``predict`` against gold ``y`` (``-1`` = unknown, left out).

        ``f1`` is the F1 of the positive class (class 1) for binary tasks, as the
        weak-supervision literature reports it, and macro F1 for more classes.
        ``abstains`` decides what a row the model abstains on (``tie_break="abstain"``)
        counts as: ``"wrong"``, or ``"exclude"``d from every metric but ``coverage`` (as
        Snorkel's ``LabelModel.score`` does).
        """
        votes = self._checked(L)
        gold = self._gold(y, votes.shape[0], "y")
        pred = self.predict(votes, tie_break=tie_break)
        return score_predictions(
            gold, pred, metrics, cardinality=self.cardinality_, abstains=abstains
        )

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "cardinality_": self.cardinality_,
            "n_sources_": self.n_sources_,
            "lf_names_": self.lf_names_,
            "class_names_": self.class_names_,
        }
        for name in self._fitted_attributes:
            value = getattr(self, name)
            state[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self._set_shape(
            None,
            int(state["n_sources_"]),
            int(state["cardinality_"]),
            state["lf_names_"],
            state.get("class_names_"),  # absent in files saved before class names were kept
        )
        for name in self._fitted_attributes:
            value = state[name]
            setattr(
                self, name, np.asarray(value, dtype=float) if isinstance(value, list) else value
            )

    def save(self, path: str | Path) -> Path:
        """Write the hyperparameters and learned parameters to a JSON file (never a pickle):
        versioned and checksummed, written atomically."""
        self._check_fitted()
        params = {
            name: value.tolist() if isinstance(value, np.ndarray) else value
            for name, value in self.get_params().items()
        }
        body = {"model": type(self).__name__, "params": params, "fitted": self._fitted_state()}
        return write_json(path, _FORMAT, _FORMAT_VERSION, body)

    @classmethod
    def load(cls, path: str | Path) -> BaseLabelModel:
        """Read a model written by ``save``; ``BaseLabelModel.load`` accepts any model."""
        model = load_label_model(path)
        if cls is not BaseLabelModel and not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def load_label_model(path: str | Path) -> BaseLabelModel:
    """Load any label model saved with ``save``: the file names its class."""
    body = read_json(path, _FORMAT, _FORMAT_VERSION, "label model")
    registry = {sub.__name__: sub for sub in _subclasses(BaseLabelModel)}
    name = body.get("model")
    if name not in registry:
        raise ValueError(f"{path} holds an unknown label model {name!r}; known: {sorted(registry)}")
    try:
        model = registry[name](**body["params"])
        model._restore(body["fitted"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is corrupt: {exc}") from exc
    return model


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found.extend([sub, *_subclasses(sub)])
    return found


def break_ties(
    probs: np.ndarray,
    tie_break: str,
    random_state: int | None,
    tolerance: float = TIE_TOLERANCE,
) -> np.ndarray:
    """argmax of each row, ties resolved by ``tie_break`` (see ``BaseLabelModel.predict``).

    Classes within ``tolerance`` (relative to the top probability, at least absolute) of the
    top one tie.
    """
    if probs.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    top = probs.max(axis=1, keepdims=True)
    tied = probs >= top - tolerance * np.maximum(top, 1.0)
    if tie_break == "first":
        return np.argmax(tied, axis=1).astype(np.int64)
    n_tied = tied.sum(axis=1)
    if tie_break == "abstain":
        return np.where(n_tied > 1, ABSTAIN, np.argmax(tied, axis=1)).astype(np.int64)
    rng = np.random.default_rng(random_state)
    keys = rng.random(probs.shape) * tied  # a random tied class wins; untied rows unchanged
    return np.argmax(keys, axis=1).astype(np.int64)


def probs_columns(
    probs: np.ndarray,
    votes: np.ndarray,
    class_names: Sequence[Any] | None = None,
    predicted: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The columns of every probabilistic-label table (``probs.parquet`` and its streamed and
    Dask twins): ``prob_<class>``, ``n_votes``, ``predicted_label`` and ``predicted_index``.

    ``predicted_label`` is the predicted class's name (its index as text when the classes
    have no names), so that ``f"prob_{predicted_label}"`` is always its probability column;
    ``predicted_index`` is its index in the class order. ``predicted`` (argmax by default)
    may hold ``-1`` (a tie left undecided): its label is then missing.
    """
    names = [str(name) for name in (range(probs.shape[1]) if class_names is None else class_names)]
    index = probs.argmax(axis=1) if predicted is None else np.asarray(predicted, dtype=np.int64)
    columns = {f"prob_{name}": probs[:, c] for c, name in enumerate(names)}
    columns["n_votes"] = (np.asarray(votes) != ABSTAIN).sum(axis=1)
    columns["predicted_label"] = np.asarray([*names, None], dtype=object)[index]  # -1 picks None
    columns["predicted_index"] = index.astype(np.int64)
    return columns


def warn_degenerate(message: str) -> None:
    warnings.warn(message, DegenerateFitWarning, stacklevel=3)
