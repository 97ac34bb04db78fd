"""Scores shared by label models, students and the pipeline, checked by hand."""

import numpy as np
import pytest

from weaklabel.metrics import calibration_curve, confusion_matrix, score_predictions


def test_binary_f1_counts_missing_predictions_as_misses():
    scores = score_predictions([1, 1, 0, 0], [1, -1, 0, 0], ("accuracy", "f1", "coverage"))
    # tp=1, fn=1 (the -1), fp=0 -> F1 = 2/3
    assert scores == pytest.approx({"accuracy": 0.75, "f1": 2 / 3, "coverage": 0.75})


def test_multiclass_f1_is_macro_and_unknown_gold_is_ignored():
    y = [0, 1, 2, 2, -1]
    pred = [0, 2, 2, 2, 1]
    # class 0: F1 1; class 1: F1 0; class 2: tp 2, fp 1, fn 0 -> 0.8
    assert score_predictions(y, pred, ("f1", "accuracy"), cardinality=3) == pytest.approx(
        {"f1": 0.6, "accuracy": 0.75}
    )


def test_confusion_matrix_and_bad_input():
    assert confusion_matrix([0, 1, 1], [1, 1, -1], 2).tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="equal length"):
        score_predictions([0, 1], [0])
    with pytest.raises(ValueError, match="unknown metrics"):
        score_predictions([0], [0], ("auc",))


def test_calibration_curve_of_perfectly_calibrated_bins():
    probs = np.array([[0.2, 0.8]] * 10 + [[1.0, 0.0]] * 5)
    y = np.array([1] * 8 + [0] * 2 + [0] * 5)
    curve = calibration_curve(y, probs, n_bins=10)
    assert curve["count"].tolist() == [10, 5]
    assert curve["accuracy"] == pytest.approx([0.8, 1.0])
    assert float(curve["ece"]) == pytest.approx(0.0)
