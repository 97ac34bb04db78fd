"""Snorkel's ``test/labeling/test_analysis.py`` on ``lf_summary`` and ``matrix_summary``.

Snorkel's ``LFAnalysis`` methods map to columns of one table: ``lf_polarities`` ->
``polarity``, ``lf_coverages`` -> ``coverage``, ``lf_overlaps`` -> ``overlaps`` (divide by
``coverage`` for ``normalize_by_coverage``), ``lf_conflicts`` -> ``conflicts`` (divide by
``overlaps`` for ``normalize_by_overlaps``), ``lf_empirical_accuracies(Y)`` ->
``emp_accuracy``; ``label_coverage/overlap/conflict`` -> :func:`matrix_summary`.
``lf_empirical_probs`` has no counterpart and is not ported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from weaklabel import LabelMatrix, lf_summary
from weaklabel.analysis import matrix_summary

L = [
    [-1, -1, 0, -1, -1, 0],
    [-1, -1, -1, 2, -1, -1],
    [2, -1, -1, -1, -1, 0],
    [1, -1, 2, -1, 0, 0],
    [-1, -1, -1, -1, -1, -1],
    [1, -1, 0, 2, 1, 0],
]
Y = np.array([0, 1, 2, 0, 1, 2])
L_wo_abstain = [
    [3, 3, 3, 5, 4, 3],
    [3, 4, 5, 5, 4, 3],
    [5, 3, 4, 4, 5, 3],
    [4, 4, 5, 4, 3, 3],
    [3, 4, 3, 5, 4, 3],
    [5, 3, 3, 4, 4, 3],
]
POLARITY = [[1, 2], [], [0, 2], [2], [0, 1], [0]]
COVERAGE = [3 / 6, 0, 3 / 6, 2 / 6, 2 / 6, 4 / 6]
OVERLAPS = [3 / 6, 0, 3 / 6, 1 / 6, 2 / 6, 4 / 6]
CONFLICTS = [3 / 6, 0, 2 / 6, 1 / 6, 2 / 6, 3 / 6]


@pytest.fixture
def summary():
    return lf_summary(np.array(L), Y)


def test_label_coverage():
    assert matrix_summary(np.array(L))["coverage"] == 5 / 6


def test_label_overlap():
    assert matrix_summary(np.array(L))["overlap"] == 4 / 6


def test_label_conflict():
    assert matrix_summary(np.array(L))["conflict"] == 3 / 6


def test_lf_polarities(summary):
    assert summary["polarity"].tolist() == POLARITY


def test_lf_coverages(summary):
    np.testing.assert_array_almost_equal(summary["coverage"], COVERAGE)


def test_lf_overlaps(summary):
    np.testing.assert_array_almost_equal(summary["overlaps"], OVERLAPS)
    normalized = np.nan_to_num(summary["overlaps"] / summary["coverage"])
    np.testing.assert_array_almost_equal(normalized, [1, 0, 1, 1 / 2, 1, 1])


def test_lf_conflicts(summary):
    np.testing.assert_array_almost_equal(summary["conflicts"], CONFLICTS)
    normalized = np.nan_to_num(summary["conflicts"] / summary["overlaps"])
    np.testing.assert_array_almost_equal(normalized, [1, 0, 2 / 3, 1, 1, 3 / 4])


def test_lf_empirical_accuracies(summary):
    # Snorkel reports 0 for an LF that never votes; weaklabel NaN (no evidence either way)
    accs = summary["emp_accuracy"].fillna(0)
    np.testing.assert_array_almost_equal(accs, [1 / 3, 0, 1 / 3, 1 / 2, 1 / 2, 2 / 4])


def _columns(**columns):
    return pd.DataFrame(columns)


def test_lf_summary(summary):
    expected = _columns(
        polarity=POLARITY,
        coverage=COVERAGE,
        overlaps=OVERLAPS,
        conflicts=CONFLICTS,
        correct=[1, 0, 1, 1, 1, 2],
        incorrect=[2, 0, 2, 1, 1, 2],
        emp_accuracy=[1 / 3, 0, 1 / 3, 1 / 2, 1 / 2, 2 / 4],
    )
    ours = summary.drop(columns="j").reset_index(drop=True)
    ours["emp_accuracy"] = ours["emp_accuracy"].fillna(0)
    pd.testing.assert_frame_equal(ours.round(6), expected.round(6), check_dtype=False)

    without_gold = lf_summary(np.array(L)).drop(columns="j").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        without_gold.round(6), expected.iloc[:, :4].round(6), check_dtype=False
    )

    # named sources (Snorkel: LFAnalysis(L, lfs)); est_weights has no counterpart
    names = list("abcdef")
    named = lf_summary(LabelMatrix(L, names, cardinality=3), Y)
    assert named.index.tolist() == names and named["j"].tolist() == [0, 1, 2, 3, 4, 5]


def test_wrong_number_of_lfs():
    with pytest.raises(ValueError, match="2 lf_names for 6 columns"):
        lf_summary(np.array(L), lf_names=["a", "b"])


def test_lf_summary_without_abstain():
    summary = lf_summary(np.array(L_wo_abstain), Y + 4)
    expected = _columns(
        polarity=[[3, 4, 5], [3, 4], [3, 4, 5], [4, 5], [3, 4, 5], [3]],
        coverage=[1.0] * 6,
        overlaps=[1.0] * 6,
        conflicts=[1.0] * 6,
        correct=[1, 1, 1, 3, 1, 0],
        incorrect=[5, 5, 5, 3, 5, 6],
        emp_accuracy=[1 / 6, 1 / 6, 1 / 6, 3 / 6, 1 / 6, 0],
    )
    ours = summary.drop(columns="j").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours.round(6), expected.round(6), check_dtype=False)
