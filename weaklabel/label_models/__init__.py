"""Label models: turn the votes of many noisy sources into one probability per class and row.

- ``MajorityVote`` — the baseline; (weighted) vote counting.
- ``DawidSkene`` — classic EM over per-source confusion tables.
- ``LabelModel`` — the recommended default: a matrix-completion fit of conditionally
  independent sources that is checked on the data and falls back to a majority-vote-anchored
  estimator when its assumptions fail (it never collapses to one class).
- ``StackedLabelModel`` — for hand-written LFs stacked with LLM prompts: the LFs label
  rows and a logistic regression learns from them what the prompts' votes are worth.
- ``SnorkelLabelModel`` — Snorkel's LabelModel behind the same interface (needs the
  ``snorkel`` extra), for comparison.

All share ``BaseLabelModel``'s contract, a scikit-learn estimator over vote matrices:
``fit(L, y_dev=None, class_balance=None)``, ``predict_proba``, ``predict(tie_break=...)``,
``score`` (accuracy), ``evaluate`` (several metrics), ``save``/``load`` (JSON).
"""

from weaklabel.label_models.base import (
    BaseLabelModel,
    DegenerateFitWarning,
    SourceQualityWarning,
    load_label_model,
)
from weaklabel.label_models.dawid_skene import DawidSkene
from weaklabel.label_models.label_model import LabelModel
from weaklabel.label_models.majority import MajorityVote
from weaklabel.label_models.snorkel import SnorkelLabelModel
from weaklabel.label_models.stacked import StackedLabelModel

__all__ = [
    "BaseLabelModel",
    "DawidSkene",
    "DegenerateFitWarning",
    "LabelModel",
    "MajorityVote",
    "NotFittedError",  # built on first use by __getattr__
    "SnorkelLabelModel",
    "SourceQualityWarning",
    "StackedLabelModel",
    "load_label_model",
]


def __getattr__(name: str):
    """scikit-learn's NotFittedError (weaklabel's subclass of it) is built on first use:
    importing scikit-learn takes a second, and none of these models needs it to import."""
    if name == "NotFittedError":
        from weaklabel import exceptions

        return exceptions.NotFittedError
    raise AttributeError(f"module 'weaklabel.label_models' has no attribute {name!r}")
