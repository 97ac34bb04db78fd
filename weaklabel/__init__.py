"""weaklabel: programmatic weak supervision.

Data flows one way: data -> labeling functions and LLM labelers -> label matrix ->
label model -> probabilistic labels -> student -> report.
"""

from weaklabel.analysis import (
    agreement_matrix,
    disagreements,
    error_slices,
    lf_summary,
    plot_error_slices,
    plot_lf_summary,
)
from weaklabel.apply import apply_lfs
from weaklabel.exceptions import (
    InvalidVoteError,
    LabelingFunctionError,
    WeaklabelError,
    WeaklabelWarning,
)
from weaklabel.lf import (
    ABSTAIN,
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


_LAZY = {"DawidSkene", "LabelModel", "MajorityVote"}


def __getattr__(name: str):
    """Label models load on first use, so ``import weaklabel`` stays light."""
    if name in _LAZY:
        from weaklabel import label_models

        return getattr(label_models, name)
    raise AttributeError(f"module 'weaklabel' has no attribute {name!r}")
