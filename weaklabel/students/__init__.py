"""Students: models trained on probabilistic labels that generalise beyond the labeling sources.

- ``TfidfStudent``: TF-IDF n-grams + logistic regression on soft labels, seconds to train.
- ``TransformerStudent``: a local pretrained encoder adapted by full fine-tuning, LoRA
  adapters or a trained head on the frozen encoder (needs ``weaklabel[student]``).

Both take texts and an n x k array of probabilistic labels, follow scikit-learn's
conventions and save to a folder in safe formats. torch and transformers are imported only
when a TransformerStudent is fitted or loaded.
"""

from weaklabel.students.base import BaseStudent
from weaklabel.students.tfidf import TfidfStudent
from weaklabel.students.transformer import TransformerStudent

__all__ = ["BaseStudent", "TfidfStudent", "TransformerStudent"]
