"""Class names first-class, on TREC question types (6 classes): LFs voting by name, the
user's class order (not alphabetical), names in the tables, models, students and files."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from weaklabel import ABSTAIN, apply_lfs, keyword_lf, labeling_function, lf_summary, regex_lf
from weaklabel.analysis import disagreements, plot_lf_summary
from weaklabel.data import load_wrench
from weaklabel.exceptions import InvalidVoteError, WeaklabelWarning
from weaklabel.label_models import LabelModel, MajorityVote, load_label_model
from weaklabel.students import TfidfStudent

# TREC's own order (label.json): neither alphabetical nor anything an LF module could guess
TREC_CLASSES = ["DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM"]


@labeling_function()
def how_many(x):
    return "NUM" if x.text.lower().startswith("how many") else ABSTAIN


LFS = [
    keyword_lf("who", ["who", "whom", "whose"], "HUM"),
    keyword_lf("where", ["where"], "LOC"),
    regex_lf("when", r"^when\b|what year", "NUM"),
    keyword_lf("abbreviation", ["stand for", "abbreviation", "acronym"], "ABBR"),
    regex_lf("why_how", r"^(why|how (do|does|did|can))\b", "DESC"),
    keyword_lf("what_is_a", ["what is a", "what is an", "what are"], 0),  # an index: DESC
    how_many,
]


@pytest.fixture(scope="module")
def trec(wrench_dir):
    data = {}
    for split in ("train", "test"):
        loaded = load_wrench(wrench_dir("trec"), split)
        assert loaded.L.class_names == TREC_CLASSES
        frame = loaded.data.reset_index(drop=True)
        data[split] = (frame, loaded.y)
    return data


@pytest.fixture(scope="module")
def matrices(trec):
    return {
        split: apply_lfs(LFS, frame, class_names=TREC_CLASSES, progress=False)
        for split, (frame, _) in trec.items()
    }


@pytest.mark.shared_data
def test_lfs_vote_by_name_in_the_users_class_order(trec, matrices):
    frame, y = trec["train"]
    L = matrices["train"]
    assert L.class_names == TREC_CLASSES and L.cardinality == 6
    who = L.to_numpy()[:, L.lf_names.index("who")]
    assert set(np.unique(who)) == {ABSTAIN, TREC_CLASSES.index("HUM")}
    # the same LF by index votes the same as by name
    by_index = apply_lfs([keyword_lf("who", ["who", "whom", "whose"], 2)], frame, cardinality=6,
                         progress=False)
    np.testing.assert_array_equal(by_index.to_numpy()[:, 0], who)
    # each LF is right more often than chance (1/6) on the gold labels
    summary = lf_summary(L, y)
    assert (summary["emp_accuracy"] > 1 / 6).all()
    assert summary.loc["who", "polarity"] == ["HUM"]
    assert summary.loc["what_is_a", "polarity"] == ["DESC"]
    # gold labels by name work as well as indices
    names = np.asarray(TREC_CLASSES, dtype=object)[y]
    pd.testing.assert_frame_equal(lf_summary(L, names), summary)


@pytest.mark.shared_data
def test_unknown_names_are_refused_before_any_work(trec):
    frame, _ = trec["train"]
    with pytest.raises(InvalidVoteError, match=r"'PERSON' is not one of the class names"):
        apply_lfs([keyword_lf("who", ["who"], "PERSON")], frame.head(50),
                  class_names=TREC_CLASSES, progress=False)
    with pytest.raises(InvalidVoteError, match=r"class name needs apply_lfs\(.*class_names"):
        apply_lfs([keyword_lf("who", ["who"], "HUM")], frame.head(50), cardinality=6,
                  progress=False)


@pytest.mark.shared_data
def test_tables_and_plots_show_names(trec, matrices):
    frame, y = trec["train"]
    L = matrices["train"]
    votes = L.to_dataframe(as_names=True)
    assert set(votes["where"].dropna()) == {"LOC"} and votes["where"].isna().any()
    wrong = disagreements(L, y, "who", data=frame)
    assert set(wrong["who"]) == {"HUM"} and set(wrong["gold_name"]) <= set(TREC_CLASSES)
    assert (wrong["gold_name"] != "HUM").all()
    plt.switch_backend("Agg")
    ax = plot_lf_summary(lf_summary(L, y), n_classes=6)
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 6)  # chance for 6 classes
    plt.close("all")


@pytest.mark.shared_data
def test_models_and_students_keep_the_names(trec, matrices, tmp_path):
    train, test = matrices["train"], matrices["test"]
    (frame, _), (test_frame, y_test) = trec["train"], trec["test"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeaklabelWarning)
        model = LabelModel(random_state=0).fit(train)
    assert list(model.classes_) == TREC_CLASSES
    named = model.predict(test, tie_break="abstain", return_names=True)
    index = model.predict(test, tie_break="abstain")
    assert all(
        (n is None) if i == ABSTAIN else n == TREC_CLASSES[i] for n, i in zip(named, index, strict=True)
    )
    # majority vote over these LFs beats chance on the test split, scored by name
    majority = MajorityVote(random_state=0).fit(train)
    names_test = np.asarray(TREC_CLASSES, dtype=object)[y_test]
    assert majority.score(test, names_test) == majority.score(test, y_test) > 1 / 6
    model.save(tmp_path / "lm.json")
    assert list(load_label_model(tmp_path / "lm.json").classes_) == TREC_CLASSES

    probs = model.predict_proba(train)
    covered = (train.votes != ABSTAIN).any(axis=1)
    student = TfidfStudent().fit(frame["text"], probs, labeled_mask=covered,
                                 class_names=model.classes_)
    predicted = student.predict(test_frame["text"])
    assert set(predicted) <= set(TREC_CLASSES)
    assert student.score(test_frame["text"], names_test) == student.score(test_frame["text"], y_test)
    student.save(tmp_path / "student")
    loaded = TfidfStudent.load(tmp_path / "student")
    assert list(loaded.classes_) == TREC_CLASSES
    np.testing.assert_array_equal(loaded.predict(test_frame["text"]), predicted)
