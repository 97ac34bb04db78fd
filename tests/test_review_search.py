"""The review app's text search: the trigram index answers exactly what a plain scan of the
lower-cased texts answers, on real texts (the bundled YouTube comments, WRENCH SMS and the
long conversations of LLMs_for_CSS's conv_go_awry), while scanning only its candidates."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from weaklabel.data import load_wrench, load_youtube_spam
from weaklabel.review.text_search import TextIndex


def _plain_scan(texts: pa.Array, needle: str) -> np.ndarray:
    return np.asarray(pc.match_substring(pc.utf8_lower(texts), needle.lower()).fill_null(False), dtype=bool)


def _needles(texts: list[str], rng: np.random.Generator, n: int = 60) -> list[str]:
    """Substrings of the texts (1 to 20 characters, any case), and strings found nowhere."""
    needles = ["", "a", "ok", "HTTP", "Check Out", "zqxjkv", "no such phrase in any text", "é", "ß", "ẞ", "💕"]
    for i in rng.integers(0, len(texts), size=n):
        text = texts[i]
        if len(text) < 2:
            continue
        size = int(rng.integers(1, min(20, len(text)) + 1))
        start = int(rng.integers(0, len(text) - size + 1))
        needle = text[start: start + size]
        needles.append(needle.upper() if rng.random() < 0.3 else needle)
    return needles


def _check(texts: list[str | None], seed: int = 0) -> TextIndex:
    array = pa.array(texts, type=pa.large_string())
    index = TextIndex(array)
    rng = np.random.default_rng(seed)
    for needle in _needles([t for t in texts if t], rng):
        expected = _plain_scan(array, needle)
        np.testing.assert_array_equal(index.search(needle), expected, err_msg=repr(needle))
        candidates = index.candidates(needle)
        if candidates is not None:  # a signature may let extra rows through, never drop a match
            assert set(np.flatnonzero(expected)) <= set(candidates.tolist()), repr(needle)
    return index


def test_search_matches_a_plain_scan_on_youtube_comments():
    texts = load_youtube_spam(seed=0)["text"].tolist()
    index = _check([*texts, None, "", "Ünïcödé ÇAFÉ straße"])
    # the index prunes: a long needle from one comment leaves few candidates to scan
    needle = texts[10][:30]
    assert len(index.candidates(needle)) < 0.05 * index.n_rows
    assert index.search("ÜNÏCÖDÉ çafé").sum() == 1


@pytest.mark.shared_data
def test_search_matches_a_plain_scan_on_sms(wrench_dir):
    data = load_wrench(wrench_dir("sms"), split="train")
    _check(data.data["text"].tolist(), seed=1)


@pytest.mark.shared_data
def test_search_matches_a_plain_scan_on_long_texts(shared_data):
    rows = json.loads((shared_data / "llms_for_css" / "conv_go_awry" / "test.json").read_text())
    texts = [str(row["data"]["text"]) for row in rows.values()]
    assert np.mean([len(t) for t in texts]) > 500  # long rows: wider signatures
    index = _check(texts, seed=2)
    assert index.signatures.shape[0] > 4


def test_repeated_searches_are_answered_from_the_cache():
    index = TextIndex(pa.array(["Subscribe to my channel", "nice song", None]))
    first = index.search("CHANNEL")
    assert index.search("channel") is first
    assert first.tolist() == [True, False, False]
