"""TF-IDF n-grams + logistic regression trained on soft labels: the student that trains in seconds.

Word n-grams catch the phrases the labeling functions keyed on; character n-grams inside
word boundaries catch misspellings, URLs and obfuscated spam ("ch3ck my chann3l") that no
keyword LF covers, which is where a student generalises beyond its sources.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from weaklabel.students._softmax import fit_softmax_regression, softmax_proba
from weaklabel.students.base import BaseStudent, _TrainingSet

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["TfidfStudent"]

_ARRAYS_FILE = "arrays.npz"


class TfidfStudent(BaseStudent):
    """Word and character TF-IDF features + multinomial logistic regression on soft labels.

    The regression minimises the expected cross-entropy under the probabilistic labels
    (an uncertain row pulls the model towards both classes in proportion), not the loss of
    their argmax. Training is deterministic, so there is no ``random_state``.

    Parameters
    ----------
    C
        Inverse L2 strength, as in scikit-learn's ``LogisticRegression``. Weak labels are
        noisy labels: the default 1 (with ``class_weight="balanced"``) was chosen over 10 by
        the leave-one-dataset-out protocol of ``benchmarks/students.py``.
    word_ngram_range, char_ngram_range
        n-gram ranges of the word and of the character (``char_wb``) TF-IDF blocks;
        ``None`` drops that block.
    max_features
        Keep at most this many of the most frequent n-grams per block (``None``: all).
    min_df
        Ignore n-grams found in fewer documents (count) or a smaller share of them (float).
    sublinear_tf
        Use ``1 + log(tf)``: a word repeated ten times is not ten times the evidence.
    lowercase
        Lowercase before extracting n-grams.
    class_weight
        ``"balanced"`` (weights inverse to each class's soft mass: a label model's labels
        under-represent a class its sources rarely vote for), ``None`` or
        ``{class: weight}``.
    max_iter, tol
        L-BFGS iteration cap and gradient tolerance.
    exclude_unlabeled
        Leave out the rows no source labeled (see ``weaklabel.students.base``).
    min_confidence
        Leave out the rows whose most probable class has a lower probability: rows the
        label model is unsure of mostly teach its noise (0: keep every labeled row).

    Examples
    --------
    >>> import numpy as np
    >>> texts = ["check out my channel", "great song", "subscribe to me", "love this song"]
    >>> probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.2, 0.8], [0.9, 0.1]])
    >>> student = TfidfStudent(C=10).fit(texts, probs)
    >>> student.predict(["subscribe to my channel", "this song is great"]).tolist()
    [1, 0]
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (2, 5),
        max_features: int | None = None,
        min_df: float = 1,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        class_weight: str | dict[int, float] | None = "balanced",
        max_iter: int = 1000,
        tol: float = 1e-5,
        exclude_unlabeled: bool = True,
        min_confidence: float = 0.0,
    ) -> None:
        self.C = C
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.max_features = max_features
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.exclude_unlabeled = exclude_unlabeled
        self.min_confidence = min_confidence

    def _make_vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[TfidfVectorizer]:
        from sklearn.feature_extraction.text import TfidfVectorizer  # imported when used: ~1 s

        blocks: list[tuple[str, tuple[int, int]]] = [
            (analyzer, ngrams)
            for analyzer, ngrams in (("word", self.word_ngram_range), ("char_wb", self.char_ngram_range))
            if ngrams is not None
        ]
        if not blocks:
            raise ValueError("word_ngram_range and char_ngram_range are both None: no features")
        return [
            TfidfVectorizer(
                analyzer=analyzer,
                ngram_range=tuple(ngrams),
                max_features=self.max_features,
                min_df=self.min_df,
                sublinear_tf=self.sublinear_tf,
                lowercase=self.lowercase,
                dtype=np.float64,
                vocabulary=None if vocabularies is None else vocabularies[i],
            )
            for i, (analyzer, ngrams) in enumerate(blocks)
        ]

    def _features(self, texts: list[str]) -> Any:
        import scipy.sparse as sp

        return sp.hstack([vec.transform(texts) for vec in self.vectorizers_], format="csr")

    def _fit(self, train: _TrainingSet) -> None:
        import scipy.sparse as sp

        self.vectorizers_ = self._make_vectorizers()
        X = sp.hstack([vec.fit_transform(train.texts) for vec in self.vectorizers_], format="csr")
        fit = fit_softmax_regression(X, train.loss_weights, C=self.C, max_iter=self.max_iter, tol=self.tol)
        self.coef_, self.intercept_ = fit.coef, fit.intercept
        record: dict[str, float] = {"loss": fit.loss, "n_iter": fit.n_iter, "n_features": X.shape[1]}
        if train.dev_texts is not None:
            record |= self._dev_scores(train.dev_targets, self._predict_proba(train.dev_texts))
        self.history_ = [record]

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax_proba(self._features(texts), self.coef_, self.intercept_)

    def save(self, path: str | Path) -> Path:
        """Write the student to the folder ``path``: ``config.json`` (hyperparameters and
        vocabularies) and ``arrays.npz`` (idf weights, coefficients). No pickle."""
        self._check_fitted()
        path = Path(path)
        vocabularies = [vec.get_feature_names_out().tolist() for vec in self.vectorizers_]
        arrays = {f"idf_{i}": vec.idf_ for i, vec in enumerate(self.vectorizers_)}
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / _ARRAYS_FILE, coef=self.coef_, intercept=self.intercept_, **arrays)
        self._write_config(path, vocabularies=vocabularies)  # last: it seals the arrays' digest
        return path

    @classmethod
    def load(cls, path: str | Path) -> TfidfStudent:
        """Read a student written by ``save``."""
        student, config = cls._read_config(path)
        student = cast(TfidfStudent, student)
        try:
            with np.load(Path(path) / _ARRAYS_FILE, allow_pickle=False) as arrays:
                student.vectorizers_ = student._make_vectorizers(config["vocabularies"])
                for i, vec in enumerate(student.vectorizers_):
                    vec.idf_ = arrays[f"idf_{i}"]
                student.coef_ = arrays["coef"]
                student.intercept_ = arrays["intercept"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{path} is not a saved student or is corrupt ({_ARRAYS_FILE}: {type(exc).__name__}: {exc})"
            ) from exc
        return student
