"""Multi-label weak supervision: rows that carry several classes at once.

Each row of a multi-label task has a *set* of classes (a review sentence about the food
*and* the staff). weaklabel treats it as one two-class question per label — present or
absent? — and keeps the questions together where that helps:

- data: ``load_multilabel_table`` reads CSV/JSONL/Parquet files whose label column
  holds several class names per row; ``to_indicator`` turns label sets into an
  ``(n, k)`` 0/1 matrix (``-1`` rows: unknown).
- sources: per-label LFs (``labeling_function(label=...)``, ``keyword_lf``,
  ``regex_lf``, ``for_label`` for any two-class source such as an LLM yes/no
  prompt) vote PRESENT, ABSENT or ABSTAIN; a ``label_set_function`` names the set of
  labels it finds.
- ``apply_multilabel_lfs`` gives a ``MultiLabelMatrix``; the helpers of
  ``analysis`` read it per label.
- ``label_model``: per-label majority vote and
  ``MultiLabelModel`` (a label model per label,
  calibrated with co-occurrence on dev rows); ``metrics``: micro
  and macro F1, per-label scores, dev thresholds.
- Students: ``weaklabel.students.multilabel`` (TF-IDF one-vs-rest, MiniLM sigmoid head).
- Scale: ``stream`` (Parquet shards) and
  ``dask``; end to end: ``task: multilabel`` in
  ``python -m weaklabel.fit`` (``pipeline``).
"""

from weaklabel.lf import ABSTAIN
from weaklabel.multilabel.apply import apply_multilabel_lfs
from weaklabel.multilabel.data import (
    MAMS_CLASSES,
    from_indicator,
    load_mams,
    load_multilabel_table,
    parse_label_sets,
    to_indicator,
)
from weaklabel.multilabel.lf import (
    ABSENT,
    PRESENT,
    LabelSetFunction,
    expand,
    for_label,
    keyword_lf,
    label_set_function,
    label_set_source,
    labeling_function,
    regex_lf,
    target_label,
)
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix

__all__ = [
    "ABSENT",
    "ABSTAIN",
    "MAMS_CLASSES",
    "PRESENT",
    "VOTE_NAMES",
    "LabelSetFunction",
    "MultiLabelMatrix",
    "apply_multilabel_lfs",
    "expand",
    "for_label",
    "from_indicator",
    "keyword_lf",
    "label_set_function",
    "label_set_source",
    "labeling_function",
    "load_mams",
    "load_multilabel_table",
    "parse_label_sets",
    "regex_lf",
    "target_label",
    "to_indicator",
]
