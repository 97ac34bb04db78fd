"""Weak labels plus the gold rows a user already has, in one training set for a student.

A few hundred gold rows can beat a whole weak-supervision pipeline when the weak labels are
poor, and are worth little next to thousands of good weak labels when they are not. Giving
the gold rows a fixed *share* of the training weight (not a fixed weight per row) keeps both
cases sane: the student never trains on gold rows drowned by weak ones, nor on weak labels
drowned by a handful of gold rows.

Which share is right depends on the data, so ``choose_labeled_share`` asks the gold rows
themselves: by k-fold cross-validation on them, it scores a TF-IDF student trained on the
weak labels alone (share 0), on both (share 0.5) and on the other gold rows alone (share 1)
against each held-out fold, and keeps the share that predicts the held-out gold rows best.
A label model that learns from the gold rows (``y_dev``) is refitted on each fold's
training rows, so no held-out row ever shaped the labels it is scored against. The rule is
fixed in advance and uses only rows the user has; ``benchmarks/students.py`` measures it
against the student on the gold rows alone and the weak-only path on every text set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from weaklabel.exceptions import DataError
from weaklabel.metrics import paired_bootstrap_z, score_predictions, stratified_folds
from weaklabel.students._softmax import SoftmaxFit, fit_softmax_regression, softmax_proba
from weaklabel.students.base import _class_weights, check_targets, check_texts

if TYPE_CHECKING:
    from weaklabel.students.base import BaseStudent
    from weaklabel.students.tfidf import TfidfStudent

__all__ = [
    "CV_FOLDS",
    "CV_MARGIN",
    "LABELED_SHARE",
    "LABELED_SHARES",
    "LabeledRowsChoice",
    "TrainingRows",
    "WeakLabels",
    "choose_labeled_share",
    "fit_with_labeled_rows",
    "with_labeled_rows",
]

LABELED_SHARE = 0.5
"""Share of the total training weight the gold rows carry when both kinds of rows are used."""
LABELED_SHARES = (LABELED_SHARE, 0.0, 1.0)
"""The shares ``choose_labeled_share`` compares: both kinds of rows, the weak labels
alone, the gold rows alone. Ties keep the first."""
CV_FOLDS = 5
"""Folds of the gold rows (fewer when there are fewer rows than folds)."""
CV_MARGIN = 1.0
"""The first candidate is replaced only by one whose cross-validated lead is this many
standard deviations of a paired bootstrap over the gold rows."""

WeakLabels = np.ndarray | Callable[[np.ndarray], np.ndarray]
"""The weak rows' n x k probabilistic labels, or a function that returns them given a
boolean mask over the gold rows: the rows a label model may learn from (``y_dev``)."""


class TrainingRows(NamedTuple):
    """What ``with_labeled_rows`` returns: the arguments of ``student.fit``."""

    texts: list[str]
    probs: np.ndarray
    sample_weight: np.ndarray
    labeled_mask: np.ndarray


class LabeledRowsChoice(NamedTuple):
    """What ``choose_labeled_share`` found."""

    source: str | None
    """The weak labels chosen (a key of ``weak_labels``; None with gold rows alone)."""
    share: float
    """The chosen share of the gold rows (0: weak labels only, 1: gold rows only)."""
    scores: dict[tuple[str | None, float], float]
    """Cross-validated score of each (source, share) on the gold rows (``metric``)."""
    n_folds: int
    """Folds used (0: too few gold rows to cross-validate; the first candidate was kept)."""
    predictions: dict[tuple[str | None, float], np.ndarray]
    """Out-of-fold predictions of each candidate on the gold rows (-1: unknown rows)."""


def _gold_row_weight(share: float, n_weak: int, n_gold: int) -> float:
    """Weight of each gold row that gives the gold rows ``share`` of the total weight (at
    least a weak row's weight of 1)."""
    return max(1.0, share / (1 - share) * n_weak / max(n_gold, 1))


def with_labeled_rows(
    texts: Sequence[str],
    probs: Any,
    labeled_texts: Sequence[str],
    labeled_y: Any,
    *,
    labeled_mask: Any = None,
    share: float = LABELED_SHARE,
) -> TrainingRows:
    """Append gold rows (one-hot targets) to weakly labeled rows, weighted to ``share``.

    Parameters
    ----------
    texts, probs
        The weakly labeled rows and their n x k probabilistic labels.
    labeled_texts, labeled_y
        Gold rows: texts and class indices (``-1`` = unknown, dropped).
    labeled_mask
        ``True`` where a weak row got at least one vote (the others are not counted in the
        weight the gold rows are balanced against, and students leave them out).
    share
        Share of the total weight the gold rows get, in [0, 1]: 0 keeps only the weak rows,
        1 only the gold rows. Between, each gold row weighs at least as much as a weak row.

    Returns
    -------
    TrainingRows
        ``texts``, ``probs``, ``sample_weight`` and ``labeled_mask`` to pass to ``fit``.
    """
    if not 0.0 <= share <= 1.0:
        raise DataError(f"share must be in [0, 1], got {share!r}")
    weak_texts = check_texts(texts)
    weak_probs, _ = check_targets(probs, len(weak_texts))
    gold_texts, gold_probs, known = _check_gold_rows(labeled_texts, labeled_y, weak_probs.shape[1])
    mask = _weak_mask(labeled_mask, len(weak_texts))
    kept = np.flatnonzero(known)
    if share == 0.0:
        return TrainingRows(weak_texts, weak_probs, np.ones(len(weak_texts)), mask)
    if share == 1.0:
        return TrainingRows([gold_texts[i] for i in kept], gold_probs[kept], np.ones(len(kept)), np.ones(len(kept), dtype=bool))
    per_row = _gold_row_weight(share, int(mask.sum()), len(kept))
    return TrainingRows(
        texts=weak_texts + [gold_texts[i] for i in kept],
        probs=np.vstack([weak_probs, gold_probs[kept]]),
        sample_weight=np.concatenate([np.ones(len(weak_texts)), np.full(len(kept), per_row)]),
        labeled_mask=np.concatenate([mask, np.ones(len(kept), dtype=bool)]),
    )


def _check_gold_rows(labeled_texts: Any, labeled_y: Any, k: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, one-hot targets, known mask) of the gold rows; at least one label known."""
    gold_texts = check_texts(labeled_texts, "labeled_texts")
    gold = np.asarray(labeled_y)
    if gold.shape != (len(gold_texts),):
        raise DataError(f"labeled_y has shape {gold.shape}, expected ({len(gold_texts)},)")
    gold_probs, known = check_targets(gold, len(gold_texts), n_classes=k, name="labeled_y")
    if not known.any():
        raise DataError("labeled_y has no known label (all -1)")
    return gold_texts, gold_probs, known


def _weak_mask(labeled_mask: Any, n_rows: int) -> np.ndarray:
    """The weak rows that count (all when ``labeled_mask`` is None), checked."""
    mask = np.ones(n_rows, dtype=bool) if labeled_mask is None else np.asarray(labeled_mask, dtype=bool)
    if mask.shape != (n_rows,):
        raise DataError(f"labeled_mask has shape {mask.shape}, expected ({n_rows},)")
    return mask


class _Probe:
    """A TF-IDF student's model refitted on row subsets of features computed once.

    The n-gram vocabulary and idf weights come from every text, gold rows included (no label
    is used), so each candidate costs one L-BFGS run, started from the last solution.
    """

    def __init__(self, student: TfidfStudent, texts: list[str]) -> None:
        import scipy.sparse as sp

        self.student = student
        self.X = sp.hstack([v.fit_transform(texts) for v in student._make_vectorizers()], format="csr")
        self.last: SoftmaxFit | None = None

    def fit(self, rows: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> SoftmaxFit:
        """The student's soft-label regression on ``rows`` of the features, with its
        ``min_confidence`` filter and class weighting (as ``TfidfStudent.fit`` applies them)."""
        keep = (weights > 0) & (targets.max(axis=1) >= self.student.min_confidence)
        rows, targets, weights = rows[keep], targets[keep], weights[keep]
        mass = (weights[:, None] * targets).sum(axis=0)
        loss = weights[:, None] * _class_weights(self.student.class_weight, mass)[None, :] * targets
        self.last = fit_softmax_regression(
            self.X[rows], loss, C=self.student.C, max_iter=self.student.max_iter, tol=self.student.tol, init=self.last
        )
        return self.last

    def predict(self, fit: SoftmaxFit, rows: np.ndarray) -> np.ndarray:
        """Predicted class of ``rows`` under ``fit``."""
        return softmax_proba(self.X[rows], fit.coef, fit.intercept).argmax(axis=1)


def choose_labeled_share(
    texts: Sequence[str],
    weak_labels: WeakLabels | Mapping[str, WeakLabels],
    labeled_texts: Sequence[str],
    labeled_y: Any,
    *,
    labeled_mask: Any = None,
    shares: Sequence[float] = LABELED_SHARES,
    n_folds: int = CV_FOLDS,
    metric: str = "f1",
    margin: float = CV_MARGIN,
    probe: TfidfStudent | None = None,
    random_state: int | None = 0,
) -> LabeledRowsChoice:
    """The weak labels and the share of the training weight to give the gold rows, by
    cross-validation on the gold rows.

    Each gold row is predicted by a TF-IDF student (``probe``, default ``TfidfStudent()``)
    trained, for each candidate, on the weak rows and the gold rows of the other folds; the
    candidate whose out-of-fold predictions score best (``metric`` of
    ``weaklabel.metrics.score_predictions``, over all gold rows at once) wins if its
    lead over the first candidate is ``margin`` standard deviations of a paired bootstrap
    over the gold rows (``weaklabel.metrics.paired_bootstrap_z``); else the first
    candidate is kept: a few dozen gold rows cannot tell close candidates apart. Candidates: each share of ``shares`` with each source of ``weak_labels`` (a
    mapping name -> labels, in order of preference; one source is named ``"weak labels"``),
    share 1 (gold rows alone) once. A source may be a function of the gold rows a label
    model may learn from (see ``WeakLabels``): it is called once per fold with that
    fold's training rows. Equal weak labels are trained on once.
    """
    from weaklabel.students.tfidf import TfidfStudent

    sources = dict(weak_labels) if isinstance(weak_labels, Mapping) else {"weak labels": weak_labels}
    weak_texts = check_texts(texts)
    mask = _weak_mask(labeled_mask, len(weak_texts))
    gold_probs, known = check_targets(labeled_y, len(check_texts(labeled_texts, "labeled_texts")), name="labeled_y")
    folds_used = min(n_folds, int(known.sum()))
    fold = np.full(len(known), -1)
    if folds_used >= 2:
        fold[known] = stratified_folds(gold_probs[known].argmax(axis=1), folds_used, random_state)

    def weak_probs(name: str, train: np.ndarray) -> np.ndarray:
        source = sources[name]
        probs = source(train) if callable(source) else source
        return check_targets(probs, len(weak_texts), name=f"weak labels {name!r}")[0]

    labels = {name: weak_probs(name, known & (fold != 0)) for name in sources}  # fold 0's
    k = next(iter(labels.values())).shape[1]
    gold_texts, gold_probs, known = _check_gold_rows(labeled_texts, labeled_y, k)
    candidates: list[tuple[str | None, float]] = [
        (name, float(share)) for share in shares for name in (sources if share < 1 else [None])
    ]
    if folds_used < 2 or len(candidates) < 2:
        return LabeledRowsChoice(*candidates[0], {}, 0, {})
    y = gold_probs.argmax(axis=1)
    model = _Probe(probe if probe is not None else TfidfStudent(), weak_texts + gold_texts)
    gold_rows = len(weak_texts) + np.arange(len(y))
    out_of_fold = {candidate: np.full(len(y), -1) for candidate in candidates}
    fits: dict[tuple[str, float, int], SoftmaxFit] = {}  # equal labels are trained on once
    for f in range(folds_used):
        held_out, train = fold == f, known & (fold != f)
        if f:
            labels = {name: weak_probs(name, train) for name in sources}
        for name, share in candidates:
            probs = labels[name if name is not None else next(iter(sources))]
            digest = "" if name is None else hashlib.sha256(np.ascontiguousarray(probs).tobytes()).hexdigest()
            key = (digest, share, -1 if share == 0 else f)
            if key not in fits:
                fits[key] = model.fit(*_candidate(share, probs, mask, gold_rows[train], gold_probs[train]))
            out_of_fold[name, share][held_out] = model.predict(fits[key], gold_rows[held_out])
    scores = {
        candidate: score_predictions(y[known], pred[known], (metric,), cardinality=k)[metric]
        for candidate, pred in out_of_fold.items()
    }
    best = max(scores, key=lambda candidate: scores[candidate])  # first of the best
    if best != candidates[0] and margin > 0:
        z = paired_bootstrap_z(
            y[known], out_of_fold[best][known], out_of_fold[candidates[0]][known], metric,
            cardinality=k, random_state=random_state,
        )
        best = best if z >= margin else candidates[0]
    return LabeledRowsChoice(*best, scores, folds_used, out_of_fold)


def _candidate(
    share: float, probs: np.ndarray, mask: np.ndarray, gold_rows: np.ndarray, gold_probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, targets, weights) of the probe's training set."""
    if share == 0.0:
        weak_rows = np.flatnonzero(mask)
        return weak_rows, probs[mask], np.ones(len(weak_rows))
    if share == 1.0:
        return gold_rows, gold_probs, np.ones(len(gold_rows))
    weak_rows = np.flatnonzero(mask)
    per_row = _gold_row_weight(share, len(weak_rows), len(gold_rows))
    return (
        np.concatenate([weak_rows, gold_rows]),
        np.vstack([probs[mask], gold_probs]),
        np.concatenate([np.ones(len(weak_rows)), np.full(len(gold_rows), per_row)]),
    )


def fit_with_labeled_rows(
    student: BaseStudent,
    texts: Sequence[str],
    weak_labels: WeakLabels | Mapping[str, WeakLabels],
    labeled_texts: Sequence[str],
    labeled_y: Any,
    *,
    labeled_mask: Any = None,
    shares: Sequence[float] = LABELED_SHARES,
    random_state: int | None = 0,
    **fit_params: Any,
) -> LabeledRowsChoice:
    """Train ``student`` on the weak labels and the share of gold rows that
    ``choose_labeled_share`` chooses; ``fit_params`` go to ``student.fit``.

    The weak labels are those given, or those ``weak_labels`` returns with every gold row
    to learn from. A ``TfidfStudent`` is its own probe; other
    students are probed by ``TfidfStudent()`` (the choice is about the rows, and a
    transformer fine-tuned once per fold and share would cost hours).

    With a label model that learns from the gold rows, pass it as a function of the rows it
    may see, so that cross-validation refits it without each held-out fold::

        def with_gold(rows):
            model = LabelModel(random_state=0)
            model.fit(L_train, y_dev=np.where(rows, y_gold, -1), L_dev=L_gold)
            return model.predict_proba(L_train)

        without = LabelModel(random_state=0).fit(L_train).predict_proba(L_train)
        choice = fit_with_labeled_rows(
            TfidfStudent(), texts, {"with gold": with_gold, "without": without},
            gold_texts, y_gold, labeled_mask=(L_train.votes != -1).any(axis=1),
        )
    """
    from weaklabel.students.tfidf import TfidfStudent

    probe = student if isinstance(student, TfidfStudent) else None
    choice = choose_labeled_share(
        texts, weak_labels, labeled_texts, labeled_y,
        labeled_mask=labeled_mask, shares=shares, probe=probe, random_state=random_state,
    )
    sources = dict(weak_labels) if isinstance(weak_labels, Mapping) else {"weak labels": weak_labels}
    chosen = sources[choice.source if choice.source is not None else next(iter(sources))]
    probs = chosen(np.asarray(labeled_y) >= 0) if callable(chosen) else chosen
    rows = with_labeled_rows(texts, probs, labeled_texts, labeled_y, labeled_mask=labeled_mask, share=choice.share)
    student.fit(rows.texts, rows.probs, rows.sample_weight, labeled_mask=rows.labeled_mask, **fit_params)
    return choice
