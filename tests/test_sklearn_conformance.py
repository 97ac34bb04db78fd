"""scikit-learn's own estimator checks on every label model and student.

``parametrize_with_checks`` runs every check that applies; the ones each estimator fails
on purpose are listed below with the reason, and run as expected failures (so a fix shows
up as an unexpected pass). Students take texts, not a 2-D numeric array: scikit-learn runs
no common check on string input beyond the tags (as for its own ``TfidfVectorizer``), so
their classifier contract is tested by hand below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from weaklabel.exceptions import NotFittedError, WeaklabelError, WeaklabelWarning
from weaklabel.label_models import (
    DawidSkene,
    LabelModel,
    MajorityVote,
    SnorkelLabelModel,
    StackedLabelModel,
)
from weaklabel.students import TfidfStudent, TransformerStudent

# Reasons shared by every label model: its X is a vote matrix (-1 = abstain, else a class
# index) and its y the optional gold dev labels of those rows.
_VOTES = {
    "check_fit_score_takes_y": (
        "y is y_dev, gold labels of the rows: a class beyond those the votes can express "
        "(cardinality from the votes) is refused"
    ),
    "check_positive_only_tag_during_fit": (
        "votes below -1 are refused (-1 = abstain), yet -1 must be allowed, so the "
        "positive_only tag cannot be set"
    ),
    "check_dtype_object": (
        "object arrays are refused: votes are integers, and an object array usually hides None "
        "where -1 (abstain) was meant"
    ),
}
_RANDOM_TIES = {
    "check_methods_sample_order_invariance": (
        "predict's default tie_break='random' draws one seeded number per row in row order, so "
        "a tied row's class depends on its position (tie_break='first'/'abstain' do not)"
    ),
    "check_methods_subset_invariance": "as check_methods_sample_order_invariance",
}
_STACKED = {
    "check_estimators_overwrite_params": (
        "the random checks' trusted column 0 never votes some class, which StackedLabelModel "
        "refuses (its reader could not learn that class)"
    ),
    "check_estimators_fit_returns_self": "as check_estimators_overwrite_params",
    "check_readonly_memmap_input": "as check_estimators_overwrite_params",
    "check_fit2d_1sample": "as check_estimators_overwrite_params",
    "check_fit2d_1feature": "one source, the trusted one, leaves no other source to read",
}
_SNORKEL = {
    "check_estimators_overwrite_params": "Snorkel's LabelModel needs at least 3 sources",
    "check_estimators_fit_returns_self": "Snorkel's LabelModel needs at least 3 sources",
    "check_readonly_memmap_input": "Snorkel's LabelModel needs at least 3 sources",
    "check_fit2d_1feature": "Snorkel's LabelModel needs at least 3 sources",
    "check_fit_idempotent": "Snorkel's LabelModel needs at least 3 sources",
    "check_fit_check_is_fitted": "Snorkel's LabelModel needs at least 3 sources",
    "check_n_features_in": "Snorkel's LabelModel needs at least 3 sources",
    "check_n_features_in_after_fitting": "Snorkel requires Y_dev to hold every class",
    "check_estimators_dtypes": "Snorkel requires Y_dev to hold every class",
}

EXPECTED_FAILURES = {
    "MajorityVote": {**_VOTES, **_RANDOM_TIES},
    "DawidSkene": _VOTES,
    "LabelModel": _VOTES,
    "StackedLabelModel": {**_VOTES, **_STACKED},
    "SnorkelLabelModel": {**_VOTES, **_SNORKEL},
    "TfidfStudent": {},
    "TransformerStudent": {},
}

ESTIMATORS = [
    MajorityVote(random_state=0),
    DawidSkene(random_state=0),
    LabelModel(random_state=0),
    StackedLabelModel(trusted=[0], C=1.0, random_state=0),
    SnorkelLabelModel(n_epochs=20, random_state=0),
    TfidfStudent(),
    TransformerStudent(adaptation="head", progress=False),
]


def _expected_failures(estimator):
    return EXPECTED_FAILURES[type(estimator).__name__]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeaklabelWarning)  # degenerate random votes warn
        check(estimator)


# ---------------------------------------------------------------------- label models
@pytest.mark.parametrize("cls", [MajorityVote, DawidSkene, LabelModel])
def test_label_models_fit_the_estimator_contract(cls):
    votes = np.array([[0, 0, 1], [1, 1, -1], [0, -1, 0], [1, 1, 1], [-1, 0, 0]])
    model = cls(random_state=0)
    with pytest.raises(NotFittedError, match="not fitted yet") as info:
        model.predict(votes)
    assert isinstance(info.value, WeaklabelError)  # under weaklabel's root too
    model.fit(votes)
    check_is_fitted(model)
    assert model.n_features_in_ == 3 and list(model.classes_) == [0, 1]
    assert not is_classifier(model)  # its y is optional gold: no scikit-learn estimator type
    score = model.score(votes, [0, 1, 0, 1, 0])
    assert isinstance(score, float) and 0 <= score <= 1
    assert set(model.evaluate(votes, [0, 1, 0, 1, 0])) == {"accuracy", "f1"}


def test_label_models_refuse_votes_that_cannot_hold_abstain():
    with pytest.raises(ValueError, match=r"dtype uint8, which cannot hold -1 \(abstain\).*255"):
        MajorityVote().fit(np.array([[0, 1], [255, 1]], dtype=np.uint8))


# ---------------------------------------------------------------------- students
def _texts(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    words = np.array([["great song", "love this"], ["check my channel", "subscribe now"]])
    texts = [f"{words[c, rng.integers(2)]} {rng.integers(1000)}" for c in y]
    return texts, y


def test_students_are_scikit_learn_classifiers():
    texts, y = _texts()
    student = TfidfStudent()
    assert is_classifier(student)
    with pytest.raises(NotFittedError):
        student.predict(texts)
    scores = cross_val_score(student, texts, y, cv=3)  # default scoring: score() = accuracy
    assert scores.shape == (3,) and np.all(scores > 0.9)
    fitted = clone(student).fit(texts, y)
    check_is_fitted(fitted)
    assert isinstance(fitted.score(texts, y), float)
    assert set(np.unique(fitted.predict(texts))) <= set(fitted.classes_)


def test_student_classes_keep_the_names_in_the_users_order():
    texts, y = _texts()
    names = np.array(["spam", "ham"])[y]  # index 0 = "spam": not alphabetical
    by_name = TfidfStudent().fit(texts, names, class_names=["spam", "ham"])
    assert list(by_name.classes_) == ["spam", "ham"]
    assert set(by_name.predict(texts)) <= {"spam", "ham"}
    assert by_name.score(texts, names) == 1.0
    # names without class_names are ordered as scikit-learn orders string labels
    assert list(TfidfStudent().fit(texts, names).classes_) == ["ham", "spam"]
    # probabilities come with the names of their columns
    probs = np.eye(2)[y]
    named = TfidfStudent().fit(texts, probs, class_names=["ham", "spam"])
    assert list(named.predict(texts[:3])) == list(np.array(["ham", "spam"])[y[:3]])
