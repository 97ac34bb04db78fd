"""LF analysis: summary numbers by hand, against a plain loop and against Snorkel; error analysis."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from weaklabel.analysis import agreement_matrix, disagreements, lf_summary, plot_lf_summary
from weaklabel.data import load_wrench
from weaklabel.matrix import LabelMatrix

# Five rows, three sources; the expected numbers below are worked out by hand.
VOTES = [
    [1, 1, -1],
    [0, 1, 1],
    [-1, -1, 0],
    [1, -1, -1],
    [0, 0, 0],
]
GOLD = [1, 0, 0, 1, -1]  # the last row has no gold label


def _small() -> LabelMatrix:
    return LabelMatrix(
        VOTES, ["a", "b", "c"], class_names=["ham", "spam"], index=["r0", "r1", "r2", "r3", "r4"]
    )


def test_lf_summary_matches_a_hand_computation():
    summary = lf_summary(_small(), np.array(GOLD))
    # a votes on rows 0,1,3,4; with another source on 0,1,4; against one only on row 1 (0 vs b's 1).
    # Gold is known on rows 0,1,3 for a: all right. Row 4 has no gold and is ignored.
    expected = pd.DataFrame(
        {
            "j": [0, 1, 2],
            "polarity": [["ham", "spam"]] * 3,  # by name: the matrix has class names
            "coverage": [4 / 5, 3 / 5, 3 / 5],
            "overlaps": [3 / 5, 3 / 5, 2 / 5],
            "conflicts": [1 / 5, 1 / 5, 1 / 5],
            "correct": [3, 1, 1],
            "incorrect": [0, 1, 1],
            "emp_accuracy": [1.0, 0.5, 0.5],
        },
        index=pd.Index(["a", "b", "c"], name="lf"),
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


def test_lf_summary_without_gold_and_from_a_plain_array():
    summary = lf_summary(np.array(VOTES))
    assert list(summary.index) == ["lf_0", "lf_1", "lf_2"]
    assert "emp_accuracy" not in summary and "errors" not in summary
    assert summary["coverage"].tolist() == pytest.approx([0.8, 0.6, 0.6])
    named = lf_summary(np.array(VOTES), lf_names=["x", "y", "z"])
    assert list(named.index) == ["x", "y", "z"]


def test_lf_summary_gold_without_labels_gives_nan_accuracy():
    summary = lf_summary(_small(), [-1, -1, -1, -1, -1])
    assert summary["correct"].tolist() == [0, 0, 0] and summary["emp_accuracy"].isna().all()


@pytest.mark.parametrize(
    ("gold", "message"),
    [
        ([1, 0, 0], r"shape \(3,\), expected \(5,\)"),
        ([1, 0, 0, 2, 1], r"holds 2 at position 3, outside \[-1, 1\]"),
        ([1, 0, 0, -2, 1], r"holds -2 at position 3"),
        ([1.0, 0.0, np.nan, 1.0, 0.0], r"holds nan at position 2; .*-1 = unknown"),
        (["spam", "ham", "eggs", "spam", "ham"], r"'eggs' at position 2, not a class name"),
    ],
)
def test_bad_gold_labels_are_rejected(gold, message):
    with pytest.raises(ValueError, match=message):
        lf_summary(_small(), gold)


def test_whole_float_gold_is_accepted():
    assert lf_summary(_small(), np.array(GOLD, dtype=float))["correct"].tolist() == [3, 1, 1]


def _loop_summary(votes: np.ndarray, gold: np.ndarray) -> pd.DataFrame:
    """The definitions, one row and one source at a time."""
    n, m = votes.shape
    rows = []
    for j in range(m):
        cover = overlap = conflict = correct = incorrect = 0
        for i in range(n):
            if votes[i, j] == -1:
                continue
            cover += 1
            others = [votes[i, k] for k in range(m) if k != j and votes[i, k] != -1]
            overlap += bool(others)
            conflict += any(v != votes[i, j] for v in others)
            if gold[i] != -1:
                correct += votes[i, j] == gold[i]
                incorrect += votes[i, j] != gold[i]
        rows.append(
            {
                "coverage": cover / n,
                "overlaps": overlap / n,
                "conflicts": conflict / n,
                "correct": correct,
                "incorrect": incorrect,
                "emp_accuracy": correct / (correct + incorrect) if correct + incorrect else np.nan,
            }
        )
    return pd.DataFrame(rows)


def test_lf_summary_on_youtube_matches_a_plain_loop(wrench_dir):
    _, L, y = load_wrench(wrench_dir("youtube"), "train")
    summary = lf_summary(L, y)
    expected = _loop_summary(L.to_numpy(), y)
    for column in expected.columns:
        np.testing.assert_allclose(
            summary[column].to_numpy(dtype=float), expected[column], err_msg=column
        )
    assert summary.loc["keyword_subscribe", "polarity"] == [L.class_names[1]]  # by name


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # from scipy inside Snorkel
def test_lf_summary_on_youtube_matches_snorkel(wrench_dir):
    snorkel_labeling = pytest.importorskip("snorkel.labeling")
    _, L, y = load_wrench(wrench_dir("youtube"), "train")
    ours = lf_summary(L, y)
    theirs = snorkel_labeling.LFAnalysis(L.to_numpy()).lf_summary(y)
    for our_column, their_column in [
        ("coverage", "Coverage"),
        ("overlaps", "Overlaps"),
        ("conflicts", "Conflicts"),
        ("correct", "Correct"),
        ("incorrect", "Incorrect"),
        ("emp_accuracy", "Emp. Acc."),
    ]:
        np.testing.assert_allclose(
            ours[our_column].to_numpy(dtype=float),
            theirs[their_column].to_numpy(dtype=float),
            err_msg=our_column,
        )
    names = L.class_names  # ours shows the classes by name, Snorkel by index
    assert ours["polarity"].tolist() == [[names[c] for c in sorted(p)] for p in theirs["Polarity"]]


def test_plot_lf_summary_returns_axes(wrench_dir):
    plt.switch_backend("Agg")
    _, L, y = load_wrench(wrench_dir("youtube"), "train")
    ax = plot_lf_summary(lf_summary(L, y))
    assert isinstance(ax, plt.Axes)
    assert len(ax.collections[0].get_offsets()) == L.n_sources
    labels = [t.get_text() for t in ax.texts]
    assert labels[0] == "chance (1/2)" and labels[1:3] == L.lf_names[:2]
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 2)
    bars = plot_lf_summary(lf_summary(L))
    assert len(bars.patches) == L.n_sources
    plt.close("all")
    with pytest.raises(KeyError, match="needs the output of lf_summary"):
        plot_lf_summary(pd.DataFrame({"x": [1]}))


def test_agreement_matrix_by_hand():
    agreement = agreement_matrix(_small())
    # a/b overlap on rows 0,1,4 and agree on 0,4; a/c on rows 1,4 and agree on 4; b/c agree on 1,4.
    expected = np.array([[1, 2 / 3, 1 / 2], [2 / 3, 1, 1], [1 / 2, 1, 1]])
    np.testing.assert_allclose(agreement.to_numpy(), expected)
    assert list(agreement.index) == ["a", "b", "c"]
    never = agreement_matrix(np.array([[1, -1], [-1, 0]]))
    assert np.isnan(never.iloc[0, 1])


def test_disagreements_returns_exactly_the_wrong_rows():
    data = pd.DataFrame(
        {"text": [f"text {i}" for i in range(5)]}, index=["r0", "r1", "r2", "r3", "r4"]
    )
    wrong = disagreements(_small(), GOLD, "b", data=data)
    # b is wrong on row 1 only (row 0 is right, row 4 has no gold, rows 2-3 it abstains).
    assert list(wrong.index) == ["r1"]
    row = wrong.loc["r1"]
    assert (
        row["text"] == "text 1" and row["gold"] == 0 and row["gold_name"] == "ham" and row["b"] == "spam"
    )
    assert row["a"] == "ham" and row["c"] == "spam" and row["others_agree_with_gold"] == 1
    with_abstains = disagreements(_small(), GOLD, "b", include_abstains=True)
    assert list(with_abstains.index) == ["r1", "r2", "r3"]


def test_disagreements_matches_data_by_row_id_not_position():
    data = pd.DataFrame(
        {"text": [f"text {i}" for i in range(6)]}, index=["r5", "r4", "r3", "r2", "r1", "r0"]
    )
    wrong = disagreements(_small(), GOLD, "b", data=data)
    assert wrong.loc["r1", "text"] == "text 4"
    with pytest.raises(ValueError, match="data's row ids do not match"):
        disagreements(_small(), GOLD, "b", data=data.reset_index(drop=True))


def test_disagreements_on_real_llm_votes(wrench_dir):
    data, lfs, y = load_wrench(wrench_dir("youtube"), "test")
    _, llm, _ = load_wrench(wrench_dir("youtube_prompted_original"), "test")
    L = LabelMatrix.hstack([lfs, llm])
    source = "youtube_prompted_original_0"
    wrong = disagreements(L, y, source, data=data)
    votes = L.select(source).to_numpy()[:, 0]
    assert len(wrong) == int(((votes != -1) & (votes != y)).sum()) > 0
    assert (wrong[source] != wrong["gold"]).all() and wrong["text"].notna().all()
    assert "keyword_subscribe" in wrong.columns


def test_disagreements_errors():
    with pytest.raises(KeyError, match="no source named 'zz'"):
        disagreements(_small(), GOLD, "zz")
    with pytest.raises(TypeError, match="needs a LabelMatrix"):
        disagreements(np.array(VOTES), GOLD, "a")
    with pytest.raises(KeyError, match=r"data has no column \['body'\]"):
        disagreements(_small(), GOLD, "a", data=pd.DataFrame({"text": ["x"] * 5}), columns=["body"])
