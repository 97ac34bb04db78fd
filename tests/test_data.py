"""Loaders: WRENCH matrices with their documented shapes, tables, raw corpora, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from weaklabel.data import (
    load_llm_votes,
    load_table,
    load_wrench,
    load_wrench_stack,
    load_youtube_spam,
    read_uci_sms,
    read_uci_youtube,
    wrench_lf_names,
)
from weaklabel.exceptions import ClassOrderWarning

# From ../shared/data/*/SOURCE.md and README.md: train (published, after dropping the
# appended labeled exemplars), valid and test sizes, number of LFs, class names.
WRENCH = {
    "youtube": ((1586, 120, 250), 10, ["HAM", "SPAM"]),
    "sms": ((4571, 500, 500), 73, ["ham", "spam"]),
    "trec": ((4965, 500, 500), 68, ["DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM"]),
    "youtube_prompted_original": ((1586, 120, 250), 10, ["HAM", "SPAM"]),
    "sms_prompted_original": ((4571, 500, 500), 73, ["ham", "spam"]),
}
RAW_TRAIN = {"youtube": 1686, "sms": 4571, "trec": 5033}
GOLD_COUNTS = {  # documented for the raw train files and for valid/test
    ("youtube", "valid"): [64, 56],
    ("youtube", "test"): [132, 118],
    ("sms", "train"): [3954, 617],
    ("trec", "test"): [138, 94, 65, 9, 81, 113],
}


@pytest.mark.parametrize("name", list(WRENCH))
def test_wrench_datasets_load_with_the_documented_shapes(wrench_dir, name):
    sizes, n_lfs, classes = WRENCH[name]
    for split, size in zip(("train", "valid", "test"), sizes, strict=True):
        data, L, y = load_wrench(wrench_dir(name), split)
        assert L.shape == (size, n_lfs) and len(data) == len(y) == size, split
        assert L.cardinality == len(classes) and L.class_names == classes
        assert data.index.equals(L.index) and data.index.is_unique
        assert data["text"].map(type).eq(str).all()
        assert y.min() >= 0 and y.max() < len(classes)
        if (name, split) in GOLD_COUNTS:
            assert np.bincount(y).tolist() == GOLD_COUNTS[name, split]


@pytest.mark.parametrize("name", list(RAW_TRAIN))
def test_keeping_the_labeled_duplicates_gives_the_raw_sizes(wrench_dir, name):
    data, L, y = load_wrench(wrench_dir(name), "train", drop_labeled_duplicates=False)
    assert len(data) == L.n_rows == len(y) == RAW_TRAIN[name]
    if name == "youtube":
        assert np.bincount(y).tolist() == [801, 885]  # SOURCE.md's counts for the raw file


def test_youtube_lf_names_come_from_its_readme(wrench_dir):
    _, L, _ = load_wrench(wrench_dir("youtube"), "train")
    assert L.lf_names == [
        "keyword_my", "keyword_subscribe", "keyword_link", "keyword_please", "keyword_song",
        "regex_check_out", "short_comment", "has_person_nlp", "textblob_polarity", "textblob_subjectivity",
    ]  # fmt: skip
    _, sms, _ = load_wrench(wrench_dir("sms"), "valid")
    assert sms.lf_names[:2] == ["sms_0", "sms_1"]  # its readme lists regexes, not names
    _, custom, _ = load_wrench(
        wrench_dir("youtube"), "test", lf_names=[f"lf{j}" for j in range(10)]
    )
    assert custom.lf_names[0] == "lf0"


def test_train_and_prompted_texts_line_up(wrench_dir):
    data, _, y = load_wrench(wrench_dir("sms"), "train")
    prompted, _, y_prompted = load_wrench(wrench_dir("sms_prompted_original"), "train")
    assert data.index.equals(prompted.index) and np.array_equal(y, y_prompted)


# From ../shared/data/llms_for_css/SOURCE.md: rows, classes, per-class count, best LLM and its
# accuracy on the rows it covers.
LLMS_FOR_CSS = {
    "conv_go_awry": (500, ["False", "True"], 250, "flan-ul2", 0.566),
    "reddit_humor": (500, ["False", "True"], None, "text-babbage-001", 0.59),
    "discourse": (497, 7, 71, "flan-t5-xxl", 0.525),
    "ibc": (498, ["liberal", "conservative", "neutral"], 166, "text-davinci-002", 0.576),
    "semeval_stance": (435, ["against", "favor", "none"], 145, "chatgpt", 0.72),
    "wiki_politeness": (498, ["polite", "neutral", "impolite"], 166, "flan-t5-xl", 0.592),
    "emotion": (498, 6, 83, "flan-ul2", 0.703),
}


@pytest.mark.parametrize("task", list(LLMS_FOR_CSS))
def test_llm_votes_load_with_the_documented_shapes(shared_data, task):
    rows, classes, per_class, best, accuracy = LLMS_FOR_CSS[task]
    folder = shared_data / "llms_for_css" / task
    if not folder.exists():
        pytest.skip(f"no {folder}")
    data, L, y = load_llm_votes(folder)
    names = json.loads((folder / "lf_names.json").read_text())
    assert L.shape == (rows, 13) and len(data) == len(y) == rows
    assert L.lf_names == names and names[-1] == "chatgpt"
    k = len(classes) if isinstance(classes, list) else classes
    assert L.cardinality == k and (not isinstance(classes, list) or L.class_names == classes)
    if per_class is not None:
        assert np.bincount(y, minlength=k).tolist() == [per_class] * k
    column = L.votes[:, names.index(best)]
    voted = column >= 0
    assert np.mean(column[voted] == y[voted]) == pytest.approx(accuracy, abs=5e-4)


def test_llm_votes_errors_name_the_file(tmp_path):
    folder = _wrench(tmp_path / "task", {"0": _entry("a", [1, 0])})
    (folder / "test.json").write_text((folder / "train.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"missing file: .*lf_names\.json"):
        load_llm_votes(folder)
    (folder / "lf_names.json").write_text(json.dumps(["m1", "m1"]))
    with pytest.raises(ValueError, match=r"lf_names\.json: source names repeat: \['m1'\]"):
        load_llm_votes(folder)
    (folder / "lf_names.json").write_text(json.dumps({"m1": 0}))
    with pytest.raises(ValueError, match=r"lf_names\.json: expected a JSON list"):
        load_llm_votes(folder)
    (folder / "lf_names.json").write_text(json.dumps(["m1", "m2", "m3"]))
    with pytest.raises(ValueError, match=r"test\.json: 3 lf_names given for a matrix with 2"):
        load_llm_votes(folder)
    (folder / "lf_names.json").write_text(json.dumps(["m1", "m2"]))
    assert load_llm_votes(folder).L.lf_names == ["m1", "m2"]


# ---------------------------------------------------------------- WRENCH errors, on small files
def _wrench(folder, train, *, labels=None, labeled_ids=None):
    folder.mkdir(exist_ok=True)
    (folder / "label.json").write_text(json.dumps(labels or {"0": "ham", "1": "spam"}))
    (folder / "train.json").write_text(json.dumps(train) if not isinstance(train, str) else train)
    if labeled_ids is not None:
        (folder / "labeled_ids.json").write_text(json.dumps({"labeled_ids": labeled_ids}))
    return folder


def _entry(text, weak, label=0):
    return {"label": label, "weak_labels": weak, "data": {"text": text}}


def test_labeled_exemplars_are_dropped_only_when_they_are_copies(tmp_path):
    train = {
        "0": _entry("a", [1, -1]),
        "1": _entry("b", [0, 0]),
        "2": _entry("a", [1, -1]),
        "3": _entry("b", [0, 0]),
    }
    copies = _wrench(tmp_path / "copies", train, labeled_ids=["2", "3"])
    assert list(load_wrench(copies).data.index) == [0, 1]
    assert len(load_wrench(copies, drop_labeled_duplicates=False).data) == 4
    train["3"] = _entry("original text", [0, 0])
    originals = _wrench(tmp_path / "originals", train, labeled_ids=["2", "3"])
    assert len(load_wrench(originals).data) == 4  # not all copies: an original split, kept whole


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WRENCH dataset folder at"):
        load_wrench(tmp_path / "absent")
    folder = _wrench(tmp_path / "d", {"0": _entry("a", [1])})
    with pytest.raises(FileNotFoundError, match=r"missing file: .*valid\.json"):
        load_wrench(folder, "valid")
    with pytest.raises(ValueError, match="split must be one of"):
        load_wrench(folder, "dev")


def test_malformed_json_names_file_and_line(tmp_path):
    broken = (
        '{\n "0": {"label": 0, "weak_labels": [1], "data": {"text": "a"}},\n "1": {"label": 0,,}\n}'
    )
    folder = _wrench(tmp_path / "d", broken)
    with pytest.raises(ValueError, match=r"train\.json: malformed JSON at line 3, column"):
        load_wrench(folder)
    (folder / "train.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match=r"train\.json: not UTF-8"):
        load_wrench(folder)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (
            {"0": _entry("a", [1, -1]), "7": _entry("b", [0])},
            r"example '7' has 1 weak labels, earlier ones have 2",
        ),
        (
            {"0": _entry("a", [1, 2])},
            r"example '0' has the weak label 2 \(column 1\); expected -1 or a class index below 2",
        ),
        ({"0": _entry("a", [1, None])}, r"example '0' has the weak label None"),
        ({"0": _entry("a", [1, 0.5])}, r"example '0' has the weak label 0\.5"),
        ({"0": _entry("a", 1)}, r"example '0' has weak_labels 1, expected a list"),
        ({"0": _entry("a", [1], label=5)}, r"example '0' has the label 5"),
        ({"0": {"label": 0, "data": {"text": "a"}}}, r"example '0' has no 'weak_labels' field"),
        ([1, 2], "expected a JSON object of id -> example"),
    ],
)
def test_bad_wrench_content_names_file_and_example(tmp_path, train, message):
    folder = _wrench(tmp_path / "d", train)
    with pytest.raises(ValueError, match=rf"train\.json: .*{message}|{message}"):
        load_wrench(folder)


def test_lf_names_fallback_uses_the_folder_name(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    assert wrench_lf_names(folder, 2) == ["mydata_0", "mydata_1"]


# ---------------------------------------------------------------- tables
@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "body": ["Win a prize", "see you", "007", None],
            "tag": ["spam", "ham", "spam", None],
            "n": [1, 2, 3, 4],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_load_table_formats(tmp_path, table, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".tsv":
        table.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_parquet(path)
    with pytest.warns(ClassOrderWarning, match=r"class order was inferred .*0 = 'ham', 1 = 'spam'"):
        data, y = load_table(path, text_column="body", label_column="tag")
    assert list(data.columns) == ["text", "tag", "n"]
    assert data["text"].iloc[2] == "007"  # a text that looks like a number stays a string
    assert pd.isna(data["text"].iloc[3])
    assert y.tolist() == [1, 0, 1, -1]  # sorted names: ham=0, spam=1; missing = -1
    assert data.attrs["class_names"] == ["ham", "spam"]
    data, y = load_table(path, text_column="body")
    assert y is None and "text" in data


def test_load_table_labels(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 0, None]}).to_csv(path, index=False)
    assert load_table(path, label_column="label")[1].tolist() == [1, 0, -1]
    _, y = load_table(path, label_column="label", class_names=["ham", "spam"])
    assert y.tolist() == [1, 0, -1]
    pd.DataFrame({"text": ["a", "b"], "label": ["spam", "eggs"]}).to_csv(path, index=False)
    assert load_table(path, label_column="label", class_names=["eggs", "spam"])[1].tolist() == [
        1,
        0,
    ]
    with pytest.raises(
        ValueError, match=r"row 1 \(line 3\) has the label 'eggs', not one of \['ham', 'spam'\]"
    ):
        load_table(path, label_column="label", class_names=["ham", "spam"])
    pd.DataFrame({"text": ["a", "b"], "label": [0, 2.5]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"row 1 \(line 3\) has the label 2\.5; expected a class index"):
        load_table(path, label_column="label")
    pd.DataFrame({"text": ["a", "b"], "label": [0, 2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"row 1 \(line 3\) has the label 2; expected a class index below 2"):
        load_table(path, label_column="label", class_names=["ham", "spam"])


def test_load_table_errors_name_file_and_problem(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"body": ["a"], "tag": [1]}).to_csv(path, index=False)
    with pytest.raises(KeyError, match=r"d\.csv: no column 'text'; columns are \['body', 'tag'\]"):
        load_table(path)
    with pytest.raises(KeyError, match=r"no column 'label'; columns are \['body', 'tag'\]"):
        load_table(path, text_column="body", label_column="label")
    with pytest.raises(FileNotFoundError, match="missing file"):
        load_table(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="unknown table format 'xlsx'"):
        load_table(path.rename(tmp_path / "d.xlsx"))
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a"}\n\n{"text": "b"\n')
    with pytest.raises(ValueError, match=r"d\.jsonl: malformed JSON on line 3"):
        load_table(jsonl)
    jsonl.write_text('{"text": "a"}\n["b"]\n')
    with pytest.raises(ValueError, match=r"line 2 holds a list, expected an object"):
        load_table(jsonl)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\na,1\nb,0,extra\n")
    with pytest.raises(ValueError, match=r"ragged\.csv: line 3 has 3 fields, the header 2"):
        load_table(ragged)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"corrupt\.parquet: cannot parse as parquet"):
        load_table(corrupt)
    both = tmp_path / "both.csv"
    pd.DataFrame({"text": ["a"], "clean": ["b"]}).to_csv(both, index=False)
    with pytest.raises(ValueError, match="already has a 'text' column"):
        load_table(both, text_column="clean")


# ---------------------------------------------------------------- raw corpora
def test_read_uci_youtube(shared_data):
    data = read_uci_youtube(shared_data / "youtube_uci_raw")
    assert len(data) == 1956 and int(data["label"].sum()) == 175 + 175 + 236 + 245 + 174
    assert data.groupby("video").size().to_dict() == {
        "Eminem": 448, "KatyPerry": 350, "LMFAO": 438, "Psy": 350, "Shakira": 370,
    }  # fmt: skip
    assert data["text"].map(type).eq(str).all()


def test_read_uci_sms(shared_data):
    data = read_uci_sms(shared_data / "sms_uci_raw")
    assert len(data) == 5574 and int(data["label"].sum()) == 747
    assert read_uci_sms(shared_data / "sms_uci_raw" / "SMSSpamCollection").equals(data)


def test_raw_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Youtube0"):
        read_uci_youtube(tmp_path)
    (tmp_path / "Youtube01-Psy.csv").write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n1,a,d,hi,0\n2,b,d,,1\n"
    )
    with pytest.raises(ValueError, match=r"Youtube01-Psy\.csv: row 1 has no CONTENT"):
        read_uci_youtube(tmp_path)
    (tmp_path / "Youtube01-Psy.csv").write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n1,a,d,hi,3\n"
    )
    with pytest.raises(ValueError, match="row 0 has CLASS 3, expected 0 or 1"):
        read_uci_youtube(tmp_path)
    sms = tmp_path / "SMSSpamCollection"
    sms.write_text("ham\thello\nspam\tfree prize\nmaybe\tthird\n")
    with pytest.raises(ValueError, match=r"line 3 is not 'ham\|spam<TAB>text'"):
        read_uci_sms(sms)
    with pytest.raises(FileNotFoundError, match="missing file"):
        read_uci_sms(tmp_path / "absent")


def test_bundled_youtube_spam_splits():
    data = load_youtube_spam()
    assert len(data) == 1956
    sizes = data["split"].value_counts().to_dict()
    assert sizes["test"] == 370 and (data.loc[data["split"] == "test", "video"] == "Shakira").all()
    assert sizes["train"] + sizes["valid"] == 1586 and 100 < sizes["valid"] < 220  # ~10% of 1586
    assert load_youtube_spam()["split"].equals(data["split"])  # deterministic
    assert not load_youtube_spam(seed=1)["split"].equals(data["split"])
    assert len(load_youtube_spam("valid")) == sizes["valid"]
    assert load_youtube_spam("test").index.isin(data.index[data["split"] == "test"]).all()
    assert (load_youtube_spam(valid_fraction=0.0)["split"] != "valid").all()
    with pytest.raises(ValueError, match="split must be one of"):
        load_youtube_spam("dev")
    with pytest.raises(ValueError, match="valid_fraction must be in"):
        load_youtube_spam(valid_fraction=1.5)


def test_bundled_copy_equals_the_shared_raw_corpus(shared_data):
    bundled = load_youtube_spam().drop(columns="split")
    pd.testing.assert_frame_equal(bundled, read_uci_youtube(shared_data / "youtube_uci_raw"))


def test_load_wrench_stack_puts_llm_votes_beside_the_lf_votes(wrench_dir):
    lfs = load_wrench(wrench_dir("sms"), "valid")
    llm = load_wrench(wrench_dir("sms_prompted_original"), "valid")
    data, L, y = load_wrench_stack([wrench_dir("sms"), wrench_dir("sms_prompted_original")], "valid")
    assert L.lf_names == lfs.L.lf_names + llm.L.lf_names
    assert np.array_equal(L.votes, np.hstack([lfs.L.votes, llm.L.votes]))
    assert np.array_equal(y, lfs.y) and data.equals(lfs.data)
    with pytest.raises(ValueError, match="other examples than"):
        load_wrench_stack([wrench_dir("sms"), wrench_dir("youtube")], "valid")
