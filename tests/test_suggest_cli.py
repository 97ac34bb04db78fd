"""python -m weaklabel.suggest: from a fit config with no LFs to a module weaklabel.fit runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from weaklabel import load_lfs
from weaklabel.data import load_youtube_spam
from weaklabel.fit import run
from weaklabel.suggest.__main__ import main


def _config(tmp_path, **extra) -> str:
    config = {"name": "suggest_test", "output_dir": str(tmp_path / "run"), "progress": False,
              "data": {"source": "bundled"}, **extra}
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_from_nothing_to_a_module_that_fit_runs_unchanged(tmp_path, capsys):
    """The config lists no LF module; the valid split's gold rows drive the suggestions."""
    out = tmp_path / "labeling_functions" / "youtube_suggested.py"
    code = main(["--config", _config(tmp_path), "--labeled", "valid", "--out", str(out), "--max-lfs", "8",
                 "--json", str(tmp_path / "suggestions.json"), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "precision" in printed and "held-out" in printed.lower() and "wrote" in printed
    lfs = load_lfs(str(out))
    assert 1 <= len(lfs) <= 8
    assert (tmp_path / "suggestions.json").is_file()

    config = _config(tmp_path, lfs={"modules": [str(out)]}, student={"kind": "none"}, report=False)
    result = run(config)
    train_L = result.splits["train"].L
    assert train_L.lf_names == [lf.name for lf in lfs]
    assert (train_L.votes != -1).any(axis=1).mean() > 0.3
    assert result.metrics["test"]["label_model"]["accuracy"] > 0.6


def test_a_labeled_file_with_class_names(tmp_path, capsys):
    data = load_youtube_spam(seed=0)
    labeled = data[data.split == "valid"]
    file = tmp_path / "labeled.csv"
    pd.DataFrame({"text": labeled.text, "label": np.where(labeled.label == 1, "SPAM", "HAM")}).to_csv(file, index=False)
    out = tmp_path / "from_file.py"
    assert main(["--config", _config(tmp_path), "--labeled", str(file), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "HAM = 0\nSPAM = 1" in text
    # the labels were read as names, so SPAM LFs fire on spam-like words
    assert any(lf.label == 1 for lf in load_lfs(str(out)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--labeled": "missing.csv"}, "--labeled: no file at missing.csv"),
        ({"--out": "lfs.txt"}, "--out must be a .py file"),
        ({"--min-precision": "2"}, "min_precision"),
        ({"--config": "nope.yaml"}, "no config file at nope.yaml"),
        ({"--set": "data.source=nowhere"}, "data.source"),
    ],
)
def test_user_errors_print_the_problem_and_exit_2(tmp_path, capsys, change, message):
    options = {"--config": _config(tmp_path), "--labeled": "valid", "--out": str(tmp_path / "x.py"), **change}
    assert main([item for pair in options.items() for item in pair]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) <= 2
    assert not (tmp_path / "x.py").exists()


def test_an_existing_output_is_not_replaced_without_force(tmp_path, capsys):
    out = tmp_path / "mine.py"
    out.write_text("# my own LFs\n")
    argv = ["--config", _config(tmp_path), "--labeled", "valid", "--out", str(out), "--quiet", "--max-lfs", "2"]
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "# my own LFs\n"
    assert main([*argv, "--force"]) == 0
    assert len(load_lfs(str(out))) <= 2


def test_a_labeled_file_without_the_label_column(tmp_path, capsys):
    file = tmp_path / "nolabel.csv"
    pd.DataFrame({"text": ["a", "b"]}).to_csv(file, index=False)
    assert main(["--config", _config(tmp_path), "--labeled", str(file), "--out", str(tmp_path / "y.py")]) == 2
    assert "no column 'label'" in capsys.readouterr().err
