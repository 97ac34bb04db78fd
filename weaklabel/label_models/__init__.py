"""Label models: turn the votes of many noisy sources into one probability per class and row.

- :class:`MajorityVote` — the baseline; (weighted) vote counting.
- :class:`DawidSkene` — classic EM over per-source confusion tables.
- :class:`LabelModel` — the recommended default: a matrix-completion fit of conditionally
  independent sources that is checked on the data and falls back to a majority-vote-anchored
  estimator when its assumptions fail (it never collapses to one class).
- :class:`StackedLabelModel` — for hand-written LFs stacked with LLM prompts: the LFs label
  rows and a logistic regression learns from them what the prompts' votes are worth.
- :class:`SnorkelLabelModel` — Snorkel's LabelModel behind the same interface (needs the
  ``snorkel`` extra), for comparison.

All share :class:`BaseLabelModel`'s contract: ``fit(L, y_dev=None, class_balance=None)``,
``predict_proba``, ``predict(tie_break=...)``, ``score``, ``save``/``load`` (JSON).
"""

from weaklabel.label_models.base import (
    BaseLabelModel,
    DegenerateFitWarning,
    NotFittedError,
    SourceQualityWarning,
    load_label_model,
)
from weaklabel.label_models.dawid_skene import DawidSkene
from weaklabel.label_models.label_model import LabelModel
from weaklabel.label_models.majority import MajorityVote

__all__ = [
    "BaseLabelModel",
    "DawidSkene",
    "DegenerateFitWarning",
    "LabelModel",
    "MajorityVote",
    "NotFittedError",
    "SnorkelLabelModel",
    "SourceQualityWarning",
    "StackedLabelModel",
    "load_label_model",
]


_LAZY = {
    "SnorkelLabelModel": "weaklabel.label_models.snorkel",
    "StackedLabelModel": "weaklabel.label_models.stacked",
}


def __getattr__(name: str):
    """Models built on scikit-learn or Snorkel load on first use, so importing the others
    stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weaklabel.label_models' has no attribute {name!r}")
