"""``python -m weaklabel.fit`` with ``task: multilabel``: the demo config end to end on the
bundled MAMS sample (artifacts reload and predict as the run did), and the config errors a
multi-label run reports before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from weaklabel.config import ConfigError, load_config
from weaklabel.fit import main, run
from weaklabel.multilabel import MAMS_CLASSES, MultiLabelMatrix
from weaklabel.multilabel.label_model import MultiLabelModel
from weaklabel.students.multilabel import TfidfMultiLabelStudent

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "mams_demo.yaml"
FAST = ["progress=false", "student.options.char_ngram_range=null"]


def test_demo_config_runs_end_to_end_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["--config", str(DEMO), "--quiet", "--set", f"output_dir={out}", *(f"--set={o}" for o in FAST)]) == 0
    printed = capsys.readouterr().out
    assert "LF summary per label" in printed and "Scores:" in printed and "macro_f1" in printed
    names = {p.name for p in out.iterdir()}
    assert {"label_matrix.npz", "label_matrix_test.npz", "label_summary.csv", "lf_summary.csv", "probs.parquet",
            "label_model", "student", "metrics.json", "report.html", "weaklabel_run.json"} <= names
    report = (out / "report.html").read_text()
    assert "Per label (test)" in report and "co-occurrence" in report and "<img" in report

    # the artifacts reload and give the run's probabilities
    M_test = MultiLabelMatrix.load(out / "label_matrix_test.npz")
    model = MultiLabelModel.load(out / "label_model")
    probs = pd.read_parquet(out / "probs.parquet")
    test_probs = probs[probs["split"] == "test"][[f"prob_{c}" for c in MAMS_CLASSES]].to_numpy()
    np.testing.assert_allclose(model.predict_proba(M_test), test_probs)
    student = TfidfMultiLabelStudent.load(out / "student")
    assert student.classes_.tolist() == list(MAMS_CLASSES)


def test_run_metrics_hold_every_method_and_per_label_scores(tmp_path):
    result = run(DEMO, overrides=[f"output_dir={tmp_path / 'run'}", *FAST])
    test = result.metrics["test"]
    assert {"majority_vote", "label_model", "student", "per_label"} <= set(test)
    assert set(test["per_label"]["student"]) == set(MAMS_CLASSES)
    assert test["label_model"]["macro_f1"] >= test["majority_vote"]["macro_f1"] - 0.01
    assert test["student"]["micro_f1"] > 0.7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["data.source=wrench", "data.path=somewhere"], "task multilabel reads a table"),
        (["label_model.kind=snorkel"], "is single-label; task multilabel takes"),
        (["data.name=youtube_spam"], "no bundled multi-label dataset"),
        (["data.class_names=[food, staff]"], "mams_acsa has the classes"),
        (["student.options.C=-1"], "student.options .*C must be > 0"),
    ],
)
def test_config_errors_before_any_work(tmp_path, override, message):
    overrides = [f"output_dir={tmp_path / 'run'}", "progress=false", *override]
    with pytest.raises(ConfigError, match=message):
        run(DEMO, overrides=overrides)
    assert not (tmp_path / "run" / "label_matrix.npz").exists()


def test_llm_prompt_needs_its_label(tmp_path):
    raw = load_config(DEMO).model_dump(mode="json")
    raw["llm_labelers"] = [{"name": "llm", "prompt": "Is it about prices? {text}", "labels": {"yes": 1, "no": 0}}]
    with pytest.raises(ConfigError, match="need the label they vote on"):
        load_config(raw)
    raw["llm_labelers"][0]["label"] = "drinks"
    raw["output_dir"] = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="'drinks' is not a class"):
        run(raw)


def test_full_dataset_config_validates_and_reads_the_benchmark_table():
    config = load_config(ROOT / "configs" / "mams.yaml")
    assert config.task == "multilabel" and config.student.kind == "transformer"
    assert config.data.path.resolve() == ROOT / "runs" / "mams.jsonl"  # written by benchmarks.multilabel --write-table
    assert config.data.class_names == list(MAMS_CLASSES)
