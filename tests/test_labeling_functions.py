"""The bundled LF modules (labeling_functions/youtube.py and sms.py) on their raw corpora.

The measurements come from ``benchmarks/lf_modules.py`` (loaded by path), so the
docstring tables, the benchmark and these checks share one definition of every number.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import weaklabel
from weaklabel.data import load_youtube_spam

ROOT = Path(__file__).resolve().parents[1]
MODULES = [pytest.param("youtube"), pytest.param("sms", marks=pytest.mark.slow)]
SPAM, HAM = 1, 0

# Floors the modules must keep (well below what they reach, well above the baselines).
FLOORS = {
    #           coverage  held-out MV accuracy  held-out MV F1  lowest LF accuracy
    "youtube": (0.90, 0.93, 0.92, 0.75),
    "sms": (0.90, 0.97, 0.90, 0.85),
}


def _load_benchmark() -> ModuleType:
    name = "_weaklabel_benchmark_lf_modules"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "lf_modules.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bench = _load_benchmark()


@pytest.fixture(scope="module")
def reports(shared_data: Path):
    """``reports(name)`` -> the benchmark's measurement of that module (computed once)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = bench.evaluate(name, shared_data)
        return cache[name]

    return get


@pytest.mark.parametrize("name", MODULES)
def test_module_loads_by_dotted_name_and_by_path_with_the_same_votes(name, shared_data):
    by_name = weaklabel.load_lfs(f"labeling_functions.{name}")
    by_path = weaklabel.load_lfs(str(ROOT / "labeling_functions" / f"{name}.py"))
    module = importlib.import_module(f"labeling_functions.{name}")
    names = [lf.name for lf in by_name]
    assert names == [lf.name for lf in by_path] == [lf.name for lf in module.LFS]
    assert len(set(names)) == len(names), "LF names must be unique"
    assert 12 <= len(names) <= 20
    assert (module.HAM, module.SPAM, module.ABSTAIN) == (HAM, SPAM, weaklabel.ABSTAIN)
    for lf in by_name:
        assert lf.__doc__ and lf.__doc__.strip(), f"{lf.name} needs a docstring saying why"
    data, _ = bench.load_corpus(name, shared_data)
    sample = data.iloc[:: max(1, len(data) // 400)][["text"]]  # every k-th row: all videos
    a = weaklabel.apply_lfs(by_name, sample, progress=False)
    b = weaklabel.apply_lfs(by_path, sample, progress=False)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


@pytest.mark.parametrize("name", MODULES)
def test_every_lf_votes_only_its_declared_class(name, reports):
    report = reports(name)
    doc = importlib.import_module(f"labeling_functions.{name}").__doc__
    declared, _ = bench.docstring_numbers(doc)
    for j, lf_name in enumerate(report.per_lf.index):
        column = report.votes[:, j]
        voted = set(np.unique(column[column != weaklabel.ABSTAIN]).tolist())
        expected = {"SPAM": {SPAM}, "HAM": {HAM}}[declared.at[lf_name, "votes"]]
        assert voted == expected, f"{lf_name} votes {voted}, declares {expected}"


@pytest.mark.parametrize("name", MODULES)
def test_coverage_and_accuracy_floors(name, reports):
    report = reports(name)
    coverage, mv_accuracy, mv_f1, lf_accuracy = FLOORS[name]
    overall = report.overall
    assert overall.at["all", "coverage"] >= coverage
    assert overall.at["held out", "coverage"] >= coverage
    assert overall.at["held out", "mv_accuracy"] >= mv_accuracy
    assert overall.at["held out", "mv_f1"] >= mv_f1
    # The vote beats the majority-class baseline everywhere, by a wide margin.
    assert (overall["mv_accuracy"] >= overall["baseline_accuracy"] + 0.1).all()
    assert (overall["mv_f1"] >= overall["baseline_f1"] + 0.25).all()
    prior = max(report.y.mean(), 1 - report.y.mean())
    assert (report.per_lf["coverage"] > 0).all()
    assert (report.per_lf["accuracy"] >= max(lf_accuracy, prior - 0.1)).all(), report.per_lf


@pytest.mark.parametrize("name", MODULES)
def test_docstring_numbers_match_the_code(name, reports):
    doc = importlib.import_module(f"labeling_functions.{name}").__doc__
    problems = bench.docstring_matches(reports(name), doc)
    assert not problems, (
        "docstring is stale; paste `python -m benchmarks.lf_modules --docstring`: "
        + "; ".join(problems)
    )


def test_docstring_check_catches_a_drifted_number(reports):
    report = reports("youtube")
    doc = importlib.import_module("labeling_functions.youtube").__doc__
    row = next(line for line in doc.splitlines() if line.startswith("held out "))
    cells = row.split()
    cells[4] = f"{float(cells[4]) - 0.05:.3f}"  # "held", "out", n, coverage, MV accuracy
    drifted = doc.replace(row, " ".join(cells))
    problems = bench.docstring_matches(report, drifted)
    assert len(problems) == 1 and "held out mv_accuracy" in problems[0]
    with pytest.raises(ValueError, match="no measured tables"):
        bench.docstring_numbers("A docstring without tables.")


def test_majority_vote_breaks_ties_and_empty_rows_towards_ham():
    votes = np.array([[1, 0, -1], [1, 1, 0], [-1, -1, -1], [0, -1, -1], [1, -1, -1]])
    np.testing.assert_array_equal(bench.majority_vote(votes), [HAM, SPAM, HAM, HAM, SPAM])


def test_bundled_youtube_copy_gives_the_same_votes_as_the_shared_copy(reports, shared_data):
    report = reports("youtube")
    bundled = load_youtube_spam()
    np.testing.assert_array_equal(bundled["label"].to_numpy(), report.y)
    L = weaklabel.apply_lfs(
        weaklabel.load_lfs("labeling_functions.youtube"), bundled, progress=False
    )
    np.testing.assert_array_equal(L.to_numpy(), report.votes)
    # The demo's test split is the held-out video the LFs were not written on.
    held_out = bench.load_corpus("youtube", shared_data)[1]
    np.testing.assert_array_equal((bundled["split"] == "test").to_numpy(), held_out)
