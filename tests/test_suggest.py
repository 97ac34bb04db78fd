"""LF suggestions from labeled rows (weaklabel.suggest): candidates, gate, selection, module writer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from weaklabel import apply_lfs, load_lfs
from weaklabel.data import load_wrench, load_youtube_spam
from weaklabel.lf import ABSTAIN
from weaklabel.suggest import (
    Suggestion,
    SuggestSettings,
    append_suggestion,
    generate_candidates,
    suggest_lfs,
    wilson_lower_bound,
    write_lf_module,
)
from weaklabel.suggest.selection import LeaveOneOutVote, greedy_select

HAM, SPAM = 0, 1


@pytest.fixture(scope="module")
def youtube():
    """The bundled UCI YouTube comments: valid split labeled, train split to label."""
    data = load_youtube_spam(seed=0)
    return data[data.split == "valid"], data[data.split == "train"]


def test_wilson_lower_bound_matches_the_formula():
    lower = wilson_lower_bound(np.array([10, 0, 5]), np.array([10, 0, 10]), 1.959964)
    assert lower[0] == pytest.approx(0.7225, abs=1e-4)
    assert lower[1] == 0.0
    assert lower[2] == pytest.approx(0.2366, abs=1e-4)


def test_leave_one_out_weights_give_a_row_nothing_from_itself():
    y = np.array([HAM] * 6 + [SPAM] * 4)
    fires = np.zeros((10, 2), dtype=bool)
    fires[6:, 0] = True  # fires on the 4 spam rows
    fires[6, 1] = True  # seen on one spam row only
    vote = LeaveOneOutVote(y, 2, prior_strength=2.0, row_weight=np.ones(10))
    w = vote.weights(fires, np.array([SPAM, SPAM]))
    # precision without the row: 3/3 shrunk toward the prior 5/12 by 2 pseudo-rows
    p = (3 + 2 * 5 / 12) / (3 + 2)
    assert w[6, 0] == pytest.approx(np.log(p / (1 - p)) - np.log((5 / 12) / (7 / 12)))
    assert w[6, 1] == 0.0 and w[:6].sum() == 0.0


def test_greedy_selection_skips_a_duplicate_and_stops_at_min_gain():
    y = np.array([HAM] * 6 + [SPAM] * 4)
    fires = np.zeros((10, 3), dtype=bool)
    fires[6:, 0] = fires[6:, 1] = True  # two copies of a perfect spam LF
    fires[[0, 6], 2] = True  # a coin flip
    vote = LeaveOneOutVote(y, 2, 2.0, np.ones(10))
    steps = greedy_select(vote, fires, np.array([SPAM, SPAM, SPAM]), budget=5, min_gain=0.5)
    assert [s.column for s in steps] == [0]
    assert steps[0].accuracy_before == 0.6 and steps[0].accuracy_after == 1.0


def test_suggestion_ids_are_stable_and_json_round_trips():
    s = Suggestion(name="kw_free_spam", kind="keyword", label=SPAM, family="word", description="d",
                   keywords=["free"], stats={"support": 3, "precision": 1.0})
    twin = Suggestion(name="other_name", kind="keyword", label=SPAM, family="llm", description="x", keywords=["free"])
    assert s.id == twin.id and s.id.startswith("ke-")
    assert s.id != Suggestion(name="a", kind="keyword", label=HAM, family="w", description="", keywords=["free"]).id
    record = json.loads(json.dumps(s.to_dict()))
    assert Suggestion.from_dict(record) == s
    with pytest.raises(ValueError, match="does not match"):
        Suggestion.from_dict({**record, "id": "ke-000000000000"})
    with pytest.raises(ValueError, match="not a Python identifier"):
        Suggestion(name="1bad", kind="regex", label=0, family="w", description="", pattern="x")
    with pytest.raises(ValueError, match="needs a pattern"):
        Suggestion(name="ok", kind="regex", label=0, family="w", description="")


def test_candidates_come_from_features_seen_often_enough():
    texts = ["free prize call now", "free entry call 0800", "win free cash call", "see you soon",
             "ok see you", "love you lots"]
    y = np.array([SPAM, SPAM, SPAM, HAM, HAM, HAM])
    found = generate_candidates(texts, y, 2, class_names=["ham", "spam"], families=("word",), min_support=2)
    by_word = {s.keywords[0]: s for s in found}
    assert by_word["free"].label == SPAM and by_word["call"].label == SPAM
    assert by_word["see you"].label == HAM and by_word["you"].label == HAM
    assert "prize" not in by_word  # seen once
    assert by_word["free"].name == "kw_free_spam" and by_word["free"].label_name == "spam"
    with pytest.raises(ValueError, match="unknown candidate families"):
        generate_candidates(texts, y, 2, families=("words",))


def test_suggestions_on_real_comments_pass_the_gate_they_report(youtube):
    labeled, unlabeled = youtube
    settings = SuggestSettings(max_lfs=8)
    result = suggest_lfs(labeled, labeled.label.to_numpy(), unlabeled, class_names=["HAM", "SPAM"],
                         settings=settings)
    assert 1 <= len(result) <= 8
    assert result.n_passed_gate >= len(result) and result.n_candidates > result.n_passed_gate
    votes = apply_lfs(result.lfs(), labeled, progress=False).to_numpy()
    gold = labeled.label.to_numpy()
    for j, s in enumerate(result.suggestions):
        fires = votes[:, j] != ABSTAIN
        assert s.stats["support"] == fires.sum() >= settings.min_support
        assert s.stats["precision"] == pytest.approx((gold[fires] == s.label).mean(), abs=1e-4)
        assert s.stats["precision_lb"] >= settings.min_precision
        assert s.stats["gain"] >= settings.min_gain
        assert 0 < s.stats["coverage"] <= 1
    assert result.accuracy_after >= result.accuracy_before
    assert len({s.name for s in result.suggestions}) == len(result)
    again = suggest_lfs(labeled, gold, unlabeled, class_names=["HAM", "SPAM"], settings=settings)
    assert again.to_dict() == result.to_dict()
    assert result.coverage_by_class.loc["SPAM", "with_suggestions"] > 0.2


def test_a_perfect_existing_source_leaves_nothing_to_add(youtube):
    labeled, unlabeled = youtube
    gold = labeled.label.to_numpy()
    oracle = gold[:, None]  # an existing source that is always right
    result = suggest_lfs(labeled, gold, unlabeled, class_names=["HAM", "SPAM"], L_labeled=oracle,
                         L_unlabeled=np.full((len(unlabeled), 1), ABSTAIN))
    assert len(result) == 0
    assert result.accuracy_before == 1.0


def test_focus_rows_draw_the_first_pick():
    texts = ["cheap pills here"] * 4 + ["cheap watches"] * 2 + ["visit my channel"] * 6 + ["nice song"] * 12
    y = np.array([SPAM] * 12 + [HAM] * 12)
    focus = np.zeros(24, dtype=bool)
    focus[:4] = True
    first = suggest_lfs(texts, y, texts, min_support=2, max_lfs=1, families=("word",), focus=focus, focus_weight=8)
    assert first.suggestions[0].keywords in (["pills"], ["cheap"], ["pills here"], ["cheap pills"])
    plain = suggest_lfs(texts, y, texts, min_support=2, max_lfs=1, families=("word",))
    assert plain.suggestions[0].keywords != first.suggestions[0].keywords


def test_bad_input_is_named(youtube):
    labeled, unlabeled = youtube
    gold = labeled.label.to_numpy()
    with pytest.raises(KeyError, match="no 'text' column"):
        suggest_lfs(labeled.rename(columns={"text": "body"}), gold, unlabeled)
    with pytest.raises(ValueError, match="L_unlabeled has shape"):
        suggest_lfs(labeled, gold, unlabeled, L_unlabeled=np.zeros((3, 1), int))
    with pytest.raises(ValueError, match="outside"):
        suggest_lfs(labeled, gold, unlabeled, cardinality=2, L_labeled=np.full((len(labeled), 1), 4))
    with pytest.raises(ValueError, match="min_precision"):
        suggest_lfs(labeled, gold, unlabeled, min_precision=1.5)
    with pytest.raises(ValueError, match="at least 2 labeled rows"):
        suggest_lfs(["a", "b"], [0, -1], None)


def test_the_written_module_loads_and_votes_as_suggested(youtube, tmp_path):
    labeled, unlabeled = youtube
    result = suggest_lfs(labeled, labeled.label.to_numpy(), unlabeled, class_names=["HAM", "SPAM"], max_lfs=6)
    path = result.write(tmp_path / "youtube_suggested.py")
    text = path.read_text()
    assert "HAM = 0\nSPAM = 1" in text and "# id: " in text and "precision" in text
    lfs = load_lfs(str(path))
    assert [lf.name for lf in lfs] == [s.name for s in result.suggestions]
    written = apply_lfs(lfs, unlabeled, progress=False).to_numpy()
    direct = apply_lfs(result.lfs(), unlabeled, progress=False).to_numpy()
    assert np.array_equal(written, direct)
    with pytest.raises(FileExistsError):
        result.write(path)


def test_append_adds_one_suggestion_once_and_starts_a_file_from_the_template(tmp_path):
    path = tmp_path / "accepted.py"
    link = Suggestion(name="re_link_spam", kind="regex", label=SPAM, family="pattern",
                      description="contains a link", pattern=r"https?://|www\.", ignore_case=True)
    caps = Suggestion(name="re_link_spam", kind="regex", label=SPAM, family="pattern",
                      description="an all-capitals word", pattern=r"\b[A-Z]{4,}\b", ignore_case=False)
    assert append_suggestion(path, link, class_names=["HAM", "SPAM"])
    assert not append_suggestion(path, link)  # same id: nothing changes
    assert append_suggestion(path, caps)  # same name, other matcher: renamed
    lfs = load_lfs(str(path))
    assert [lf.name for lf in lfs] == ["re_link_spam", "re_link_spam_2"]
    votes = apply_lfs(lfs, ["see www.x.com", "FREE stuff", "Free stuff"], progress=False).to_numpy()
    assert votes.tolist() == [[SPAM, ABSTAIN], [ABSTAIN, SPAM], [ABSTAIN, ABSTAIN]]
    assert "SPAM = 1" in path.read_text() and path.read_text().count("SPAM)") + path.read_text().count("SPAM, flags=0)") == 2


def test_write_refuses_a_non_python_path(tmp_path):
    s = Suggestion(name="kw_a", kind="keyword", label=0, family="word", description="", keywords=["a"])
    with pytest.raises(ValueError, match=r"\.py file"):
        write_lf_module(tmp_path / "lfs.txt", [s])


@pytest.mark.shared_data
def test_suggestions_beside_the_wrench_lfs_on_real_youtube(wrench_dir):
    """With the 10 WRENCH YouTube LFs in the vote, suggestions aim at the rows they miss."""
    train, L, y = load_wrench(wrench_dir("youtube"), "train")
    order = np.random.default_rng(0).permutation(len(train))
    lab, unl = order[:200], order[200:]
    votes = L.to_numpy()
    result = suggest_lfs(train.iloc[lab], y[lab], train.iloc[unl], class_names=L.class_names,
                         L_labeled=votes[lab], L_unlabeled=votes[unl])
    plain = suggest_lfs(train.iloc[lab], y[lab], train.iloc[unl], class_names=L.class_names)
    assert len(result) >= 1
    assert result.accuracy_before > plain.accuracy_before
    assert result.accuracy_after > result.accuracy_before
    new_rows = sum(s.stats["new_rows"] for s in result.suggestions)
    assert new_rows > 0
    uncovered = ~(votes[unl] != ABSTAIN).any(axis=1)
    assert result.coverage_by_class["existing"].max() < 1.0 and uncovered.any()
    frame = pd.DataFrame(result.to_dict()["suggestions"])
    assert {"id", "name", "kind", "label", "stats"} <= set(frame.columns)
