"""What every label model shares: input checks, prediction, scoring and JSON persistence.

A label model turns a vote matrix (rows x sources, ``-1`` = abstain) into one probability per
class and row. Subclasses implement two things: ``_fit(votes, dev)`` to learn their parameters
and ``_predict_proba(votes)`` to apply them; everything else — validating the matrix, the
dev labels and the class balance, breaking ties, scoring, saving — lives here once, so all
models fail on bad input with the same messages and predict the same way.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from weaklabel.exceptions import DegenerateFitWarning, SourceQualityWarning
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix, as_vote_array
from weaklabel.metrics import score_predictions

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
_FORMAT = "weaklabel.label_model"
_FORMAT_VERSION = 1
ROW_CHUNK = 65_536
"""Rows processed at once in every pass over a matrix: bounds temporary memory to a few MB
per source whatever the number of rows."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` (the same bases as scikit-learn's NotFittedError)."""


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
    """``L`` as a validated integer vote array, without copying integer numpy input.

    A million-row matrix would cost 8 bytes per vote as the int64 copy that
    :func:`~weaklabel.matrix.as_vote_array` returns, so integer arrays are range-checked in
    place and only handed to ``as_vote_array`` (for its precise error message) when a check
    fails; other input (lists, floats) goes through it directly.
    """
    if isinstance(L, LabelMatrix):
        if cardinality is not None and L.cardinality > cardinality:
            as_vote_array(L, cardinality=cardinality)
        return L.votes
    arr = np.asarray(L)
    if arr.dtype.kind in "iu" and arr.ndim == 2:
        if arr.size and (
            arr.min() < ABSTAIN or (cardinality is not None and arr.max() >= cardinality)
        ):
            as_vote_array(arr, cardinality=cardinality)  # raises, naming row, column and value
        return arr
    return as_vote_array(arr, cardinality=cardinality)


def infer_cardinality(L: Any, votes: np.ndarray, cardinality: int | None) -> int:
    """The number of classes: given, else the LabelMatrix's, else the largest vote + 1."""
    if cardinality is not None:
        if isinstance(cardinality, bool) or not isinstance(cardinality, int | np.integer):
            raise ValueError(f"cardinality must be an integer >= 2, got {cardinality!r}")
        if cardinality < 2:
            raise ValueError(f"cardinality must be >= 2, got {cardinality}")
        if isinstance(L, LabelMatrix) and L.cardinality != cardinality:
            raise ValueError(
                f"the model was built with cardinality={cardinality} but the LabelMatrix has "
                f"cardinality {L.cardinality}"
            )
        return int(cardinality)
    if isinstance(L, LabelMatrix):
        return L.cardinality
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


def _check_gold(y: Any, n_rows: int, cardinality: int, what: str) -> np.ndarray:
    gold = np.asarray(y)
    if gold.ndim != 1 or gold.shape[0] != n_rows:
        raise ValueError(f"{what} has shape {gold.shape}, expected ({n_rows},)")
    if gold.dtype.kind == "f":
        if not np.isfinite(gold).all():
            raise ValueError(
                f"{what} holds NaN or infinity at position {int(np.argmin(np.isfinite(gold)))}"
            )
        if not np.all(gold == np.round(gold)):
            raise ValueError(f"{what} must hold integer class indices (-1 = unknown)")
    elif gold.dtype.kind not in "iu":
        raise ValueError(
            f"{what} must hold integer class indices (-1 = unknown), got dtype {gold.dtype}"
        )
    gold = gold.astype(np.int64)
    bad = (gold < ABSTAIN) | (gold >= cardinality)
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(
            f"{what} holds {gold[pos]} at position {pos}, outside [-1, {cardinality - 1}]"
        )
    return gold


def _class_counts(y: np.ndarray, cardinality: int) -> np.ndarray:
    return np.bincount(y, minlength=cardinality).astype(float)


class BaseLabelModel:
    """Shared contract of the label models (scikit-learn conventions).

    ``__init__`` only stores arguments; :meth:`fit` validates, learns and returns ``self``;
    learned state ends in ``_``. Subclasses set ``cardinality`` and ``random_state`` in their
    ``__init__`` and implement ``_fit`` and ``_predict_proba``. ``get_params``/``set_params``
    follow scikit-learn's protocol (so ``sklearn.base.clone`` works) without importing it:
    scikit-learn takes seconds to import and ``import weaklabel`` must stay light.
    """

    _fitted_attributes: ClassVar[tuple[str, ...]] = ()
    """Learned arrays/values written by :meth:`save` (besides the shared ones)."""

    cardinality: int | None
    random_state: int | None

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind != p.VAR_KEYWORD
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The ``__init__`` arguments (scikit-learn's protocol; ``deep`` has no effect)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseLabelModel:
        """Set ``__init__`` arguments; unknown names raise."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (
                isinstance(value, type(defaults.get(name))) and _same(value, defaults.get(name))
            )
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

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
            A few gold labels. With ``L_dev``: the labels of those dev rows. Without: one label
            per row of ``L``, ``-1`` where unknown. Used for the class balance and, where the
            model has a choice, to pick the estimator that scores best on them.
        class_balance
            The class prior, if known (overrides the one learned or read from ``y_dev``).
        L_dev
            Votes of the rows labelled by ``y_dev``, when they are not rows of ``L``.
        """
        self._reset()
        votes = check_votes(L, self.cardinality)
        if votes.shape[0] == 0 or votes.shape[1] == 0:
            raise ValueError(
                f"cannot fit a label model on an empty label matrix (shape {votes.shape})"
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

    def _set_shape(self, L: Any, n_sources: int, cardinality: int) -> None:
        self.cardinality_ = cardinality
        self.n_sources_ = n_sources
        self.lf_names_ = list(L.lf_names) if isinstance(L, LabelMatrix) else None

    def _dev_set(self, votes: np.ndarray, y_dev: Any, L_dev: Any) -> DevSet | None:
        if y_dev is None:
            if L_dev is not None:
                raise ValueError("L_dev was given without y_dev (the gold labels of its rows)")
            return None
        k = self.cardinality_
        if L_dev is None:
            gold = _check_gold(
                y_dev, votes.shape[0], k, "y_dev (one label per row of L, -1 = unknown)"
            )
            dev_votes = votes
        else:
            dev_votes = self._check_same_sources(check_votes(L_dev, k), "L_dev")
            gold = _check_gold(y_dev, dev_votes.shape[0], k, "y_dev (one label per row of L_dev)")
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
        if dev is not None:
            counts = _class_counts(dev.y, cardinality) + 1.0  # add-one: no class gets zero mass
            return counts / counts.sum()
        return None

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "class_balance_"):  # set last by every model's _fit
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(L) before predicting"
            )

    def _check_same_sources(self, votes: np.ndarray, what: str = "L") -> np.ndarray:
        if votes.ndim != 2 or votes.shape[1] != self.n_sources_:
            raise ValueError(
                f"{what} has {votes.shape[1] if votes.ndim == 2 else '?'} sources but the model was "
                f"fitted on {self.n_sources_}; pass the same sources in the same order"
            )
        return votes

    def _checked(self, L: Any) -> np.ndarray:
        self._check_fitted()
        votes = self._check_same_sources(check_votes(L, self.cardinality_))
        if (
            isinstance(L, LabelMatrix)
            and self.lf_names_ is not None
            and L.lf_names != self.lf_names_
        ):
            diff = next(
                i for i, (a, b) in enumerate(zip(L.lf_names, self.lf_names_, strict=True)) if a != b
            )
            raise ValueError(
                f"source {diff} is {L.lf_names[diff]!r} but the model was fitted with "
                f"{self.lf_names_[diff]!r} there; pass the same sources in the same order"
            )
        return votes

    def predict_proba(self, L: Any) -> np.ndarray:
        """Probability of each class for each row, shape (n_rows, cardinality).

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

    def predict(self, L: Any, tie_break: str = "random") -> np.ndarray:
        """The most probable class per row.

        Parameters
        ----------
        tie_break
            What to do when several classes share the top probability: ``"random"`` picks one
            with a generator seeded by ``random_state`` (same input, same output),
            ``"abstain"`` returns ``-1``, ``"first"`` the lowest class index.
        """
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        probs = self.predict_proba(L)
        return break_ties(probs, tie_break, self.random_state)

    def score(
        self,
        L: Any,
        y: Any,
        metrics: Sequence[str] = ("accuracy", "f1"),
        tie_break: str = "random",
    ) -> dict[str, float]:
        """Score the predictions against gold ``y`` (``-1`` = unknown, left out).

        ``f1`` is the F1 of the positive class (class 1) for binary tasks, as the
        weak-supervision literature reports it, and macro F1 for more classes. A row the model
        abstains on (``tie_break="abstain"``) counts as wrong.
        """
        votes = self._checked(L)
        gold = _check_gold(y, votes.shape[0], self.cardinality_, "y")
        pred = self.predict(votes, tie_break=tie_break)
        return score_predictions(gold, pred, metrics, cardinality=self.cardinality_)

    # ------------------------------------------------------------------ persistence
    def _fitted_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "cardinality_": self.cardinality_,
            "n_sources_": self.n_sources_,
            "lf_names_": self.lf_names_,
        }
        for name in self._fitted_attributes:
            value = getattr(self, name)
            state[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.cardinality_ = int(state["cardinality_"])
        self.n_sources_ = int(state["n_sources_"])
        self.lf_names_ = state["lf_names_"]
        for name in self._fitted_attributes:
            value = state[name]
            setattr(
                self, name, np.asarray(value, dtype=float) if isinstance(value, list) else value
            )

    def save(self, path: str | Path) -> Path:
        """Write the hyperparameters and learned parameters to a JSON file (never a pickle)."""
        self._check_fitted()
        path = Path(path)
        payload = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "model": type(self).__name__,
            "params": {
                name: value.tolist() if isinstance(value, np.ndarray) else value
                for name, value in self.get_params().items()
            },
            "fitted": self._fitted_state(),
        }
        payload["checksum"] = _checksum(payload)
        path.write_text(json.dumps(payload, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BaseLabelModel:
        """Read a model written by :meth:`save`; ``BaseLabelModel.load`` accepts any model."""
        model = load_label_model(path)
        if cls is not BaseLabelModel and not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def load_label_model(path: str | Path) -> BaseLabelModel:
    """Load any label model saved with ``save``: the file names its class."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved label model at {path}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a saved label model (invalid JSON: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a saved weaklabel label model")
    if payload.get("version") != _FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {payload.get('version')}, expected {_FORMAT_VERSION}"
        )
    registry = {sub.__name__: sub for sub in _subclasses(BaseLabelModel)}
    name = payload.get("model")
    if name not in registry:
        raise ValueError(f"{path} holds an unknown label model {name!r}; known: {sorted(registry)}")
    if "checksum" in payload and payload["checksum"] != _checksum(payload):
        raise ValueError(f"{path} is corrupt: its parameters do not match their checksum (edited or damaged)")
    try:
        model = registry[name](**payload["params"])
        model._restore(payload["fitted"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is corrupt: {exc}") from exc
    return model


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of what a saved model holds, so that a damaged or edited file is refused
    rather than predicting with parameters of the wrong shape (numpy would broadcast some)."""
    content = {key: payload.get(key) for key in ("model", "params", "fitted")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays compare elementwise
        return False


def break_ties(probs: np.ndarray, tie_break: str, random_state: int | None) -> np.ndarray:
    """argmax of each row, ties resolved by ``tie_break`` (see :meth:`BaseLabelModel.predict`)."""
    if probs.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    top = probs.max(axis=1, keepdims=True)
    # probabilities computed in different orders differ in the last bits: treat those as ties
    tied = probs >= top - 1e-9 * np.maximum(top, 1.0)
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
    Dask twins): ``prob_<class>``, ``n_votes`` and ``predicted_label`` (argmax by default)."""
    names = range(probs.shape[1]) if class_names is None else class_names
    columns = {f"prob_{name}": probs[:, c] for c, name in enumerate(names)}
    columns["n_votes"] = (np.asarray(votes) != ABSTAIN).sum(axis=1)
    columns["predicted_label"] = probs.argmax(axis=1) if predicted is None else predicted
    return columns


def warn_degenerate(message: str) -> None:
    warnings.warn(message, DegenerateFitWarning, stacklevel=3)
