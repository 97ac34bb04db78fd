"""Multi-label core: label sets, per-label and set-valued LFs, the matrix, label models, metrics.

Tiny fixtures whose answers can be worked out by hand, then real data: MAMS-ACSA with the
bundled LF module, and the tropes set answers of 13 real LLMs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from weaklabel import load_lfs
from weaklabel.exceptions import InvalidVoteError, LabelingFunctionError
from weaklabel.label_models import MajorityVote
from weaklabel.lf import Row
from weaklabel.matrix import LabelMatrix
from weaklabel.multilabel import (
    ABSENT,
    ABSTAIN,
    MAMS_CLASSES,
    PRESENT,
    MultiLabelMatrix,
    apply_multilabel_lfs,
    for_label,
    from_indicator,
    keyword_lf,
    label_set_function,
    labeling_function,
    load_mams,
    load_multilabel_table,
    regex_lf,
    to_indicator,
)
from weaklabel.multilabel.label_model import MultiLabelMajorityVote, MultiLabelModel
from weaklabel.multilabel.metrics import (
    best_thresholds,
    multilabel_scores,
    per_label_scores,
    tuned_thresholds,
)

CLASSES = ["food", "price", "staff"]


# ---------------------------------------------------------------- label sets
def test_to_indicator_reads_lists_json_and_delimited_strings():
    Y, classes = to_indicator([["food", "staff"], '["price"]', "food|price", None, []], sep="|")
    assert classes == CLASSES
    assert Y.tolist() == [[1, 0, 1], [0, 1, 0], [1, 1, 0], [-1, -1, -1], [0, 0, 0]]
    assert from_indicator(Y, classes) == [["food", "staff"], ["price"], ["food", "price"], None, []]


def test_to_indicator_keeps_the_given_order_and_names_the_bad_row():
    Y, classes = to_indicator([["staff"], ["food"]], ["staff", "food"])
    assert classes == ["staff", "food"] and Y.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match=r"row 1: unknown class 'drinks'"):
        to_indicator([["food"], ["drinks"]], CLASSES)
    with pytest.raises(ValueError, match=r"row 0: .* do not parse"):
        to_indicator(['["food"'], CLASSES)
    with pytest.raises(ValueError, match=r"row 0: .* hold 1\.5"):
        to_indicator([[1.5]], CLASSES)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_load_multilabel_table_in_every_format(tmp_path, fmt):
    frame = pd.DataFrame({"review": ["cheap food", "rude waiter", "?"], "aspects": [["food", "price"], ["staff"], None]})
    path = tmp_path / f"reviews.{fmt}"
    if fmt == "csv":
        frame.assign(aspects=["food;price", "staff", None]).to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    data, Y, classes = load_multilabel_table(
        path, text_column="review", label_column="aspects", sep=";", classes=CLASSES
    )
    assert classes == CLASSES
    assert data["text"].tolist() == ["cheap food", "rude waiter", "?"]
    assert Y.tolist() == [[1, 1, 0], [0, 0, 1], [-1, -1, -1]]
    with pytest.raises(KeyError, match="no column 'labels'"):
        load_multilabel_table(path, text_column="review", sep=";")


# ---------------------------------------------------------------- labeling functions
def test_per_label_lfs_and_set_functions_vote_per_label():
    @labeling_function(label="staff")
    def waiter(x):
        return PRESENT if "waiter" in x.text else ABSTAIN

    @label_set_function(unnamed="absent", labels=["food", "price"])
    def food_or_price(x):
        if "?" in x.text:
            return ABSTAIN
        return {"food"} if "pasta" in x.text else set()

    cheap = keyword_lf("cheap", ["cheap"], "price")
    no_price = regex_lf("no_price", r"^rude", "price", vote=ABSENT)
    data = pd.DataFrame({"text": ["cheap pasta", "rude waiter", "?"]})
    M = apply_multilabel_lfs([waiter, food_or_price, cheap, no_price], data, CLASSES, progress=False)
    assert M.lf_names == ["waiter", "food_or_price:food", "food_or_price:price", "cheap", "no_price"]
    assert M.targets == ["staff", "food", "price", "price", "price"]
    assert M.votes.tolist() == [[-1, 1, 0, 1, -1], [1, 0, 0, -1, 0], [-1, -1, -1, -1, -1]]
    present, absent = M.vote_counts()
    assert present.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert absent.tolist() == [[0, 1, 0], [1, 2, 0], [0, 0, 0]]
    assert M.label("price").lf_names == ["food_or_price:price", "cheap", "no_price"]
    assert waiter(Row(text="a waiter")) == PRESENT


def test_a_set_function_runs_once_per_batch_for_all_its_labels():
    calls = []

    @label_set_function(vectorized=True, column="text")
    def tagger(texts):
        calls.append(len(texts))
        return [{"food", "staff"} if "waiter" in t else ABSTAIN for t in texts]

    data = pd.DataFrame({"text": ["waiter and pasta", "nothing"] * 3})
    M = apply_multilabel_lfs([tagger], data, CLASSES, progress=False, batch_size=4)
    assert calls == [4, 2]
    assert M.votes[0].tolist() == [1, -1, 1] and (M.votes[1] == ABSTAIN).all()


def test_bad_votes_name_the_lf_and_row():
    @label_set_function()
    def wrong_label(x):
        return {"drinks"}

    @label_set_function()
    def not_a_set(x):
        return "food"

    @label_set_function()
    def crashes(x):
        raise RuntimeError("boom")

    @labeling_function(label="food")
    def three(x):
        return 3

    data = pd.DataFrame({"text": ["a"]}, index=["r0"])
    with pytest.raises(InvalidVoteError, match=r"'wrong_label' named 'drinks' on row 'r0'"):
        apply_multilabel_lfs([wrong_label], data, CLASSES, progress=False)
    with pytest.raises(InvalidVoteError, match=r"'not_a_set' returned 'food' on row 'r0'"):
        apply_multilabel_lfs([not_a_set], data, CLASSES, progress=False)
    with pytest.raises(LabelingFunctionError, match=r"LF 'crashes' raised RuntimeError: boom on row 'r0'"):
        apply_multilabel_lfs([crashes], data, CLASSES, progress=False)
    with pytest.raises(InvalidVoteError, match="'three' returned 3"):
        apply_multilabel_lfs([three], data, CLASSES, progress=False)
    with pytest.raises(ValueError, match="votes on 'drinks', which is not a class"):
        apply_multilabel_lfs([keyword_lf("k", "x", "drinks")], data, CLASSES, progress=False)
    plain = MajorityVote  # not an LF at all
    with pytest.raises(TypeError):
        apply_multilabel_lfs([plain], data, CLASSES, progress=False)


def test_for_label_marks_any_two_class_source():
    from weaklabel import keyword_lf as single_label_keyword_lf

    lf = for_label(single_label_keyword_lf("cheap", ["cheap"], 1), "price")
    M = apply_multilabel_lfs([lf], pd.DataFrame({"text": ["cheap", "x"]}), CLASSES, progress=False)
    assert M.label("price").votes.ravel().tolist() == [1, -1]
    with pytest.raises(ValueError, match="does not say which label"):
        apply_multilabel_lfs([single_label_keyword_lf("k", ["x"], 1)], pd.DataFrame({"text": ["x"]}), CLASSES)


# ---------------------------------------------------------------- matrix
def test_matrix_subsets_and_round_trip(tmp_path):
    M = MultiLabelMatrix(
        [[1, -1, 0], [0, 1, -1]], ["a", "b", "c"], targets=["food", "staff", "food"], classes=CLASSES,
        index=["x", "y"],
    )
    assert M.sources_of("food") == ["a", "c"] and M.sources_of(1) == []
    assert M.coverage().tolist() == [1.0, 0.0, 0.5]
    assert M.take([1]).index.tolist() == ["y"] and M.select(["b"]).targets == ["staff"]
    both = MultiLabelMatrix.hstack([M.select(["a"]), M.select(["b", "c"])])
    assert both == M
    path = M.save(tmp_path / "votes.npz")
    assert MultiLabelMatrix.load(path) == M
    assert LabelMatrix.load(path).lf_names == ["a", "b", "c"]  # still a plain label matrix file
    M.matrix.save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a weaklabel multi-label matrix"):
        MultiLabelMatrix.load(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="targets name"):
        MultiLabelMatrix([[1]], ["a"], targets=["drinks"], classes=CLASSES)
    with pytest.raises(ValueError, match="cardinality"):
        MultiLabelMatrix([[2]], ["a"], targets=["food"], classes=CLASSES)


# ---------------------------------------------------------------- metrics
def test_scores_by_hand():
    Y = np.array([[1, 0, 1], [0, 1, 0], [-1, -1, -1]])
    pred = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 1]])
    scores = multilabel_scores(Y, pred)
    # food tp1; price tp1 fp1; staff fn1 -> micro 2*2/(4+1+1); macro (1 + 2/3 + 0)/3
    assert scores["micro_f1"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert scores["subset_accuracy"] == pytest.approx(0.5) and scores["n_rows"] == 2
    table = per_label_scores(Y, pred, CLASSES)
    assert table.loc["price", "precision"] == pytest.approx(0.5) and table.loc["staff", "recall"] == 0


def test_best_thresholds_pick_the_f1_maximiser_on_dev():
    Y = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    probs = np.array([[0.3, 0.9], [0.35, 0.1], [0.1, 0.2], [0.2, 0.3]])
    thresholds = best_thresholds(Y, probs)
    assert thresholds[0] == pytest.approx(0.25)  # only thresholds below 0.3 catch both positives
    assert 0.2 <= thresholds[1] < 0.3


# ---------------------------------------------------------------- label models
def _toy_matrix() -> MultiLabelMatrix:
    votes = [[1, 1, -1], [1, 0, -1], [-1, -1, 1], [0, 0, -1], [-1, -1, -1]]
    return MultiLabelMatrix(votes, ["f1", "f2", "s1"], targets=["food", "food", "staff"], classes=CLASSES)


def test_majority_vote_by_hand():
    M = _toy_matrix()
    mv = MultiLabelMajorityVote().fit(M)
    assert mv.predict_proba(M)[:, 0].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert mv.predict(M).tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]


def test_label_model_per_label_and_silent_rows():
    M = _toy_matrix()
    model = MultiLabelModel(random_state=0).fit(M)
    probs = model.predict_proba(M)
    assert probs.shape == (5, 3) and model.label_models_[1] is None
    assert probs[4].tolist() == pytest.approx([0.01, 0.01, 0.01])  # nobody voted: unvoted_rate
    assert probs[0, 0] > 0.5 and probs[3, 0] < 0.5 and probs[2, 2] > 0.5
    with pytest.raises(ValueError, match="other sources"):
        model.predict_proba(M.select(["f1", "f2"]))
    with pytest.raises(TypeError, match="MultiLabelMatrix"):
        model.predict_proba(M.matrix)


def test_label_model_round_trip(tmp_path):
    M = _toy_matrix()
    Y = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0]])
    model = MultiLabelModel(random_state=0, cv_folds=2).fit(M, Y)
    loaded = MultiLabelModel.load(model.save(tmp_path / "lm"))
    np.testing.assert_allclose(loaded.predict_proba(M), model.predict_proba(M))
    assert loaded.calibration_ == model.calibration_


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def mams(shared_data):
    folder = shared_data / "mams_acsa"
    if not folder.exists():
        pytest.skip(f"MAMS-ACSA not found at {folder}")
    lfs = load_lfs("labeling_functions.mams")
    splits = {}
    for split in ("train", "val"):
        data, Y = load_mams(split, folder)
        splits[split] = (data, Y, apply_multilabel_lfs(lfs, data, MAMS_CLASSES, progress=False))
    return splits


def test_mams_full_dataset_loads_as_its_source_describes(shared_data):
    data, Y = load_mams("train", shared_data / "mams_acsa")
    assert len(data) == 3149 and Y.shape == (3149, 8)
    assert Y.sum(axis=1).min() == 2 and Y.sum(axis=1).max() == 5  # 2-5 aspects per sentence
    assert dict(zip(MAMS_CLASSES, Y.sum(axis=0).tolist(), strict=True))["food"] == 2307


def test_bundled_mams_sample_is_a_subset_of_the_full_dataset(shared_data):
    for split in ("train", "val", "test"):
        sample, Y_sample = load_mams(split)
        full, Y_full = load_mams(split, shared_data / "mams_acsa")
        lookup = dict(zip(full["text"], map(tuple, Y_full), strict=True))
        assert all(lookup[t] == tuple(y) for t, y in zip(sample["text"], Y_sample, strict=True))
    assert len(load_mams("test")[0]) == 400


def test_mams_lfs_beat_the_label_prior_on_every_label(mams):
    _, Y, M = mams["val"]
    present, absent = M.vote_counts()
    table = per_label_scores(Y, (present > absent).astype(int), MAMS_CLASSES)
    assert (table["f1"] > 0.5).all(), table  # every aspect has a useful LF
    assert multilabel_scores(Y, (present > absent).astype(int))["macro_f1"] > 0.75


def test_mams_label_model_holds_majority_vote(mams):
    """The robustness contract on real data: never more than a point of macro F1 below
    per-label majority vote, without dev labels and with 100 of them."""
    _, _, M = mams["train"]
    val, Y_val, M_val = mams["val"]
    dev, held_out = np.arange(100), np.arange(100, len(val))
    mv = MultiLabelMajorityVote().fit(M).evaluate(M_val.take(held_out), Y_val[held_out])
    plain = MultiLabelModel(random_state=0).fit(M).evaluate(M_val.take(held_out), Y_val[held_out])
    with_dev = MultiLabelModel(random_state=0).fit(M, Y_val[dev], M_val.take(dev))
    scores = with_dev.evaluate(M_val.take(held_out), Y_val[held_out])
    assert plain["macro_f1"] >= mv["macro_f1"] - 0.01
    assert scores["macro_f1"] >= mv["macro_f1"] - 0.01
    assert set(with_dev.calibration_) <= {"votes", "calibrated", "co_occurrence"}


def _tropes(shared_data):
    folder = shared_data / "llms_for_css" / "tropes_multilabel"
    if not folder.exists():
        pytest.skip(f"tropes not found at {folder}")
    entries = json.loads((folder / "test.json").read_text())
    names = json.loads((folder / "lf_names.json").read_text())
    labels = json.loads((folder / "label.json").read_text())
    classes = [labels[str(i)] for i in range(len(labels))]
    rows = [entries[key] for key in sorted(entries, key=int)]
    return rows, names, classes


def test_tropes_llm_answers_as_set_functions(shared_data):
    """Each real LLM's parsed answer is a set of tropes: as a label set function it votes
    PRESENT on what it named and ABSENT on every other trope; a row it did not answer
    abstains everywhere."""
    rows, names, classes = _tropes(shared_data)
    data = pd.DataFrame({"text": [r["data"]["text"] for r in rows], "row": range(len(rows))})

    def answers_of(j):
        @label_set_function(name=names[j], unnamed="absent", vectorized=True, column="row")
        def answered(positions):
            return [None if rows[i]["weak_labels"][j] == -1 else rows[i]["weak_labels"][j] for i in positions]

        return answered

    M = apply_multilabel_lfs([answers_of(j) for j in range(len(names))], data, classes, progress=False)
    assert M.shape == (114, 13 * 72)
    chatgpt = M.select([f"chatgpt:{c}" for c in classes])
    assert (chatgpt.votes == PRESENT).sum(axis=1).max() <= 5
    unanswered = [i for i, r in enumerate(rows) if r["weak_labels"][names.index("text-ada-001")] == -1]
    ada = M.select([f"text-ada-001:{c}" for c in classes])
    assert (ada.votes[unanswered] == ABSTAIN).all() and (ada.votes != ABSTAIN).any()
    Y, _ = to_indicator([[classes[c] for c in r["labels"]] for r in rows], classes)
    mv = MultiLabelMajorityVote().fit(M).evaluate(M, Y)
    model = MultiLabelModel(random_state=0).fit(M).evaluate(M, Y)
    # every model is near zero on this set (chatgpt alone: macro F1 0.11); the label model
    # predicts present only where the LLMs agree, as majority vote does
    assert model["micro_precision"] >= 0.3 or np.isnan(model["micro_precision"])
    assert abs(model["macro_f1"] - mv["macro_f1"]) < 0.03


def test_tuned_thresholds_move_only_where_tuning_helps_out_of_bag():
    rng = np.random.default_rng(0)
    n = 300
    gold = rng.integers(0, 2, size=(n, 2))
    # label 0: the positives score 0.3-0.45, the negatives 0.0-0.25: 0.5 misses them all
    shifted = np.where(gold[:, 0] == 1, rng.uniform(0.3, 0.45, n), rng.uniform(0.0, 0.25, n))
    # label 1: already separated at 0.5 — nothing to gain, so nothing moves
    separated = np.where(gold[:, 1] == 1, rng.uniform(0.55, 0.95, n), rng.uniform(0.05, 0.45, n))
    thresholds = tuned_thresholds(gold, np.column_stack([shifted, separated]))
    assert 0.25 <= thresholds[0] <= 0.3 and thresholds[1] == 0.5
