"""Snorkel's LabelModel behind weaklabel's interface (the ``snorkel`` extra).

For users who want the original, and so that benchmarks compare every model through one
interface. Only ``fit`` needs snorkel: the learned ``mu`` and class balance are copied out and
``predict_proba`` applies Snorkel's formula (abstaining sources contribute nothing) in log
space, so a saved model loads and predicts without snorkel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from weaklabel.label_models._posterior import log_joint, softmax_rows
from weaklabel.label_models.base import BaseLabelModel, DevSet

__all__ = ["SnorkelLabelModel"]

_INSTALL_HINT = 'SnorkelLabelModel needs snorkel: pip install "weaklabel[snorkel]"'


class SnorkelLabelModel(BaseLabelModel):
    """Snorkel's matrix-completion LabelModel (Ratner et al., 2019), unchanged.

    Parameters
    ----------
    cardinality
        Number of classes; inferred when omitted.
    n_epochs, lr, l2, optimizer, prec_init
        Snorkel's training settings (its defaults).
    random_state
        Snorkel's ``seed``. ``None`` keeps Snorkel's own default seed, which is drawn once per
        process — Snorkel is then not reproducible across runs.

    Attributes
    ----------
    mu_
        Snorkel's (m, k, k) estimates ``mu_[j, a, y]`` = P(source j votes a | class y).
    class_balance_
        The class balance Snorkel used (uniform unless given or read from ``y_dev``).
    model_
        The fitted ``snorkel.labeling.model.LabelModel`` (absent after ``load``).
    """

    _fitted_attributes = ("mu_", "class_balance_")
    tie_tolerance = 1e-5  # Snorkel's probs_to_preds: classes within 1e-5 of the top tie

    def __init__(
        self,
        cardinality: int | None = None,
        n_epochs: int = 100,
        lr: float = 0.01,
        l2: float = 0.0,
        optimizer: str = "sgd",
        prec_init: float = 0.7,
        random_state: int | None = None,
    ) -> None:
        self.cardinality = cardinality
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.optimizer = optimizer
        self.prec_init = prec_init
        self.random_state = random_state

    def _fit(self, votes: np.ndarray, dev: DevSet | None, class_balance: np.ndarray | None) -> None:
        try:
            from snorkel.labeling.model import LabelModel as _Snorkel
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(_INSTALL_HINT) from exc
        k = self.cardinality_
        options: dict[str, Any] = {
            "n_epochs": self.n_epochs,
            "lr": self.lr,
            "l2": self.l2,
            "optimizer": self.optimizer,
            "prec_init": self.prec_init,
        }
        if self.random_state is not None:
            options["seed"] = self.random_state
        model = _Snorkel(cardinality=k, verbose=False)
        model.fit(
            np.asarray(votes, dtype=np.int64),
            Y_dev=None if dev is None else dev.y,
            class_balance=None if class_balance is None else list(class_balance),
            progress_bar=False,
            **options,
        )
        self.model_ = model
        self.mu_ = model.mu.detach().cpu().numpy().reshape(self.n_sources_, k, k).astype(float)
        self.class_balance_ = np.asarray(model.p, dtype=float)

    def _predict_proba(self, votes: np.ndarray) -> np.ndarray:
        m, k = self.n_sources_, self.cardinality_
        table = np.zeros((m, k + 1, k))
        table[:, 1:, :] = np.log(self.mu_)  # Snorkel keeps mu in [mu_eps, 1 - mu_eps]
        scores = log_joint(votes, table, np.log(self.class_balance_))
        assert isinstance(scores, np.ndarray)  # without counts: one array
        return softmax_rows(scores)
