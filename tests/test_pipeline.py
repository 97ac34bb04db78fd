"""End-to-end runs of ``python -m weaklabel.fit`` on real data, and its config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fake_openai_server import FakeOpenAIServer

from weaklabel import LabelMatrix
from weaklabel.config import ConfigError, load_config
from weaklabel.fit import main, run
from weaklabel.label_models import BaseLabelModel, StackedLabelModel
from weaklabel.metrics import score_predictions

ROOT = Path(__file__).resolve().parents[1]


def _wrench_config(tmp_path: Path, folder: Path, **extra) -> dict:
    config = {
        "name": "test",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "progress": False,
        "data": {"source": "wrench", "path": str(folder), "max_rows": 400},
        "label_model": {"kind": "label_model"},
        "student": {"kind": "tfidf"},
    }
    for key, value in extra.items():
        config[key] = value
    return config


@pytest.fixture(scope="module")
def youtube_run(tmp_path_factory, wrench_dir):
    tmp_path = tmp_path_factory.mktemp("youtube_run")
    config = _wrench_config(tmp_path, wrench_dir("youtube"))
    config["lfs"] = {"modules": ["labeling_functions.youtube"]}
    return run(config)


def test_every_artifact_exists_loads_and_agrees(youtube_run):
    out = youtube_run.output_dir
    for name in ("label_matrix.npz", "label_matrix_test.npz", "lf_summary.csv", "probs.parquet",
                 "label_model.json", "metrics.json", "config.json", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "student").is_dir()

    train_L = LabelMatrix.load(out / "label_matrix.npz")
    assert train_L == youtube_run.splits["train"].L
    # WRENCH votes first, then our own LFs, side by side for the same rows
    assert train_L.lf_names[0] == "keyword_my"
    assert train_L.n_sources > 10

    probs = pd.read_parquet(out / "probs.parquet")
    prob_cols = [c for c in probs.columns if c.startswith("prob_")]
    assert prob_cols == ["prob_HAM", "prob_SPAM"]
    np.testing.assert_allclose(probs[prob_cols].sum(axis=1), 1.0, atol=1e-6)
    assert (probs[prob_cols].to_numpy().argmax(axis=1) == probs["predicted_index"]).all()
    assert (np.array(["HAM", "SPAM"])[probs["predicted_index"]] == probs["predicted_label"]).all()
    assert set(probs["split"]) == {"train", "valid", "test"}

    summary = pd.read_csv(out / "lf_summary.csv", index_col=0)
    assert list(summary.index) == train_L.lf_names
    assert {"coverage", "emp_accuracy"} <= set(summary.columns)

    metrics = json.loads((out / "metrics.json").read_text())
    test = youtube_run.splits["test"]
    test_probs = probs[probs["split"] == "test"]
    recomputed = score_predictions(test.y, test_probs["predicted_index"].to_numpy(), ("accuracy", "f1"))
    assert metrics["test"]["label_model"] == pytest.approx(recomputed)
    assert metrics["test"]["label_model"]["accuracy"] > 0.75
    assert metrics["test"]["student"]["accuracy"] > 0.75

    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "Scores" in html and "Calibration" in html


def test_student_reloads_with_same_predictions(youtube_run):
    from weaklabel.students import TfidfStudent

    texts = youtube_run.splits["test"].data["text"].tolist()
    reloaded = TfidfStudent.load(youtube_run.output_dir / "student")
    np.testing.assert_allclose(reloaded.predict_proba(texts), youtube_run.student.predict_proba(texts))


def test_rerun_reuses_cached_lf_votes(youtube_run, caplog):
    config = youtube_run.config.model_copy(deep=True)
    config.student.kind = "none"
    with caplog.at_level("INFO", logger="weaklabel"):
        again = run(config)
    assert "reused cached votes" in caplog.text
    assert again.splits["train"].L == youtube_run.splits["train"].L


def test_cli_runs_with_overrides(tmp_path, wrench_dir, capsys):
    config = _wrench_config(tmp_path, wrench_dir("trec"))
    path = tmp_path / "trec.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["--config", str(path), "--quiet", "--set", "student.kind=none",
                 "--set", "label_model.kind=majority_vote"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "LF summary" in printed and "Scores" in printed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "student" not in metrics["test"]
    assert metrics["test"]["label_model"]["accuracy"] > 0.4


def test_table_source_with_seeded_split(tmp_path, shared_data):
    from weaklabel.data import read_uci_sms

    frame = read_uci_sms(shared_data / "sms_uci_raw").iloc[:600]
    frame["label"] = np.where(frame["label"] == 1, "spam", "ham")
    csv = tmp_path / "sms.csv"
    frame.rename(columns={"text": "message"}).to_csv(csv, index=False)
    config = {
        "output_dir": str(tmp_path / "run"), "progress": False,
        "data": {"source": "table", "path": str(csv), "text_column": "message",
                 "label_column": "label", "class_names": ["ham", "spam"]},
        "lfs": {"modules": ["labeling_functions.sms"]},
        "student": {"kind": "none"},
    }
    result = run(config)
    sizes = {name: len(split.data) for name, split in result.splits.items()}
    assert sum(sizes.values()) == 600 and sizes["test"] > 60
    assert result.splits["train"].L.class_names == ["ham", "spam"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, "surprise: unknown key"),
        ({"label_model": {"kind": "magic"}}, "label_model.kind"),
        ({"data": {"source": "wrench"}}, "data.path is required"),
        ({"lfs": {"modules": []}, "data": {"source": "bundled"}}, "no source of votes"),
    ],
)
def test_config_errors_are_clear(change, message):
    raw = {"lfs": {"modules": ["labeling_functions.youtube"]}}
    raw.update(change)
    with pytest.raises(ConfigError, match=message):
        load_config(raw)


def test_missing_lf_module_and_column_fail_before_work(tmp_path):
    with pytest.raises(ConfigError, match=r"no LF module named 'labeling_functions\.nope'"):
        run({"output_dir": str(tmp_path), "lfs": {"modules": ["labeling_functions.nope"]}, "progress": False})
    module = tmp_path / "lfs_title.py"
    module.write_text(
        "from weaklabel import keyword_lf\nLFS = [keyword_lf('t', ['x'], 1, column='title')]\n"
    )
    with pytest.raises(ConfigError, match="reads column 'title'"):
        run({"output_dir": str(tmp_path), "lfs": {"modules": [str(module)]}, "progress": False})


def test_set_override_parsing():
    config = load_config(
        {"lfs": {"modules": ["labeling_functions.youtube"]}},
        ["seed=7", "student.kind=none", "label_model.options={tol: 0.001}"],
    )
    assert config.seed == 7 and config.student.kind == "none"
    assert config.label_model.options == {"tol": 0.001}


def test_shipped_configs_validate():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert load_config(path).name


def test_stacked_label_model_trusts_the_lfs_and_reads_the_llm_labeler(tmp_path, monkeypatch):
    """label_model.kind 'stacked': the LF module's sources are trusted by default, the LLM
    labeler (here a keyword-rule chat server) is read through their labels."""
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    with FakeOpenAIServer() as server:
        config = {
            "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"), "progress": False,
            "data": {"source": "bundled", "max_rows": 300},
            "lfs": {"modules": ["labeling_functions.youtube"]},
            "llm_labelers": [{
                "name": "chat_spam", "backend": "openai", "model": "fake-model", "base_url": server.base_url,
                "api_key_env": "FAKE_KEY", "decoding": "text", "prompt": "Spam or ham?\n{text}",
                "labels": {"spam": 1, "ham": 0},
            }],
            "label_model": {"kind": "stacked"},
            "student": {"kind": "none"},
        }
        result = run(config)
    model = result.label_model
    assert isinstance(model, StackedLabelModel)
    names = result.splits["train"].L.lf_names
    assert "chat_spam" in names and model.trusted == [n for n in names if n != "chat_spam"]
    saved = BaseLabelModel.load(tmp_path / "run" / "label_model.json")
    np.testing.assert_array_equal(saved.predict_proba(result.splits["test"].L), result.probs["test"])
    assert result.metrics["test"]["label_model"]["accuracy"] > 0.75


def test_stacked_label_model_without_llm_labelers_asks_for_trusted(tmp_path, wrench_dir):
    config = _wrench_config(tmp_path, wrench_dir("youtube"), label_model={"kind": "stacked"})
    with pytest.raises(ConfigError, match="has no llm_labelers"):
        run(config)
