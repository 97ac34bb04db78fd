"""Students: shared input checks, the unlabeled-row rule, soft-label training, TfidfStudent.

TransformerStudent's training runs are in test_students_transformer.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from weaklabel.data import load_wrench
from weaklabel.label_models import MajorityVote
from weaklabel.students import TfidfStudent, TransformerStudent
from weaklabel.students._softmax import fit_softmax_regression, softmax_proba
from weaklabel.students.base import check_targets

SPAM_WORDS = ["subscribe", "channel", "free", "click", "money", "giveaway", "http"]
HAM_WORDS = ["song", "love", "voice", "beautiful", "music", "dance", "lyrics"]


def majority_vote_probs(votes: np.ndarray, k: int) -> np.ndarray:
    """Majority vote as probabilities: ties share the mass, rows without a vote are uniform."""
    return MajorityVote(cardinality=k).fit(votes).predict_proba(votes)


def toy_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Separable toy data: class 1 texts are made of spam words, class 0 of ham words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [" ".join(rng.choice(SPAM_WORDS if label else HAM_WORDS, 4)) for label in y]
    return texts, y


def confident(y: np.ndarray, confidence: float = 0.9) -> np.ndarray:
    return np.where(np.eye(2)[y] == 1, confidence, 1 - confidence)


def test_separable_toy_problem_is_learned_from_confident_labels():
    texts, y = toy_texts(120)
    test_texts, test_y = toy_texts(60, seed=1)
    student = TfidfStudent().fit(texts, confident(y))
    assert student.score(test_texts, test_y) == 1.0
    assert student.n_train_rows_ == 120 and student.n_excluded_rows_ == 0


def test_soft_targets_change_the_fit():
    """Rows whose label is uncertain pull the soft-trained model towards uncertainty; the
    argmax of the same labels throws that away."""
    texts, y = toy_texts(100)
    probs = confident(y, 0.6)
    soft = TfidfStudent().fit(texts, probs).predict_proba(texts)
    hard = TfidfStudent().fit(texts, probs.argmax(axis=1)).predict_proba(texts)
    assert np.abs(soft - hard).max() > 0.2
    assert soft.max(axis=1).mean() < hard.max(axis=1).mean()
    assert (soft.argmax(axis=1) == y).all()


def test_soft_objective_equals_sklearn_on_rows_repeated_per_class():
    """The L-BFGS soft cross-entropy = scikit-learn's multinomial fit on each row repeated once
    per class with weight probability x sample weight."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    probs = rng.dirichlet(np.ones(3) * 0.7, size=60)
    weights = rng.uniform(0.5, 2.0, size=60)
    fit = fit_softmax_regression(X, probs * weights[:, None], C=2.0, tol=1e-10)
    reference = LogisticRegression(C=2.0, tol=1e-10, max_iter=10_000)
    reference.fit(np.repeat(X, 3, axis=0), np.tile(np.arange(3), 60), sample_weight=(probs * weights[:, None]).ravel())
    np.testing.assert_allclose(softmax_proba(X, fit.coef, fit.intercept), reference.predict_proba(X), atol=1e-4)


def test_hard_labels_are_one_hot_probabilities():
    texts, y = toy_texts(50)
    from_hard = TfidfStudent().fit(texts, y)
    from_one_hot = TfidfStudent().fit(texts, np.eye(2)[y])
    np.testing.assert_array_equal(from_hard.coef_, from_one_hot.coef_)


def test_n_classes_keeps_a_class_no_row_was_labeled_with():
    texts, y = toy_texts(40)
    student = TfidfStudent().fit(pd.Series(texts), y, n_classes=3)
    probs = student.predict_proba(texts)
    assert probs.shape == (40, 3) and probs[:, 2].max() < 0.05
    with pytest.raises(ValueError, match="at least 2 classes"):
        TfidfStudent().fit(texts, np.zeros(40, dtype=int), n_classes=1)


def test_labeled_mask_leaves_rows_out_exactly():
    texts, y = toy_texts(80)
    mask = np.arange(80) % 3 != 0
    wrong = confident(1 - y, 0.99)  # adversarial labels on the rows the mask leaves out
    probs = np.where(mask[:, None], confident(y), wrong)
    masked = TfidfStudent().fit(texts, probs, labeled_mask=mask)
    subset = TfidfStudent().fit([t for t, m in zip(texts, mask, strict=True) if m], probs[mask])
    assert masked.n_excluded_rows_ == int((~mask).sum())
    np.testing.assert_allclose(masked.predict_proba(texts), subset.predict_proba(texts), atol=1e-12)
    kept = TfidfStudent(exclude_unlabeled=False).fit(texts, probs, labeled_mask=mask)
    assert kept.n_excluded_rows_ == 0
    assert not np.allclose(kept.predict_proba(texts), masked.predict_proba(texts))


def test_without_a_mask_uniform_rows_and_missing_labels_are_left_out():
    texts, y = toy_texts(40)
    probs = confident(y)
    probs[:5] = 0.5
    assert TfidfStudent().fit(texts, probs).n_excluded_rows_ == 5
    assert TfidfStudent(exclude_unlabeled=False).fit(texts, probs).n_excluded_rows_ == 0
    hard = y.copy()
    hard[:3] = -1
    assert TfidfStudent().fit(texts, hard).n_excluded_rows_ == 3
    with pytest.raises(ValueError, match=r"row 0 has the label -1"):
        TfidfStudent(exclude_unlabeled=False).fit(texts, hard)


def test_min_confidence_leaves_out_the_unsure_rows_exactly():
    texts, y = toy_texts(60)
    probs = confident(y)
    probs[:12] = np.where(y[:12, None] == np.arange(2), 0.7, 0.3)  # unsure but right
    probs[12:20] = confident(1 - y[12:20], 0.6)  # unsure and wrong
    sure = TfidfStudent(min_confidence=0.9).fit(texts, probs)
    subset = TfidfStudent().fit(texts[20:], probs[20:])
    assert sure.n_excluded_rows_ == 20
    np.testing.assert_allclose(sure.predict_proba(texts), subset.predict_proba(texts), atol=1e-12)
    assert TfidfStudent(min_confidence=0.65).fit(texts, probs).n_excluded_rows_ == 8
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\], got 1\.5"):
        TfidfStudent(min_confidence=1.5).fit(texts, probs)
    with pytest.raises(ValueError, match=r"below min_confidence=0\.999"):
        TfidfStudent(min_confidence=0.999).fit(texts, np.full((60, 2), 0.5))


def test_zero_sample_weight_is_like_leaving_the_row_out():
    texts, y = toy_texts(60)
    weights = np.ones(60)
    weights[:10] = 0
    weighted = TfidfStudent().fit(texts, y, weights)
    subset = TfidfStudent().fit(texts[10:], y[10:])
    np.testing.assert_allclose(weighted.predict_proba(texts), subset.predict_proba(texts), atol=1e-12)


def test_balanced_class_weight_raises_the_minority_class():
    texts, y = toy_texts(200)
    keep = (y == 0) | (np.arange(200) % 8 == 0)  # few class-1 rows
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    probs = confident(y[keep], 0.7)
    plain = TfidfStudent(class_weight=None).fit(texts, probs).predict_proba(texts)[:, 1].mean()
    balanced = TfidfStudent().fit(texts, probs).predict_proba(texts)[:, 1].mean()  # the default
    upweighted = TfidfStudent(class_weight={1: 5.0}).fit(texts, probs).predict_proba(texts)[:, 1].mean()
    assert balanced > plain and upweighted > plain


@pytest.mark.parametrize(
    ("probs", "kwargs", "error", "message"),
    [
        ([[0.5, 0.4], [0.5, 0.5], [1.0, 0.0]], {}, ValueError, r"row 0 sums to 0\.9"),
        ([[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]], {"n_classes": 3}, ValueError, r"2 columns, expected one per class \(3\)"),
        ([[0.5, 0.5], [1.2, -0.2], [1.0, 0.0]], {}, ValueError, r"probs\[1, 1\] is -0\.2"),
        ([[0.5, 0.5], [0.5, 0.5], [np.nan, 1.0]], {}, ValueError, r"probs\[2, 0\] is nan"),
        ([[0.5, 0.5], [0.5, 0.5]], {}, ValueError, r"probs has 2 rows but there are 3 texts"),
        ([[1.0], [1.0], [1.0]], {}, ValueError, r"1 column\(s\)"),
        ([0, 1, 5], {"n_classes": 2}, ValueError, r"probs\[2\] is 5, outside the 2 classes"),
        ([0.5, 0.2, 0.3], {}, ValueError, r"integer class indices"),
        ([0, 1, 1], {"sample_weight": [1, -1, 1]}, ValueError, r"sample_weight\[1\] is -1"),
        ([0, 1, 1], {"labeled_mask": [1, 0, 1]}, ValueError, r"labeled_mask must be boolean"),
        ([0, 1, 1], {"dev_texts": ["a"]}, ValueError, r"both dev_texts and dev_y"),
        ([0, 1, 1], {"dev_texts": ["a"], "dev_y": [[0.5, 0.6]]}, ValueError, r"dev_y row 0 sums to 1\.1"),
    ],
)
def test_bad_labels_get_a_clear_error(probs, kwargs, error, message):
    with pytest.raises(error, match=message):
        TfidfStudent().fit(["a b", "c d", "e f"], np.asarray(probs), **kwargs)


@pytest.mark.parametrize(
    ("texts", "message"),
    [(["fine", None, "ok"], r"texts\[1\] is None of type NoneType"), (["fine", "ok", 3.5], r"texts\[2\] is 3\.5"),
     ("a single string", r"a single str")],
)
def test_non_string_texts_name_the_row(texts, message):
    with pytest.raises(TypeError, match=message):
        TfidfStudent().fit(texts, np.array([0, 1, 1]))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    k=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_check_targets_names_the_row_that_does_not_sum_to_one(n, k, seed, data):
    probs = np.random.default_rng(seed).dirichlet(np.ones(k), size=n)
    targets, has_target = check_targets(probs, n)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    assert has_target.all()
    row = data.draw(st.integers(0, n - 1))
    probs[row] *= data.draw(st.sampled_from([0.5, 1.5, 3.0]))
    with pytest.raises(ValueError, match=rf"probs row {row} sums to"):
        check_targets(probs, n)


def test_score_reports_positive_class_f1_for_binary_and_macro_f1_otherwise():
    texts, y = toy_texts(80)
    student = TfidfStudent(C=0.05).fit(texts, confident(y, 0.55))
    pred = student.predict(texts)
    scores = student.evaluate(texts, y)
    assert scores["f1"] == pytest.approx(f1_score(y, pred))
    assert scores["accuracy"] == pytest.approx(np.mean(pred == y))
    rng = np.random.default_rng(0)
    y3 = rng.integers(0, 3, 90)
    texts3 = [f"{['red', 'green', 'blue'][c]} {rng.choice(['x', 'y', 'z'])}" for c in y3]
    student3 = TfidfStudent().fit(texts3, y3)
    pred3 = student3.predict(texts3)
    assert student3.evaluate(texts3, y3)["f1"] == pytest.approx(f1_score(y3, pred3, average="macro"))


def test_sklearn_conventions():
    student = TfidfStudent(C=3.0, char_ngram_range=None)
    assert clone(student).get_params() == student.get_params()
    with pytest.raises(NotFittedError, match="call fit first"):
        student.predict(["x"])
    texts, y = toy_texts(30)
    assert student.fit(texts, y) is student
    np.testing.assert_array_equal(student.classes_, [0, 1])
    with pytest.raises(ValueError, match="both None"):
        TfidfStudent(word_ngram_range=None, char_ngram_range=None).fit(texts, y)


def test_tfidf_save_load_round_trip_is_exact_and_pickle_free(tmp_path):
    texts, y = toy_texts(60)
    student = TfidfStudent(class_weight={0: 2.0}, word_ngram_range=(1, 3)).fit(
        texts, confident(y, 0.8), dev_texts=texts[:10], dev_y=y[:10]
    )
    student.save(tmp_path / "student")
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == ["arrays.npz", "config.json"]
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["student"] == "TfidfStudent" and "dev_accuracy" in config["history"][0]
    loaded = TfidfStudent.load(tmp_path / "student")
    new_texts, _ = toy_texts(40, seed=5)
    np.testing.assert_array_equal(loaded.predict_proba(new_texts), student.predict_proba(new_texts))
    assert loaded.get_params() == student.get_params()
    with pytest.raises(ValueError, match="not a TransformerStudent"):
        TransformerStudent.load(tmp_path / "student")


@pytest.fixture(scope="module")
def youtube(wrench_dir):
    folder = wrench_dir("youtube")
    return {split: load_wrench(folder, split) for split in ("train", "valid", "test")}


@pytest.mark.slow
@pytest.mark.shared_data
def test_tfidf_on_youtube_majority_vote_beats_its_labels(youtube):
    """Measured: 0.916 test accuracy (majority vote itself: ~0.81-0.84)."""
    data, L, _ = youtube["train"]
    votes = L.to_numpy()
    probs = majority_vote_probs(votes, 2)
    labeled = (votes != -1).any(axis=1)
    valid, test = youtube["valid"], youtube["test"]
    student = TfidfStudent().fit(
        data["text"].tolist(), probs, labeled_mask=labeled, dev_texts=valid.data["text"].tolist(), dev_y=valid.y
    )
    assert student.n_excluded_rows_ == int((~labeled).sum()) > 0
    test_votes = test.L.to_numpy()
    mv_accuracy = np.mean(majority_vote_probs(test_votes, 2).argmax(axis=1) == test.y)
    scores = student.evaluate(test.data["text"].tolist(), test.y)
    assert scores["accuracy"] >= 0.89
    assert scores["accuracy"] > mv_accuracy + 0.03
    assert scores["f1"] >= 0.87


# ---------------------------------------------------------------- weak labels + gold rows
def test_gold_rows_carry_their_share_of_the_weight():
    from weaklabel.students.labeled import with_labeled_rows

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.6, 0.4]])
    covered = np.array([True, True, False, True])
    rows = with_labeled_rows(
        ["a", "b", "c", "d"], probs, ["g1", "g2", "g3"], np.array([1, -1, 0]), labeled_mask=covered
    )
    assert rows.texts == ["a", "b", "c", "d", "g1", "g3"]  # the unknown gold row is dropped
    assert rows.probs[4:].tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert rows.labeled_mask.tolist() == [True, True, False, True, True, True]
    # half the weight: 2 gold rows balance the 3 covered weak rows (the silent one not counted)
    assert rows.sample_weight.tolist() == [1, 1, 1, 1, 1.5, 1.5]
    quarter = with_labeled_rows(["a"] * 30, np.full((30, 2), 0.5), ["g"], [1], share=0.25)
    assert quarter.sample_weight[-1] == pytest.approx(10.0)  # 10 / (30 + 10) = 0.25
    many = with_labeled_rows(["a"], np.array([[0.3, 0.7]]), ["g"] * 10, [0] * 10)
    assert (many.sample_weight == 1).all()  # a gold row never weighs less than a weak one
    weak = with_labeled_rows(["a", "b"], probs[:2], ["g"], [1], share=0.0)
    assert weak.texts == ["a", "b"] and weak.sample_weight.tolist() == [1, 1]
    gold = with_labeled_rows(["a", "b"], probs[:2], ["g1", "g2"], [1, -1], share=1.0)
    assert gold.texts == ["g1"] and gold.probs.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match=r"share must be in \[0, 1\]"):
        with_labeled_rows(["a"], probs[:1], ["g"], [0], share=1.5)
    with pytest.raises(ValueError, match="labeled_y has no known label"):
        with_labeled_rows(["a"], probs[:1], ["g"], [-1])
    with pytest.raises(ValueError, match=r"labeled_y\[0\] is 2, outside the 2 classes"):
        with_labeled_rows(["a"], probs[:1], ["g"], [2])
    with pytest.raises(ValueError, match=r"labeled_y has shape \(2,\), expected \(1,\)"):
        with_labeled_rows(["a"], probs[:1], ["g"], [0, 1])


def test_cross_validation_on_the_gold_rows_picks_the_rows_that_predict_them():
    from weaklabel.students.labeled import choose_labeled_share, fit_with_labeled_rows

    texts, y = toy_texts(300, seed=1)
    gold_texts, gold_y = toy_texts(40, seed=2)
    gold_y = gold_y.copy()
    gold_y[:3] = -1  # unknown gold labels are never shown to a label model nor scored
    right, inverted = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[1 - y] * 0.8 + 0.1
    seen: list[np.ndarray] = []

    def refitted(rows: np.ndarray) -> np.ndarray:  # a label model learning from these gold rows
        seen.append(rows.copy())
        return inverted

    choice = choose_labeled_share(texts, {"inverted": refitted, "right": right}, gold_texts, gold_y)
    assert choice.n_folds == 5 and len(choice.scores) == 5
    assert choice.source == "right" and choice.scores[choice.source, choice.share] == max(choice.scores.values())
    assert choice.scores["inverted", 0.0] < 0.2 < 0.9 < choice.scores[None, 1.0]
    held_out = [~rows & (gold_y >= 0) for rows in seen]
    assert len(seen) == 5 and not any(rows[:3].any() for rows in seen)
    assert np.array_equal(np.sum(held_out, axis=0), (gold_y >= 0).astype(int))  # each row held out once
    # weak labels that contradict the gold rows lose to the gold rows alone
    assert choose_labeled_share(texts, inverted, gold_texts, gold_y).share == 1.0
    student = TfidfStudent()
    picked = fit_with_labeled_rows(student, texts, right, gold_texts, gold_y, shares=(0.5,))
    assert picked.n_folds == 0 and picked.share == 0.5  # one candidate: nothing to choose
    assert student.n_train_rows_ == 300 + 37


@pytest.mark.slow
@pytest.mark.shared_data
def test_minimal_fit_config_trains_the_student_on_the_valid_gold_rows_too(tmp_path, wrench_dir):
    """`python -m weaklabel.fit` with a WRENCH source and defaults: the valid split's gold
    labels reach the label model (y_dev) and the student, at the share and with the weak
    labels that cross-validation on them chose; on test it is as good as either input alone."""
    from weaklabel.fit import run

    config = {
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "progress": False,
        "report": False,
        "data": {"source": "wrench", "path": str(wrench_dir("youtube"))},
    }
    result = run(config)
    rows = result.metrics["student_rows"]
    assert rows["gold_rows"] == 120 and rows["chosen_by"] == "5-fold cross-validation on the gold rows"
    assert len(rows["cross_validated_f1"]) == 5  # (with, without the valid labels) x (1/2, 0) + gold alone
    covered = int((result.splits["train"].L.votes != -1).any(axis=1).sum())
    expected = {0.0: covered, 0.5: covered + 120, 1.0: 120}[rows["share"]]
    assert result.student.n_train_rows_ == expected
    assert "dev_choice" in result.label_model.diagnostics_
    weak_only = run({**config, "output_dir": str(tmp_path / "weak"), "student": {"use_dev": False}})
    gold_only = run({**config, "output_dir": str(tmp_path / "gold"), "student": {"labeled_share": 1.0}})
    assert weak_only.student.n_train_rows_ == covered and gold_only.student.n_train_rows_ == 120
    test = {name: r.metrics["test"]["student"]["f1"] for name, r in [("default", result), ("weak", weak_only), ("gold", gold_only)]}
    assert test["default"] >= max(test["weak"], test["gold"]) - 0.01, test  # benchmarks/students.py
