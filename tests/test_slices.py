"""Error slices: where a source errs, grouped into readable slices (weaklabel.error_slices)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from weaklabel import LabelMatrix
from weaklabel.analysis import error_slices, plot_error_slices
from weaklabel.data import load_wrench
from weaklabel.text_patterns import word_count_pattern

HAM, SPAM = 0, 1


def _toy():
    """12 rows; the 'llm' source calls every 'free' message HAM (wrong on the 4 spam ones),
    is right elsewhere; the 'kw' source votes SPAM on 'free' rows."""
    texts = [
        "free prize now", "win a free phone", "free tickets call", "free entry text",
        "see you at lunch", "ok thanks", "call me later", "lunch tomorrow?",
        "are you home", "love you", "meeting at noon", "good night",
    ]
    y = np.array([SPAM] * 4 + [HAM] * 8)
    llm = np.array([HAM] * 4 + [HAM] * 8)
    kw = np.array([SPAM] * 4 + [-1] * 8)
    L = LabelMatrix(np.column_stack([llm, kw]), ["llm", "kw"], cardinality=2, class_names=["HAM", "SPAM"])
    return L, pd.DataFrame({"text": texts}), y


def test_the_ngram_slice_holds_the_errors_with_hand_computed_numbers():
    L, data, y = _toy()
    result = error_slices(L, "llm", data, y, kinds=("ngram",), min_size=3)
    assert (result.n_voted, result.n_errors, result.n_reference) == (12, 4, 12)
    assert result.accuracy == pytest.approx(8 / 12)
    top = result[0]
    assert top.id == "ngram:free" and top.kind == "ngram"
    assert (top.size, top.n_errors, top.accuracy) == (4, 4, 0.0)
    assert top.others_coverage == 1.0 and top.others_accuracy == 1.0
    assert sorted(e["row"] for e in top.examples) == [0, 1, 2, 3]
    assert {e["expected"] for e in top.examples} == {"SPAM"} and {e["vote"] for e in top.examples} == {"HAM"}
    assert result.rows() == [0, 1, 2, 3]
    assert len(result) == 1  # the other n-grams hold no errors beyond the overall rate


def test_without_gold_errors_are_votes_against_the_others_majority():
    L, data, _ = _toy()
    chat = np.array([-1] * 4 + [HAM] * 4 + [-1] * 4)  # a third source agreeing with 'llm' on 4 rows
    L = LabelMatrix(np.column_stack([L.votes, chat]), ["llm", "kw", "chat"], cardinality=2)
    result = error_slices(L, "llm", data, kinds=("ngram",), min_size=3)
    assert result.basis == "others"
    assert result.n_reference == 8 and result.n_errors == 4  # rows 8-11 have no reference
    assert result[0].id == "ngram:free" and result[0].n_errors == 4


def test_a_vote_array_names_the_source_and_the_json_round_trips():
    L, data, y = _toy()
    predictions = np.array([HAM] * 12)
    result = error_slices(L, predictions, data, y, name="label_model", kinds=("ngram", "pattern"), min_size=3)
    assert result.source == "label_model"
    payload = json.loads(result.to_json())
    assert payload["slices"][0]["id"] == "ngram:free"
    assert payload["slices"][0]["rows"] == [0, 1, 2, 3]
    frame = result.to_frame()
    assert list(frame.columns[:3]) == ["id", "kind", "description"]
    html = result.to_html()
    assert "Where label_model errs" in html and "&quot;free&quot;" in html


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"source": "nope"}, KeyError, "no source named 'nope'"),
        ({"source": np.zeros(3, dtype=int)}, ValueError, r"shape \(3,\)"),
        ({"source": np.full(12, 5)}, ValueError, r"\[-1, 1\]"),
        ({"source": "llm", "kinds": ("topics",)}, ValueError, "unknown slice kinds"),
        ({"source": "llm", "embeddings": np.zeros((3, 4))}, ValueError, "embeddings have 3 rows"),
    ],
)
def test_bad_input_is_named(kwargs, error, message):
    L, data, y = _toy()
    with pytest.raises(error, match=message):
        error_slices(L, data=data, y=y, **kwargs)


def test_data_must_match_the_matrix_rows():
    L, data, y = _toy()
    with pytest.raises(KeyError, match="no 'text' column"):
        error_slices(L, "llm", data.rename(columns={"text": "body"}), y)
    with pytest.raises(ValueError, match="row ids do not match"):
        error_slices(L, "llm", data.set_axis(range(100, 112)), y)


def test_cluster_slices_from_given_embeddings_are_deterministic():
    L, data, y = _toy()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8))
    embeddings = np.vstack([centres[0] + 0.01 * rng.normal(size=(4, 8)), centres[1] + 0.01 * rng.normal(size=(8, 8))])
    first = error_slices(L, "llm", data, y, kinds=("cluster",), min_size=2, embeddings=embeddings)
    again = error_slices(L, "llm", data, y, kinds=("cluster",), min_size=2, embeddings=embeddings)
    assert first.to_dict() == again.to_dict()
    assert len(first) == 1 and first[0].kind == "cluster"
    assert first[0].rows == [0, 1, 2, 3] and first[0].accuracy == 0.0
    assert "free" in first[0].description


def test_word_count_pattern_counts_words_without_backtracking():
    short = word_count_pattern(at_most=2)
    long = word_count_pattern(at_least=3)
    texts = ["hi", " ok  then ", "one two three", "a" * 5000 + " b" * 3000, ""]
    assert short.matches(texts).tolist() == [True, True, False, False, False]
    assert long.matches(texts).tolist() == [False, False, True, True, False]
    with pytest.raises(ValueError, match="exactly one"):
        word_count_pattern()


@pytest.mark.shared_data
def test_where_a_real_llm_prompt_errs_on_youtube(wrench_dir):
    """T0++ prompts on YouTube miss 'check out my channel' spam: the top slice says so."""
    data, L, y = load_wrench(wrench_dir("youtube_prompted_original"), "train")
    source = L.lf_names[0]
    result = error_slices(L, source, data, y, kinds=("ngram", "pattern"))
    assert result.basis == "gold" and result.n_errors > 100
    top = result[0]
    assert top.accuracy < result.accuracy - 0.3
    assert top.n_errors >= 20 and top.size >= top.n_errors
    assert "check" in top.description or "subscribe" in top.description
    assert top.others_accuracy > top.accuracy  # the other prompts get those rows right more often
    again = error_slices(L, source, data, y, kinds=("ngram", "pattern"))
    assert again.to_dict() == result.to_dict()
    errors_inside = set(result.rows())
    assert errors_inside <= set(result.error_rows)
    ax = plot_error_slices(result)
    assert ax.get_title().startswith("Where")


@pytest.mark.slow
@pytest.mark.shared_data
def test_minilm_embeddings_are_normalised_cached_and_reproducible(wrench_dir, tmp_path, monkeypatch):
    """Cluster slices of a real LLM prompt on YouTube's valid split, with the bundled encoder."""
    pytest.importorskip("torch")
    import weaklabel.embeddings as embeddings

    data, L, y = load_wrench(wrench_dir("youtube_prompted_original"), "valid")
    first = error_slices(L, L.lf_names[0], data, y, kinds=("cluster",), min_size=3, cache_dir=tmp_path)
    files = list(tmp_path.glob("embeddings-*.npy"))
    assert len(files) == 1
    vectors = np.load(files[0])
    assert vectors.shape == (first.n_voted, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("the cached embeddings should have been read")

    monkeypatch.setattr(embeddings, "_encode", fail)
    again = error_slices(L, L.lf_names[0], data, y, kinds=("cluster",), min_size=3, cache_dir=tmp_path)
    assert again.to_dict() == first.to_dict()


@pytest.mark.shared_data
def test_the_fit_report_shows_where_the_sources_err(wrench_dir, tmp_path):
    from weaklabel.error_slices import report_section
    from weaklabel.fit import run

    result = run({"name": "slices", "output_dir": str(tmp_path / "run"), "progress": False, "report": True,
                  "data": {"source": "wrench", "path": str(wrench_dir("youtube_prompted_original"))},
                  "student": {"kind": "none"}})
    section = report_section(result)
    assert section.startswith("<h2>Where the sources err (valid split)</h2>")
    assert "Where label_model errs" in section and "<td>" in section
    assert section in (tmp_path / "run" / "report.html").read_text()
