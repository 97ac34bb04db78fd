"""StackedLabelModel: hand-written LFs trusted, LLM prompt votes read through their labels.

The real-data tests stack the SMS LFs with the T0++ prompt votes of ``sms_prompted_original``:
73 sparse, precise keyword LFs beside 73 dense prompts whose spam votes are mostly wrong —
the case where majority vote and the generative model hand the prompts' errors on to the
student.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from weaklabel.data import load_wrench, load_wrench_stack
from weaklabel.label_models import (
    BaseLabelModel,
    LabelModel,
    MajorityVote,
    StackedLabelModel,
)
from weaklabel.matrix import LabelMatrix
from weaklabel.students import TfidfStudent


@pytest.fixture(scope="module")
def sms(wrench_dir):
    """Train and valid splits of SMS: (texts, stacked votes, LF names, gold)."""
    out = {}
    for split in ("train", "valid", "test"):
        data, L, y = load_wrench_stack([wrench_dir("sms"), wrench_dir("sms_prompted_original")], split)
        out[split] = (data["text"].astype(str).tolist(), L, y)
    lf_names = load_wrench(wrench_dir("sms"), "train").L.lf_names
    return out, lf_names


def _brier(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.sum((probs - np.eye(probs.shape[1])[y]) ** 2, axis=1)))


@pytest.mark.shared_data
def test_prompt_only_rows_get_honest_probabilities_on_sms(sms):
    splits, lf_names = sms
    _, L, y = splits["train"]
    model = StackedLabelModel(trusted=lf_names, random_state=0).fit(L)
    lf_votes = L.votes[:, : len(lf_names)]
    prompt_only = ~(lf_votes != -1).any(axis=1) & (L.votes != -1).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        majority = MajorityVote(random_state=0).fit(L).predict_proba(L)
        generative = LabelModel(random_state=0).fit(L).predict_proba(L)
    probs = model.predict_proba(L)
    ours = _brier(probs[prompt_only], y[prompt_only])
    assert model.diagnostics_["reader_only_rows"] == int(prompt_only.sum()) > 2000
    # measured: 0.11 against 0.55 (majority vote) and 0.54 (LabelModel) of the same stack
    assert ours < 0.4 * _brier(majority[prompt_only], y[prompt_only])
    assert ours < 0.4 * _brier(generative[prompt_only], y[prompt_only])
    # calibrated where it is sure: 96% of its 72 rows above 0.9 spam are spam (majority vote's
    # sure rows: ~40%)
    sure_spam = prompt_only & (probs[:, 1] > 0.9)
    assert sure_spam.sum() >= 30 and y[sure_spam].mean() > 0.85
    # where the LFs vote, the prompts do not overrule them: as good as the LFs alone
    covered = (lf_votes != -1).any(axis=1)
    lfs_alone = LabelModel(random_state=0).fit(lf_votes).predict_proba(lf_votes)
    assert _brier(probs[covered], y[covered]) <= _brier(lfs_alone[covered], y[covered]) + 0.005


@pytest.mark.slow
@pytest.mark.shared_data
def test_student_on_stacked_labels_beats_the_lfs_alone_on_sms(sms):
    """The issue's target: adding LLM votes must not make the student worse than the LFs alone."""
    splits, lf_names = sms
    texts, L, _ = splits["train"]
    test_texts, _, y_test = splits["test"]
    labeled = (L.votes != -1).any(axis=1)
    lf_votes = L.select(lf_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfs_only = MajorityVote(random_state=0).fit(lf_votes).predict_proba(lf_votes)
        stacked = StackedLabelModel(trusted=lf_names, random_state=0).fit(L).predict_proba(L)
    scores = {}
    for name, probs, mask in [
        ("lfs", lfs_only, (lf_votes.votes != -1).any(axis=1)),
        ("stacked", stacked, labeled),
    ]:
        student = TfidfStudent(C=10, class_weight="balanced", min_confidence=0.9)
        student.fit(texts, probs, labeled_mask=mask)
        scores[name] = student.evaluate(test_texts, y_test, ("f1",))["f1"]
    # measured: 0.922 stacked, 0.867 on the LFs alone
    assert scores["stacked"] >= scores["lfs"] + 0.02, scores
    assert scores["stacked"] > 0.88


@pytest.mark.shared_data
def test_save_load_round_trip_is_exact(sms, tmp_path):
    splits, lf_names = sms
    _, L, _ = splits["train"]
    model = StackedLabelModel(trusted=lf_names, trusted_model="majority_vote", random_state=0).fit(L)
    loaded = BaseLabelModel.load(model.save(tmp_path / "stacked.json"))
    assert isinstance(loaded, StackedLabelModel)
    np.testing.assert_array_equal(loaded.predict_proba(L), model.predict_proba(L))
    assert loaded.C_ == model.C_ and isinstance(loaded.trusted_model_, MajorityVote)


def _toy(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two precise LFs (columns 0-1) and three copies of a noisy prompt (columns 2-4)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    votes = np.full((n, 5), -1)
    for j in range(2):
        fires = rng.random(n) < 0.5
        votes[fires, j] = np.where(rng.random(fires.sum()) < 0.95, y[fires], 1 - y[fires])
    prompt = np.where(rng.random(n) < 0.65, y, 1 - y)
    votes[:, 2:] = prompt[:, None]
    return votes, y


def test_copies_of_a_noisy_prompt_do_not_outvote_a_precise_lf():
    votes, _ = _toy()
    model = StackedLabelModel(trusted=[0, 1], random_state=0).fit(votes)
    row = np.array([[1, -1, 0, 0, 0]])  # one precise LF says 1, three prompt copies say 0
    assert model.predict(row)[0] == 1
    assert MajorityVote().fit(votes).predict(row, tie_break="first")[0] == 0
    alone = np.array([[-1, -1, 1, 1, 1]])  # the prompt alone: right 65% of the time
    assert 0.55 < model.predict_proba(alone)[0, 1] < 0.8


def test_matches_names_of_a_label_matrix_and_keeps_their_order():
    votes, _ = _toy()
    names = ["kw_a", "kw_b", "p1", "p2", "p3"]
    L = LabelMatrix(votes, names, cardinality=2)
    by_name = StackedLabelModel(trusted=["kw_b", "kw_a"], C=1.0).fit(L)
    by_index = StackedLabelModel(trusted=[0, 1], C=1.0).fit(votes)
    np.testing.assert_allclose(by_name.predict_proba(L), by_index.predict_proba(votes))
    assert by_name.trusted_indices_.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("trusted", "votes_kind", "message"),
    [
        (None, "array", "needs trusted="),
        (["kw_a", "nope"], "matrix", r"\['nope'\] are not in the label matrix"),
        (["kw_a"], "array", "the votes have no names"),
        ([0, 7], "array", r"column\(s\) \[7\] out of range"),
        ([0, 1, 2, 3, 4], "array", "every source is trusted"),
        ([0, 0], "array", "lists a source twice"),
    ],
)
def test_bad_trusted_sources_get_a_clear_error(trusted, votes_kind, message):
    votes, _ = _toy()
    L = LabelMatrix(votes, ["kw_a", "kw_b", "p1", "p2", "p3"], cardinality=2) if votes_kind == "matrix" else votes
    with pytest.raises(ValueError, match=message):
        StackedLabelModel(trusted=trusted).fit(L)


def test_trusted_sources_that_never_label_a_class_are_refused():
    votes, _ = _toy()
    votes[:, :2] = np.where(votes[:, :2] == 0, -1, votes[:, :2])  # the LFs only ever say 1
    with pytest.raises(ValueError, match=r"never label class \[0\]"):
        StackedLabelModel(trusted=[0, 1], trusted_model="majority_vote").fit(votes)


def test_too_few_trusted_rows_to_cross_validate_asks_for_C():
    votes, _ = _toy()
    votes[8:, :2] = -1
    with pytest.raises(ValueError, match="pass C="):
        StackedLabelModel(trusted=[0, 1]).fit(votes)
    StackedLabelModel(trusted=[0, 1], C=1.0).fit(votes)  # with C given, it fits
