"""Multi-label students: one sigmoid output per label, trained on per-label soft targets.

A multi-label label model gives, per row and label, the probability that the label is
present. The students here learn those probabilities directly — the loss of label ``c``
on row ``i`` is the binary cross-entropy against target ``t_ic``, i.e. the expected loss
under the label model's belief — instead of thresholding them first.

- ``TfidfMultiLabelStudent``: the TF-IDF features of
  ``TfidfStudent`` and one logistic regression per label
  (one-vs-rest), each fitted exactly by L-BFGS on its soft targets.
- ``TransformerMultiLabelStudent``: the encoder and training loop of
  ``TransformerStudent`` with a sigmoid head (one logit per
  label); ``adaptation="head"`` fits one logistic regression per label on the frozen
  embeddings.

Both pick a decision threshold per label on the dev split when one is given
(``tune_thresholds=True``): F1 rewards a threshold below 0.5 for a label the student
under-predicts. Each label's threshold moves from 0.5 only where bootstrap replicates of the
dev rows show that tuning helps on rows it was not tuned on
(``tuned_thresholds``). ``predict`` applies them;
``predict_proba`` returns the probabilities.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from weaklabel.multilabel.metrics import check_indicator, multilabel_scores, tuned_thresholds
from weaklabel.students._softmax import fit_softmax_regression
from weaklabel.students.base import _check_sample_weight, _TrainingSet, check_texts
from weaklabel.students.tfidf import TfidfStudent
from weaklabel.students.transformer import TransformerStudent

__all__ = [
    "MultiLabelStudentMixin",
    "TfidfMultiLabelStudent",
    "TransformerMultiLabelStudent",
    "check_label_probs",
]

def check_label_probs(probs: Any, n_rows: int, name: str = "probs") -> np.ndarray:
    """Per-label probabilities ``(n, k)`` in [0, 1] (a 0/1 indicator works too)."""
    arr = np.asarray(probs)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be an (n, k) array of per-label probabilities, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but there are {n_rows} texts")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    values = arr.astype(np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{name}[{row}, {col}] is {values[row, col]}; per-label probabilities are in [0, 1]")
    return values


def _pair_mask(labeled_mask: Any, shape: tuple[int, int]) -> np.ndarray:
    """``labeled_mask`` as an (n, k) boolean: per row (n,) or per row and label (n, k)."""
    if labeled_mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(labeled_mask)
    if mask.dtype != bool:
        raise ValueError(f"labeled_mask must be boolean, got dtype {mask.dtype}")
    if mask.shape == (shape[0],):
        return np.repeat(mask[:, None], shape[1], axis=1)
    if mask.shape != shape:
        raise ValueError(f"labeled_mask has shape {mask.shape}; expected ({shape[0]},) or {shape}")
    return mask


def _label_weights(class_weight: Any, targets: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-label loss weights of the present and absent terms: None, or "balanced" (each
    side weighs as much as the other, from the soft masses of the label)."""
    k = targets.shape[1]
    if class_weight is None:
        return np.ones(k), np.ones(k)
    if class_weight != "balanced":
        raise ValueError(f"class_weight must be None or 'balanced' for a multi-label student, got {class_weight!r}")
    present = (weights * targets).sum(axis=0)
    absent = (weights * (1 - targets)).sum(axis=0)
    total = present + absent
    return (
        np.where(present > 0, total / (2 * np.maximum(present, 1e-12)), 1.0),
        np.where(absent > 0, total / (2 * np.maximum(absent, 1e-12)), 1.0),
    )


class MultiLabelStudentMixin:
    """What the multi-label students share: input checks, thresholds, scores, persistence.

    The wrapped single-label student sees ``2k`` loss columns per row — ``weight x t_ic``
    on "present" and ``weight x (1 - t_ic)`` on "absent" for every label ``c`` — so the
    same solvers and training loops minimise the summed binary cross-entropies.
    """

    tune_thresholds: bool
    class_weight: Any
    min_confidence: float

    if TYPE_CHECKING:  # given by the single-label student the mixin is combined with
        exclude_unlabeled: bool

        def _fit(self, train: _TrainingSet) -> None: ...

        def _predict_proba(self, texts: list[str]) -> np.ndarray: ...

        def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def fit(
        self,
        texts: Sequence[str],
        probs: Any,
        sample_weight: Any = None,
        *,
        labeled_mask: Any = None,
        class_names: Sequence[str] | None = None,
        dev_texts: Sequence[str] | None = None,
        dev_Y: Any = None,
    ) -> Any:
        """Train on ``texts`` with per-label probabilities ``probs`` (n x k, each in [0, 1]).

        Parameters
        ----------
        probs
            From a multi-label label model (``predict_proba``), or a 0/1 indicator.
        sample_weight
            Optional non-negative weight per row.
        labeled_mask
            ``False`` for rows (n,) or (row, label) pairs (n, k) to leave out of the loss,
            e.g. rows on which no source voted at all.
        class_names
            The label names, in the order of the columns of ``probs`` (default: indices).
        dev_texts, dev_Y
            A dev split with gold 0/1 labels: scored per epoch, used for early stopping and
            for the per-label thresholds.
        """
        texts = check_texts(texts)
        targets = check_label_probs(probs, len(texts))
        n, k = targets.shape
        weights = _check_sample_weight(sample_weight, n)
        mask = _pair_mask(labeled_mask if self.exclude_unlabeled else None, (n, k))
        mask &= weights[:, None] > 0
        if not 0.0 <= self.min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in [0, 1), got {self.min_confidence}")
        mask &= np.maximum(targets, 1 - targets) >= self.min_confidence
        rows = mask.any(axis=1)
        if not rows.any():
            raise ValueError(f"no (row, label) left to train on among {n} rows (see labeled_mask, sample_weight)")
        names = None if class_names is None else [str(c) for c in class_names]
        if names is not None and len(names) != k:
            raise ValueError(f"{len(names)} class_names given for {k} label columns")
        texts = [texts[i] for i in np.flatnonzero(rows)]
        targets, weights, mask = targets[rows], weights[rows], mask[rows]
        pair_weights = weights[:, None] * mask
        present_w, absent_w = _label_weights(self.class_weight, targets, pair_weights)
        loss_weights = np.hstack([pair_weights * targets * present_w, pair_weights * (1 - targets) * absent_w])
        dev = self._check_multilabel_dev(dev_texts, dev_Y, k)
        self.classes_ = np.arange(k) if names is None else np.asarray(names, dtype=object)
        self.n_classes_ = k
        self.n_train_rows_ = int(rows.sum())
        self.n_excluded_rows_ = int(n - rows.sum())
        train = _TrainingSet(texts, targets, loss_weights, dev[0], None if dev[1] is None else dev[1].astype(float))
        start = time.perf_counter()
        self._fit(train)
        self.thresholds_ = np.full(k, 0.5)
        if dev[0] is not None and self.tune_thresholds:
            self.thresholds_ = tuned_thresholds(dev[1], self._predict_proba(dev[0]))
        self.training_time_ = time.perf_counter() - start
        return self

    @staticmethod
    def _check_multilabel_dev(dev_texts: Any, dev_Y: Any, k: int) -> tuple[list[str] | None, np.ndarray | None]:
        if (dev_texts is None) != (dev_Y is None):
            raise ValueError("pass both dev_texts and dev_Y, or neither")
        if dev_texts is None:
            return None, None
        texts = check_texts(dev_texts, "dev_texts")
        gold = check_indicator(dev_Y, k, name="dev_Y")
        if len(gold) != len(texts):
            raise ValueError(f"dev_Y has {len(gold)} rows for {len(texts)} dev texts")
        known = (gold >= 0).all(axis=1)
        if not known.any():
            raise ValueError("dev_Y has no known row (all -1)")
        return [texts[i] for i in np.flatnonzero(known)], gold[known]

    def _dev_scores(self, dev_targets: np.ndarray | None, dev_probs: np.ndarray) -> dict[str, float]:
        """Mean binary cross-entropy and micro F1 (at 0.5) on the dev split."""
        assert dev_targets is not None  # dev texts always come with their targets
        p = np.clip(dev_probs, 1e-12, 1 - 1e-12)
        loss = float(-np.mean(dev_targets * np.log(p) + (1 - dev_targets) * np.log1p(-p)))
        return {"dev_loss": loss, "dev_micro_f1": multilabel_scores(dev_targets.astype(np.int8), (dev_probs > 0.5).astype(np.int8))["micro_f1"]}

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, k)`` 0/1: present where the probability exceeds the label's threshold."""
        return (self.predict_proba(texts) > self.thresholds_[None, :]).astype(np.int8)

    def score(self, texts: Sequence[str], Y: Any, sample_weight: Any = None) -> float:
        """Subset accuracy (rows whose whole label set is right), scikit-learn's ``score``
        for multi-label classifiers; ``evaluate`` gives F1 and the rest."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by the multi-label score")
        return self.evaluate(texts, Y)["subset_accuracy"]

    def evaluate(self, texts: Sequence[str], Y: Any) -> dict[str, float]:
        """Micro/macro F1 and the rest of ``multilabel_scores``
        against gold ``Y`` (``(n, k)`` 0/1; ``-1`` rows unknown)."""
        texts = check_texts(texts)
        gold = check_indicator(Y, self.n_classes_)
        return multilabel_scores(gold, self.predict(texts))

    def _write_config(self, path: Path, **extra: Any) -> None:
        super()._write_config(path, **extra, thresholds=self.thresholds_.tolist())  # type: ignore[misc]  # the student's

    @classmethod
    def _thresholds_from(cls, path: str | Path) -> np.ndarray:
        """The thresholds saved by ``save`` (read from the checked envelope)."""
        _, config = cls._read_config(path)  # type: ignore[attr-defined]
        if "thresholds" not in config:
            raise ValueError(f"{path} is not a saved multi-label student (no thresholds)")
        return np.asarray(config["thresholds"], dtype=float)


def _fit_binary_logistic(X: Any, loss_weights: np.ndarray, c: int, k: int, C: float, **options: Any) -> tuple[np.ndarray, float, float]:
    """One label's logistic regression on its (present, absent) loss weights: the two-class
    soft solver, whose two logits differ by the binary logit ``x @ w + b``."""
    fit = fit_softmax_regression(X, np.column_stack([loss_weights[:, k + c], loss_weights[:, c]]), C=C, **options)
    return fit.coef[1] - fit.coef[0], float(fit.intercept[1] - fit.intercept[0]), fit.loss


# The multi-label fit/evaluate take (n, k) label sets where the single-label student takes
# class probabilities: the same estimator protocol, not substitutable types.
class TfidfMultiLabelStudent(MultiLabelStudentMixin, TfidfStudent):  # type: ignore[misc]
    """TF-IDF n-grams + one logistic regression per label (one-vs-rest) on soft targets.

    The parameters are ``TfidfStudent``'s (``class_weight`` is
    None or ``"balanced"``, per label), plus ``tune_thresholds``.

    Examples
    --------
    >>> import numpy as np
    >>> texts = ["rude waiter", "great pasta", "the waiter brought cold pasta", "tasty pizza"]
    >>> probs = np.array([[0.0, 0.9], [0.9, 0.1], [0.8, 0.8], [1.0, 0.0]])
    >>> student = TfidfMultiLabelStudent(C=10).fit(texts, probs, class_names=["food", "staff"])
    >>> student.predict(["great pasta", "rude waiter"]).tolist()
    [[1, 0], [0, 1]]
    """

    def __init__(
        self,
        *,
        C: float = 10.0,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (2, 5),
        max_features: int | None = None,
        min_df: float = 1,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        class_weight: str | None = None,
        max_iter: int = 1000,
        tol: float = 1e-5,
        exclude_unlabeled: bool = True,
        min_confidence: float = 0.0,
        tune_thresholds: bool = True,
    ) -> None:
        super().__init__(
            C=C, word_ngram_range=word_ngram_range, char_ngram_range=char_ngram_range,
            max_features=max_features, min_df=min_df, sublinear_tf=sublinear_tf,
            lowercase=lowercase, class_weight=class_weight, max_iter=max_iter, tol=tol,
            exclude_unlabeled=exclude_unlabeled, min_confidence=min_confidence,
        )
        self.tune_thresholds = tune_thresholds

    def _fit(self, train: _TrainingSet) -> None:
        self.vectorizers_ = self._make_vectorizers()
        X = sp.hstack([vec.fit_transform(train.texts) for vec in self.vectorizers_], format="csr")
        k = self.n_classes_
        coef, intercept, losses = np.zeros((k, X.shape[1])), np.zeros(k), []
        for c in range(k):
            coef[c], intercept[c], loss = _fit_binary_logistic(
                X, train.loss_weights, c, k, self.C, max_iter=self.max_iter, tol=self.tol
            )
            losses.append(loss)
        self.coef_, self.intercept_ = coef, intercept
        record: dict[str, float] = {"loss": float(np.sum(losses)), "n_features": X.shape[1]}
        if train.dev_texts is not None:
            record |= self._dev_scores(train.dev_targets, self._predict_proba(train.dev_texts))
        self.history_ = [record]

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return expit(np.asarray(self._features(texts) @ self.coef_.T) + self.intercept_)

    @classmethod
    def load(cls, path: str | Path) -> TfidfMultiLabelStudent:
        """Read a student written by ``save``."""
        student = cast(TfidfMultiLabelStudent, super().load(path))
        student.thresholds_ = cls._thresholds_from(path)
        return student


class TransformerMultiLabelStudent(MultiLabelStudentMixin, TransformerStudent):  # type: ignore[misc]
    """A local encoder with a sigmoid head (one logit per label) on per-label soft targets.

    The parameters are ``TransformerStudent``'s (``class_weight``
    is None or ``"balanced"``, per label), plus ``tune_thresholds``. Early stopping
    watches the dev binary cross-entropy.
    """

    def __init__(
        self,
        encoder: str | Path | None = None,
        *,
        adaptation: str = "full",
        max_length: int = 64,
        batch_size: int = 16,
        epochs: int = 3,
        learning_rate: float | None = None,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        early_stopping: bool = True,
        patience: int = 1,
        head_C: float = 0.1,
        lora_r: int = 8,
        lora_alpha: float = 16,
        lora_dropout: float = 0.1,
        lora_target_modules: tuple[str, ...] | None = None,
        class_weight: str | None = None,
        exclude_unlabeled: bool = True,
        min_confidence: float = 0.0,
        device: str | None = None,
        n_threads: int | None = None,
        random_state: int | None = 0,
        progress: bool = True,
        tune_thresholds: bool = True,
    ) -> None:
        super().__init__(
            encoder, adaptation=adaptation, max_length=max_length, batch_size=batch_size,
            epochs=epochs, learning_rate=learning_rate, weight_decay=weight_decay,
            warmup_ratio=warmup_ratio, early_stopping=early_stopping, patience=patience,
            head_C=head_C, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
            lora_target_modules=lora_target_modules, class_weight=class_weight,
            exclude_unlabeled=exclude_unlabeled, min_confidence=min_confidence, device=device,
            n_threads=n_threads, random_state=random_state, progress=progress,
        )
        self.tune_thresholds = tune_thresholds

    def _log_probs(self, logits: Any) -> Any:
        import torch

        log_sigmoid = torch.nn.functional.logsigmoid
        return torch.cat([log_sigmoid(logits), log_sigmoid(-logits)], dim=1)

    def _probs(self, tokens: Any) -> np.ndarray:
        return expit(self._run_encoder(tokens, head=True))

    def _fit_head(self, train: _TrainingSet, tokens: Any, dev_tokens: Any) -> None:
        """Frozen encoder: embed once, fit one logistic regression per label exactly."""
        from weaklabel.students._encoder import import_torch

        torch = import_torch()
        start = time.perf_counter()
        embeddings = self._run_encoder(tokens, head=False)
        k = self.n_classes_
        fits = [_fit_binary_logistic(embeddings, train.loss_weights, c, k, self.head_C) for c in range(k)]
        with torch.no_grad():
            self.head_.weight.copy_(torch.from_numpy(np.stack([f[0] for f in fits])))
            self.head_.bias.copy_(torch.from_numpy(np.array([f[1] for f in fits])))
        record: dict[str, float] = {"epoch": 1, "train_loss": float(sum(f[2] for f in fits))}
        if dev_tokens is not None:
            record |= self._dev_scores(train.dev_targets, self._probs(dev_tokens))
        record["seconds"] = time.perf_counter() - start
        self.history_ = [record]
        self.best_epoch_ = 1

    @classmethod
    def load(cls, path: str | Path) -> TransformerMultiLabelStudent:
        """Read a student written by ``save``."""
        student = cast(TransformerMultiLabelStudent, super().load(path))
        student.thresholds_ = cls._thresholds_from(path)
        return student
