"""Class names through a whole ``weaklabel.fit`` run on TREC (6 classes), in the order the
user gives: the saved label model and student, ``probs.parquet``, ``metrics.json``,
``report.html`` and the review app all name the classes, in that order."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from weaklabel.data import load_wrench
from weaklabel.exceptions import DataError
from weaklabel.fit import main, run
from weaklabel.label_models import load_label_model
from weaklabel.matrix import LabelMatrix
from weaklabel.review.labels import LABELS_FILE
from weaklabel.review.loop import ReviewSession
from weaklabel.review.run_data import RunData
from weaklabel.review.views import overview, sources_table
from weaklabel.students import TfidfStudent

FILE_ORDER = ["DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM"]  # TREC's label.json
USER_ORDER = ["NUM", "LOC", "HUM", "ENTY", "DESC", "ABBR"]  # neither that nor alphabetical

TREC_LFS = '''
from weaklabel import ABSTAIN, keyword_lf, labeling_function, regex_lf


@labeling_function()
def how_many(x):
    return "NUM" if x.text.lower().startswith("how many") else ABSTAIN


who = keyword_lf("who", ["who", "whom", "whose"], "HUM")
where = keyword_lf("where", ["where"], "LOC")
when = regex_lf("when", r"^when\\b|what year", "NUM")
abbreviation = keyword_lf("abbreviation", ["stand for", "abbreviation", "acronym"], "ABBR")
why_how = regex_lf("why_how", r"^(why|how (do|does|did|can))\\b", "DESC")
what_is = keyword_lf("what_is", ["what is a ", "what is an ", "what are "], "DESC")
what_name = keyword_lf("what_name", ["name of", "what kind", "what type"], "ENTY")
'''


@pytest.mark.shared_data
def test_wrench_classes_are_renumbered_to_the_users_order(wrench_dir):
    folder = wrench_dir("trec")
    as_filed = load_wrench(folder, "valid")
    reordered = load_wrench(folder, "valid", class_names=USER_ORDER)
    assert as_filed.L.class_names == FILE_ORDER and reordered.L.class_names == USER_ORDER
    by_name = lambda y, names: np.asarray([*names, None], dtype=object)[y]  # noqa: E731
    assert list(by_name(reordered.y, USER_ORDER)) == list(by_name(as_filed.y, FILE_ORDER))
    np.testing.assert_array_equal(
        by_name(reordered.L.votes, USER_ORDER), by_name(as_filed.L.votes, FILE_ORDER)
    )
    with pytest.raises(DataError, match=r"not the classes of .*label.json"):
        load_wrench(folder, "valid", class_names=["NUM", "LOC", "HUM", "ENTY", "DESC", "ABBREVIATION"])


def _check_artifacts(out: Path, order: list[str], texts: list[str]) -> dict:
    """Every artifact of the run in ``out`` names the classes in ``order``; returns metrics."""
    probs = pd.read_parquet(out / "probs.parquet")
    assert [c for c in probs.columns if c.startswith("prob_")] == [f"prob_{name}" for name in order]
    assert list(probs.columns[-2:]) == ["predicted_label", "predicted_index"]
    prob_values = probs[[f"prob_{name}" for name in order]].to_numpy()
    np.testing.assert_array_equal(probs["predicted_index"], prob_values.argmax(axis=1))
    assert list(probs["predicted_label"]) == [order[i] for i in probs["predicted_index"]]

    model = load_label_model(out / "label_model.json")
    assert list(model.classes_) == order
    train = probs[probs["split"] == "train"]
    votes = LabelMatrix.load(out / "label_matrix.npz")
    assert votes.class_names == order
    named = model.predict(votes, tie_break="first", return_names=True)
    top2 = np.sort(train[[f"prob_{name}" for name in order]].to_numpy(), axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6  # ties within the model's tolerance may differ
    assert list(named[clear]) == list(train["predicted_label"].to_numpy()[clear])

    student = TfidfStudent.load(out / "student")
    assert list(student.classes_) == order
    predicted = student.predict(texts)
    assert set(predicted) <= set(order)
    np.testing.assert_array_equal(predicted, np.asarray(order, dtype=object)[student.predict_proba(texts).argmax(axis=1)])

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == order
    for method in ("majority_vote", "label_model", "student"):
        assert list(metrics["test"]["per_class"][method]) == order
        confusion = metrics["test"]["confusion"][method]
        assert list(confusion) == order and all(list(row) == order for row in confusion.values())
    test = probs[probs["split"] == "test"]
    confusion = metrics["test"]["confusion"]["label_model"]
    assert sum(row[name] for row in confusion.values() for name in order) == len(test)
    predicted_counts = test["predicted_label"].value_counts()
    for name in order:
        assert sum(row[name] for row in confusion.values()) == predicted_counts.get(name, 0)

    html = (out / "report.html").read_text()
    for title in ("Label model per class", "Student per class"):
        section = html[html.index(title):]
        header = section[section.index("<thead>"):section.index("</thead>")]
        found = re.findall(r"<th>([A-Z]+)</th>", header)
        assert found == order, (title, found)
    return metrics


@pytest.fixture(scope="module")
def trec_run(tmp_path_factory, wrench_dir):
    tmp = tmp_path_factory.mktemp("trec_names")
    config = {
        "name": "trec_names", "seed": 0, "progress": False,
        "output_dir": str(tmp / "run"), "cache_dir": str(tmp / "cache"),
        "data": {"source": "wrench", "path": str(wrench_dir("trec")), "max_rows": 600,
                 "class_names": USER_ORDER},
        "label_model": {"kind": "label_model"},
        "student": {"kind": "tfidf"},
    }
    return run(config)


@pytest.mark.shared_data
def test_a_wrench_run_names_the_classes_in_the_users_order(trec_run, wrench_dir):
    out = trec_run.output_dir
    test = trec_run.splits["test"]
    metrics = _check_artifacts(out, USER_ORDER, test.data["text"].tolist())
    # the gold labels were renumbered with the votes: scores as in TREC's own order
    as_filed = load_wrench(wrench_dir("trec"), "test")
    gold_names = np.asarray(FILE_ORDER, dtype=object)[as_filed.y[:600]]
    assert list(np.asarray(USER_ORDER, dtype=object)[test.y]) == list(gold_names)
    probs = pd.read_parquet(out / "probs.parquet")
    predicted = probs.loc[probs["split"] == "test", "predicted_label"].to_numpy()
    assert metrics["test"]["label_model"]["accuracy"] == pytest.approx(np.mean(predicted == gold_names))
    assert metrics["test"]["label_model"]["accuracy"] > 0.4  # TREC's LFs: ~0.5-0.6 (WRENCH MV 60.8)


@pytest.mark.shared_data
def test_the_review_app_reads_and_refits_the_named_run(trec_run):
    data = RunData.open(trec_run.output_dir)
    assert data.class_names == USER_ORDER
    valid = trec_run.splits["valid"]
    np.testing.assert_array_equal(data.gold[data.split_slice("valid")], valid.y)
    assert overview(data)["class_report"]["confusion"]
    polarity = {row["source"]: row["polarity"] for row in sources_table(data)}
    assert all(set(p) <= set(USER_ORDER) for p in polarity.values())
    session = ReviewSession(data)
    try:
        row_id = str(data.row_ids[data.split_slice("train")][0])
        session.label("train", row_id, "ABBR")
        refit = session.refit()
        assert refit["labels_used"] == 1 + int((valid.y >= 0).sum())
        assert {row["method"] for row in refit["scores"]} >= {"label_model", "student"}
    finally:
        session.store.close()
        (data.path / LABELS_FILE).unlink(missing_ok=True)


@pytest.mark.shared_data
def test_a_table_run_by_the_cli_keeps_the_users_order(tmp_path, capsys):
    from weaklabel.data import load_trec_questions

    frame = load_trec_questions()
    frame.to_csv(tmp_path / "questions.csv", index=False)
    (tmp_path / "trec_lfs.py").write_text(TREC_LFS)
    order = ["HUM", "LOC", "NUM", "DESC", "ENTY", "ABBR"]
    config = {
        "name": "questions", "seed": 0, "progress": False,
        "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "data": {"source": "table", "path": "questions.csv", "label_column": "label",
                 "split_column": "split", "class_names": order},
        "lfs": {"modules": ["trec_lfs.py"]},
        "label_model": {"kind": "label_model"},
        "student": {"kind": "tfidf"},
    }
    (tmp_path / "questions.yaml").write_text(yaml.safe_dump(config))
    assert main(["--config", str(tmp_path / "questions.yaml"), "--quiet"]) == 0
    assert "Scores" in capsys.readouterr().out
    test_texts = frame.loc[frame["split"] == "test", "text"].tolist()
    metrics = _check_artifacts(tmp_path / "run", order, test_texts)
    assert metrics["test"]["student"]["accuracy"] > 1 / 6
    assert RunData.open(tmp_path / "run").class_names == order
