"""The leave-one-dataset-out protocol of the benchmarks: a set never helps choose its own
settings, nor does a set of its family (a stack and its parts)."""

from __future__ import annotations

import pytest

from benchmarks.lodo import leave_one_dataset_out, overall_best


def test_each_set_is_scored_with_the_configuration_chosen_on_the_others():
    scores = {
        "default": {"a": [50.0, 52.0], "b": [50.0, 50.0], "c": [50.0, 50.0]},
        "tuned for a": {"a": [90.0, 90.0], "b": [40.0, 40.0], "c": [10.0, 10.0]},
        "good elsewhere": {"a": [30.0, 30.0], "b": [60.0, 60.0], "c": [60.0, 60.0]},
    }
    results = {r.set_name: r for r in leave_one_dataset_out(scores)}
    # a is scored with what b and c prefer, however well "tuned for a" does on a
    assert results["a"].config == "good elsewhere" and results["a"].mean == 30.0
    assert results["b"].config == "default" and results["b"].mean == 50.0
    # c gets what a and b prefer on average: a's high score drags "tuned for a" in
    assert results["c"].config == "tuned for a" and results["c"].mean == 10.0
    assert results["a"].spread == 0.0 and results["b"].spread == 0.0
    assert overall_best(scores) == "default"


def test_a_family_is_left_out_together_and_ties_keep_the_first_configuration():
    scores = {
        "default": {"x": [50.0], "x+y": [50.0], "z": [50.0]},
        "other": {"x": [40.0], "x+y": [90.0], "z": [50.0]},
    }
    family = {"x": "x", "x+y": "x", "z": "z"}
    results = {r.set_name: r for r in leave_one_dataset_out(scores, family)}
    # x's neighbour x+y would pick "other" for x; left out together, only z decides: a tie
    assert results["x"].config == "default"
    assert results["z"].config == "other"  # chosen on x and x+y
    spread = leave_one_dataset_out({"only": {"a": [1.0, 3.0], "b": [0.0, 0.0]}})[0]
    assert (spread.mean, spread.spread) == (2.0, 1.0)


def test_protocol_errors():
    with pytest.raises(ValueError, match="no configuration"):
        leave_one_dataset_out({})
    with pytest.raises(ValueError, match="scored on other sets"):
        leave_one_dataset_out({"a": {"s": [1.0]}, "b": {"t": [1.0]}})
    with pytest.raises(ValueError, match="no set outside the family"):
        leave_one_dataset_out({"a": {"s": [1.0], "t": [1.0]}}, {"s": "f", "t": "f"})
