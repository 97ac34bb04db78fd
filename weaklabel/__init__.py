"""weaklabel: programmatic weak supervision.

Data flows one way: data -> labeling functions and LLM labelers -> label matrix ->
label model -> probabilistic labels -> student -> report.

Every name below loads on first use, so ``import weaklabel`` costs milliseconds and
imports neither pandas nor scikit-learn; ``from weaklabel import MajorityVote`` imports
numpy and the label models only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from weaklabel.exceptions import (
    InvalidVoteError,
    LabelingFunctionError,
    WeaklabelError,
    WeaklabelWarning,
)

if TYPE_CHECKING:
    from weaklabel._validation import ABSTAIN
    from weaklabel.analysis import (
        agreement_matrix,
        disagreements,
        error_slices,
        lf_summary,
        plot_error_slices,
        plot_lf_summary,
    )
    from weaklabel.apply import apply_lfs
    from weaklabel.label_models import DawidSkene, LabelModel, MajorityVote
    from weaklabel.lf import (
        BatchLabelingFunction,
        LabelingFunction,
        VectorizedLabelingFunction,
        keyword_lf,
        labeling_function,
        load_lfs,
        regex_lf,
    )
    from weaklabel.matrix import LabelMatrix

__version__ = "0.1.0"

__all__ = [
    "ABSTAIN",
    "BatchLabelingFunction",
    "DawidSkene",
    "InvalidVoteError",
    "LabelMatrix",
    "LabelModel",
    "LabelingFunction",
    "LabelingFunctionError",
    "MajorityVote",
    "VectorizedLabelingFunction",
    "WeaklabelError",
    "WeaklabelWarning",
    "__version__",
    "agreement_matrix",
    "apply_lfs",
    "disagreements",
    "error_slices",
    "keyword_lf",
    "labeling_function",
    "lf_summary",
    "load_lfs",
    "plot_error_slices",
    "plot_lf_summary",
    "regex_lf",
]

_LAZY = {
    "ABSTAIN": "weaklabel._validation",
    "BatchLabelingFunction": "weaklabel.lf",
    "LabelingFunction": "weaklabel.lf",
    "VectorizedLabelingFunction": "weaklabel.lf",
    "keyword_lf": "weaklabel.lf",
    "labeling_function": "weaklabel.lf",
    "load_lfs": "weaklabel.lf",
    "regex_lf": "weaklabel.lf",
    "LabelMatrix": "weaklabel.matrix",
    "apply_lfs": "weaklabel.apply",
    "agreement_matrix": "weaklabel.analysis",
    "disagreements": "weaklabel.analysis",
    "error_slices": "weaklabel.analysis",
    "plot_error_slices": "weaklabel.analysis",
    "lf_summary": "weaklabel.analysis",
    "plot_lf_summary": "weaklabel.analysis",
    "DawidSkene": "weaklabel.label_models",
    "LabelModel": "weaklabel.label_models",
    "MajorityVote": "weaklabel.label_models",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (and keep it)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'weaklabel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
