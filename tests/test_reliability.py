"""Reliability: bad input, corrupt files and faults, tried across the whole public path.

Every test here is a row of the table in ``docs/reliability.md``: what was tried on real
data (the bundled YouTube corpus, the WRENCH datasets in ``../shared/data``) and what
happens — a clear error naming the problem (which LF, row, value or file) or a documented
abstain, never a silent wrong result.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import yaml
from fake_openai_server import FakeOpenAIServer, Status, row_text
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from weaklabel.analysis import lf_summary
from weaklabel.apply import InvalidVoteError, LabelingFunctionError, apply_lfs
from weaklabel.config import ConfigError, load_config
from weaklabel.data import load_table, load_wrench, load_youtube_spam
from weaklabel.exceptions import ClassOrderWarning, DataError, OutputDirError, WeaklabelError
from weaklabel.fit import main, run
from weaklabel.label_models import DawidSkene, LabelModel, MajorityVote
from weaklabel.lf import (
    ABSTAIN,
    LabelingFunction,
    RegexLabelingFunction,
    VectorizedLabelingFunction,
    labeling_function,
    load_lfs,
)
from weaklabel.llm import LLMCache, LLMLabeler
from weaklabel.matrix import LabelMatrix

ROOT = Path(__file__).resolve().parents[1]
LABEL_MODELS = (MajorityVote, DawidSkene, LabelModel)
PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
FAST_LLM = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 30.0, "bias": "none"}  # no content-free requests
# Texts no corpus should hold but real ones do: emoji, right-to-left marks and script,
# combining marks, zero-width characters, a lone surrogate (not valid Unicode), NUL.
ODD_TEXTS = [
    "check out my channel 😀🔥",
    "\u202echeck out my channel",
    "subscri\u0301be to me",
    "sub\u200bscribe now \u200d",
    "\ud800 subscribe please",
    "nul\x00byte subscribe",
    "\u05e9\u05dc\u05d5\u05dd check out my video",
    "ｃｈｅｃｋ ｏｕｔ",
    "\ufeffi love this song",
]
NOT_TEXT = [None, np.nan, pd.NA, 42, 3.5, b"check out my channel", ""]


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    """The bundled YouTube corpus (real comments), with an object text column."""
    data = load_youtube_spam()
    return data.assign(text=data["text"].astype(object))


@pytest.fixture(scope="module")
def youtube_lfs():
    return load_lfs("labeling_functions.youtube")


@pytest.fixture(scope="module")
def regex_lfs(youtube_lfs):
    return [lf for lf in youtube_lfs if isinstance(lf, RegexLabelingFunction)]


def _poisoned(corpus: pd.DataFrame, values: list, every: int = 37) -> tuple[pd.DataFrame, pd.Index]:
    """The corpus with ``values`` written over every ``every``-th text."""
    data = corpus[["text"]].copy()
    rows = data.index[: len(values) * every : every]
    for row, value in zip(rows, values, strict=True):
        data.at[row, "text"] = value
    return data, rows


def _reference(lf: RegexLabelingFunction, texts) -> list[int]:
    """What a regex LF votes, row by row, by its documented rule."""
    return [lf.label if isinstance(t, str) and lf.pattern.search(t) else ABSTAIN for t in texts]


# ---------------------------------------------------------------- texts
def test_missing_and_non_string_texts_abstain_in_keyword_and_regex_lfs(corpus, regex_lfs):
    data, rows = _poisoned(corpus, NOT_TEXT)
    L = apply_lfs(regex_lfs, data, cardinality=2, progress=False)
    assert (L.to_dataframe().loc[rows] == ABSTAIN).all().all()
    clean = apply_lfs(regex_lfs, corpus, cardinality=2, progress=False)
    others = ~L.index.isin(rows)
    assert np.array_equal(L.votes[others], clean.votes[others])  # nothing else moved
    assert apply_lfs(regex_lfs, data, cardinality=2, batch_size=97, progress=False) == L


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_row_lf_that_assumes_strings_names_the_lf_and_the_row(corpus, n_jobs):
    data, rows = _poisoned(corpus.iloc[:600], NOT_TEXT, every=50)

    @labeling_function()
    def says_subscribe(x):
        return 1 if "subscribe" in x.text.casefold() else ABSTAIN  # str only: bytes lack casefold

    with pytest.raises(LabelingFunctionError, match=r"LF 'says_subscribe' raised AttributeError") as info:
        apply_lfs([says_subscribe], data, cardinality=2, n_jobs=n_jobs, progress=False)
    assert info.value.lf_name == "says_subscribe" and info.value.row == rows[0]
    assert repr(rows[0]) in str(info.value)
    L = apply_lfs([says_subscribe], data, cardinality=2, n_jobs=n_jobs, on_error="abstain", progress=False)
    failing = [row for row, v in zip(rows, NOT_TEXT, strict=True) if not isinstance(v, str)]
    assert L.error_counts == {"says_subscribe": len(failing)}
    assert (L.to_dataframe().loc[failing, "says_subscribe"] == ABSTAIN).all()


_ODD_VALUE = st.one_of(
    st.sampled_from(NOT_TEXT + ODD_TEXTS),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),  # surrogates too
    st.integers(),
    st.floats(),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_ODD_VALUE, min_size=1, max_size=12), batch_size=st.integers(16, 130))
def test_property_regex_lfs_vote_by_their_rule_on_poisoned_real_texts(
    corpus, regex_lfs, values, batch_size
):
    data, _ = _poisoned(corpus.iloc[:120], values, every=120 // len(values))
    L = apply_lfs(regex_lfs, data, cardinality=2, batch_size=batch_size, progress=False)
    for j, lf in enumerate(regex_lfs):
        assert L.votes[:, j].tolist() == _reference(lf, data["text"].tolist()), lf.name


@pytest.mark.slow
def test_a_million_character_text(corpus, regex_lfs):
    huge = " ".join(corpus["text"].iloc[:40].astype(str)) * 300  # ~1.1 million characters
    assert len(huge) > 1_000_000
    data = pd.concat([corpus[["text"]].iloc[:50], pd.DataFrame({"text": [huge]}, index=["huge"])])
    L = apply_lfs(regex_lfs, data, cardinality=2, progress=False)
    for j, lf in enumerate(regex_lfs):
        assert L.votes[:, j].tolist() == _reference(lf, data["text"].tolist()), lf.name
    row_wise = [LabelingFunction(lf.name, lambda x, lf=lf: _reference(lf, [x.text])[0]) for lf in regex_lfs]
    assert apply_lfs(row_wise, data, cardinality=2, n_jobs=2, progress=False) == L


def test_odd_unicode_in_lfs_row_ids_and_saved_matrices(corpus, regex_lfs, tmp_path):
    odd = pd.DataFrame({"text": pd.Series(ODD_TEXTS, dtype=object)})  # pandas' str dtype refuses "\ud800"
    data = pd.concat([corpus[["text"]].iloc[:30], odd], ignore_index=True)
    L = apply_lfs(regex_lfs, data, cardinality=2, progress=False)
    for j, lf in enumerate(regex_lfs):
        assert L.votes[:, j].tolist() == _reference(lf, data["text"].tolist()), lf.name
    # Row ids that are odd strings survive save/load; one that is not valid Unicode is refused.
    ids = [t for t in ODD_TEXTS if "\ud800" not in t]
    M = LabelMatrix(L.votes[: len(ids)], L.lf_names, cardinality=2, index=ids)
    for suffix in (".npz", ".parquet"):
        assert LabelMatrix.load(M.save(tmp_path / f"m{suffix}")) == M
    bad = LabelMatrix(L.votes[:2], L.lf_names, cardinality=2, index=["ok", "\ud800x"])
    with pytest.raises(ValueError, match=r"row id '\\ud800x' at position 1: it is not valid Unicode"):
        bad.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


# ---------------------------------------------------------------- empty, duplicates, ranges
def test_empty_data_through_every_step(corpus, youtube_lfs, tmp_path):
    empty = corpus.iloc[:0]
    with pytest.raises(ValueError, match="pass cardinality="):
        apply_lfs(youtube_lfs, empty, progress=False)
    L = apply_lfs(youtube_lfs, empty, cardinality=2, progress=False)
    assert L.shape == (0, len(youtube_lfs))
    assert (lf_summary(L)["coverage"] == 0).all()
    for suffix in (".npz", ".parquet"):
        assert LabelMatrix.load(L.save(tmp_path / f"empty{suffix}")) == L
    full = apply_lfs(youtube_lfs, corpus, cardinality=2, progress=False)
    for cls in LABEL_MODELS:
        with pytest.raises(ValueError, match=r"cannot fit a label model on an empty label matrix"):
            cls(cardinality=2).fit(L)
        assert cls(cardinality=2).fit(full).predict_proba(L).shape == (0, 2)
    table = tmp_path / "all_test.csv"
    corpus.iloc[:50].assign(split="test")[["text", "split"]].to_csv(table, index=False)
    config = {"output_dir": str(tmp_path / "run"), "progress": False, "student": {"kind": "none"},
              "lfs": {"modules": ["labeling_functions.youtube"]},
              "data": {"source": "table", "path": str(table), "split_column": "split"}}
    with pytest.raises(ConfigError, match="the train split is empty"):
        run(config)


def test_duplicate_row_ids_are_refused(corpus, youtube_lfs):
    data = pd.concat([corpus.iloc[:20], corpus.iloc[10:15]])  # five ids twice
    dup = corpus.index[10]
    with pytest.raises(ValueError, match=rf"row ids must be unique; .*\b{dup}\b.* appears more than once"):
        apply_lfs(youtube_lfs, data, cardinality=2, progress=False)
    with pytest.raises(ValueError, match="row ids must be unique"):
        LabelMatrix(np.zeros((25, 1), dtype=int), ["a"], cardinality=2, index=data.index)
    a = apply_lfs(youtube_lfs[:2], corpus.iloc[:20], cardinality=2, progress=False)
    b = apply_lfs(youtube_lfs[2:4], corpus.iloc[1:21], cardinality=2, progress=False)
    with pytest.raises(ValueError, match=r"hstack item 1 has other row ids than item 0: at position 0"):
        LabelMatrix.hstack([a, b])


@pytest.mark.filterwarnings("ignore::weaklabel.label_models.SourceQualityWarning")  # real LFs, a real warning
@pytest.mark.parametrize("cls", LABEL_MODELS)
def test_labels_and_votes_out_of_range_on_real_votes(wrench_dir, cls):
    _, L, y = load_wrench(wrench_dir("youtube"), "valid")
    bad_gold = y.copy()
    bad_gold[7] = 2
    with pytest.raises(ValueError, match=r"y_dev .* holds 2 at position 7, outside \[-1, 1\]"):
        cls(cardinality=2).fit(L, y_dev=bad_gold, L_dev=L)
    with pytest.raises(ValueError, match=r"holds 2 at position 7, outside \[-1, 1\]"):
        lf_summary(L, bad_gold)
    votes = L.to_numpy()
    votes[3, 4] = 2
    with pytest.raises(ValueError, match=r"vote 2 at row 3, column 4, outside \[-1, 1\] for cardinality 2"):
        cls(cardinality=2).fit(votes)
    model = cls(cardinality=2).fit(L)
    with pytest.raises(ValueError, match=r"vote 2 at row 3, column 4"):
        model.predict_proba(votes)
    with pytest.raises(ValueError, match=r"contains NaN at row 0, column 1"):
        model.predict_proba(np.where(np.arange(L.n_sources) == 1, np.nan, votes[:1]))


def test_gold_labels_out_of_range_in_a_table_name_file_and_row(corpus, tmp_path):
    table = tmp_path / "labels.csv"
    corpus.iloc[:30].assign(label=[0, 1, 2] * 10)[["text", "label"]].to_csv(table, index=False)
    with pytest.raises(ValueError, match=r"labels\.csv: row 2 \(line 4\) has the label 2; expected a class index below 2"):
        load_table(table, label_column="label", class_names=["ham", "spam"])


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (1.0, "floats are not votes"),
        (np.float64(1.0), "floats are not votes"),
        (np.nan, "floats are not votes"),
        (None, "return ABSTAIN (-1) instead of None"),
        (True, "booleans are not votes"),
        ("1", "a vote is ABSTAIN (-1) or an integer class index in [0, 1]"),
        (2, "a vote is ABSTAIN (-1) or an integer class index in [0, 1]"),
    ],
)
@pytest.mark.parametrize("kind", ["row", "row_parallel", "vectorized"])
def test_lfs_returning_non_votes_name_the_lf_row_and_value(corpus, value, hint, kind):
    data = corpus.iloc[:300]
    target = data.index[123]
    if kind == "vectorized":
        def f(batch):
            out = np.full(len(batch), ABSTAIN, dtype=object)
            out[batch.index.get_indexer([target])] = value
            return out.tolist()
        lf = VectorizedLabelingFunction("odd_vote", f)
    else:
        lf = LabelingFunction("odd_vote", lambda x: value if x.text == data.at[target, "text"] else ABSTAIN)
    n_jobs = 2 if kind == "row_parallel" else 1
    with pytest.raises(InvalidVoteError) as info:
        apply_lfs([lf], data, cardinality=2, n_jobs=n_jobs, progress=False)
    message = str(info.value)
    assert "LF 'odd_vote' returned" in message and hint in message
    assert f"on row {target!r}" in message and info.value.row == target


def test_students_take_odd_texts_and_name_a_non_text(corpus):
    from weaklabel.students import TfidfStudent, TransformerStudent

    train = corpus.iloc[:300]
    student = TfidfStudent(char_ngram_range=None).fit(train["text"].tolist(), train["label"].to_numpy())
    probs = student.predict_proba([*ODD_TEXTS, "x" * 1_000_000, ""])
    assert probs.shape == (len(ODD_TEXTS) + 2, 2) and np.allclose(probs.sum(axis=1), 1)
    for value in NOT_TEXT[:-1]:  # everything but the empty string
        with pytest.raises(TypeError, match=rf"texts\[1\] is .* of type {type(value).__name__}, not a string"):
            student.predict_proba(["fine", value])
    # The transformer student checks its input the same way, before loading any model.
    with pytest.raises(TypeError, match=r"texts\[1\] is None of type NoneType, not a string"):
        TransformerStudent().fit(["fine", None], np.array([0, 1]))
    with pytest.raises(ValueError, match=r"probs\[3\] is 2, outside the 2 classes 0\.\.1"):
        TfidfStudent().fit(train["text"].tolist()[:5], np.array([0, 1, 0, 2, 1]), n_classes=2)


# ---------------------------------------------------------------- LF modules
_BROKEN_MODULES = {
    "syntax_error": ("def vote(x:\n    return 1\n", r"syntax_error\.py failed to import: SyntaxError"),
    "import_error": ("import not_a_real_package_xyz\n", r"import_error\.py failed to import: .*not_a_real_package_xyz"),
    "raises": ("raise RuntimeError('no API key configured')\n", r"raises\.py failed to import: RuntimeError: no API key"),
    "no_lfs": ("THRESHOLD = 3\n", r"no_lfs\.py' defines no labeling functions"),
}


@pytest.mark.parametrize("name", sorted(_BROKEN_MODULES))
def test_lf_modules_that_fail_to_import_stop_the_cli_with_a_clear_message(tmp_path, capsys, name):
    source, message = _BROKEN_MODULES[name]
    (tmp_path / f"{name}.py").write_text(source)
    config = tmp_path / "config.yaml"
    config.write_text(f"output_dir: {tmp_path / 'run'}\nlfs:\n  modules: [{name}.py]\nstudent:\n  kind: none\n")
    assert main(["--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lfs.modules: ") and re.search(message, err), err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


# ---------------------------------------------------------------- LLM cache and server
def _labeler(base_url: str, cache_path: Path, **kwargs) -> LLMLabeler:
    return LLMLabeler("llm_spam", PROMPT, {"spam": 1, "ham": 0}, model="fake-model", base_url=base_url,
                      cache_path=cache_path, **{**FAST_LLM, **kwargs})


def test_llm_labeler_on_odd_and_missing_texts(corpus, tmp_path):
    texts = [*ODD_TEXTS, "x" * 1_000_000 + " subscribe", None, np.nan, pd.NA]
    data = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    with FakeOpenAIServer() as srv:
        lab = _labeler(srv.base_url, tmp_path / "llm.sqlite")
        votes = apply_lfs([lab], data, cardinality=2, progress=False).votes[:, 0]
        sent = [row_text(r.body) for r in srv.chat_requests]
        expected = [1 if srv.answer(r.body).content == "spam" else 0 for r in srv.chat_requests]
        assert srv.stats()["answered_twice"] == 0
    asked = len(ODD_TEXTS) + 1
    assert len(sent) == asked  # each text once; the three rows without text are not sent
    assert sorted(votes[:asked].tolist()) == sorted(expected) and ABSTAIN not in votes[:asked]
    assert (votes[asked:] == ABSTAIN).all() and lab.report_.no_text == 3
    # A lone surrogate cannot travel in UTF-8: it is sent as U+FFFD, the rest of the text intact.
    assert any(t.endswith("Comment: \ufffd subscribe please") for t in sent)
    assert any(t.endswith("nul\x00byte subscribe") for t in sent)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_llm_cache_is_a_clear_error_and_is_left_untouched(corpus, tmp_path, damage):
    cache_path = tmp_path / "llm.sqlite"
    data = corpus.drop_duplicates("text").iloc[:300]
    with FakeOpenAIServer() as srv:
        _labeler(srv.base_url, cache_path).apply_batch(data, progress=False)
        cache = LLMCache(cache_path)
        cache.close()
        intact = cache_path.read_bytes()
        broken = os.urandom(4096) if damage == "garbage" else intact[: len(intact) // 2]
        cache_path.write_bytes(broken)
        for companion in ("-wal", "-shm"):
            Path(f"{cache_path}{companion}").unlink(missing_ok=True)
        srv.reset()
        with pytest.raises(LabelingFunctionError) as info:
            apply_lfs([_labeler(srv.base_url, cache_path)], data, cardinality=2, progress=False)
        assert srv.stats()["requests"] == 0  # nothing is asked (or paid) before the cache is sound
    assert isinstance(info.value.__cause__, ValueError)
    message = str(info.value)
    assert "LF 'llm_spam' raised ValueError" in message
    assert f"the LLM answer cache at {cache_path} is not a SQLite database or is corrupt" in message
    assert "move it aside" in message
    assert cache_path.read_bytes() == broken  # paid answers are never discarded silently


def test_an_unusable_llm_cache_location_is_a_clear_error(tmp_path):
    folder = tmp_path / "llm.sqlite"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(OSError, match=rf"cannot use the LLM answer cache at {re.escape(str(folder))}"):
        LLMCache(folder)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _ServerOnPort(FakeOpenAIServer):
    """The fake server bound to a chosen port, so that a restarted one has the same address."""

    def __init__(self, port: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fixed_port = port

    def start(self) -> FakeOpenAIServer:
        start_server = asyncio.start_server

        async def on_fixed_port(handler, host, port, **kwargs):
            return await start_server(handler, host, self.fixed_port, reuse_address=True, **kwargs)

        with mock.patch("fake_openai_server.asyncio.start_server", on_fixed_port):
            return super().start()


def test_llm_server_restarted_mid_run_loses_nothing_and_pays_nothing_twice(corpus, tmp_path):
    data = corpus.drop_duplicates("text").iloc[:150]
    port = _free_port()
    servers = [_ServerOnPort(port, latency=0.01).start()]

    def restart() -> None:
        first = servers[0]
        deadline = time.monotonic() + 60
        while first.stats()["answers"] < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.stop()  # every connection drops; new ones are refused
        time.sleep(0.5)
        servers.append(_ServerOnPort(port, latency=0.01).start())

    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        lab = _labeler(servers[0].base_url, tmp_path / "llm.sqlite", max_concurrency=4, max_retries=50,
                       backoff_base=0.05, backoff_max=0.2)
        votes = lab.apply_batch(data, progress=False)
    finally:
        restarter.join()
    try:
        before, after = servers[0].answered, servers[1].answered
        assert sum(before.values()) >= 40 and sum(after.values()) > 0  # the restart happened mid-run
        assert not set(before) & set(after) and max([*before.values(), *after.values()]) == 1
        assert len(before) + len(after) == len(data)  # every row answered once, by one of them
        assert lab.report_.errors == 0 and ABSTAIN not in votes
        assert lab.report_.retry_kinds.get("connection error", 0) > 0
        assert len(LLMCache(tmp_path / "llm.sqlite")) == len(data)
        servers[1].reset()
        again = _labeler(servers[1].base_url, tmp_path / "llm.sqlite").apply_batch(data, progress=False)
        assert servers[1].stats()["requests"] == 0 and np.array_equal(again, votes)
    finally:
        servers[1].stop()


# ---------------------------------------------------------------- pipeline artifacts
def _config(tmp_path: Path, name: str = "run", **changes) -> dict:
    config = {"output_dir": str(tmp_path / name), "cache_dir": str(tmp_path / "cache"), "progress": False,
              "report": False, "lfs": {"modules": ["labeling_functions.youtube"]},
              "label_model": {"kind": "majority_vote"}, "student": {"kind": "none"}}
    config.update(changes)
    return config


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_corrupt_cached_lf_votes_are_recomputed_with_a_warning(tmp_path, caplog):
    first = run(_config(tmp_path))
    cached = sorted((tmp_path / "cache" / "lf_votes").glob("*.npz"))
    assert len(cached) == 3  # one per split
    cached[0].write_bytes(b"\x00garbage" * 100)
    cached[1].write_bytes(cached[1].read_bytes()[:200])
    with caplog.at_level(logging.WARNING, logger="weaklabel"):
        again = run(_config(tmp_path))
    assert caplog.text.count("are corrupt; recomputing") == 2
    for name, split in first.splits.items():
        assert again.splits[name].L == split.L
        assert np.array_equal(again.probs[name], first.probs[name])


def test_corrupt_artifacts_are_refused_with_the_file_named(tmp_path):
    from weaklabel.label_models import BaseLabelModel

    out = run(_config(tmp_path, label_model={"kind": "label_model"})).output_dir
    loaders = {
        "label_matrix.npz": (LabelMatrix.load, ValueError, "is not a weaklabel label matrix or is corrupt"),
        "label_matrix_test.npz": (LabelMatrix.load, ValueError, "is not a weaklabel label matrix or is corrupt"),
        "label_model.json": (BaseLabelModel.load, ValueError, "is not a saved label model"),
        "config.json": (load_config, ConfigError, "cannot parse"),
        "probs.parquet": (pd.read_parquet, Exception, "Parquet magic bytes not found"),  # pandas reads it
    }
    for name, (load, error, message) in loaders.items():
        path = out / name
        load(path)  # intact, it loads
        intact = path.read_bytes()
        garbage = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
        for broken in (intact[: len(intact) // 2], garbage):
            path.write_bytes(broken)
            with pytest.raises(error, match=re.escape(message)) as info:
                load(path)
            assert name in str(info.value)


@pytest.fixture(scope="module")
def saved_matrices(wrench_dir, tmp_path_factory):
    """The real WRENCH YouTube test votes, saved in both formats."""
    _, L, _ = load_wrench(wrench_dir("youtube"), "test")
    L = LabelMatrix(L.votes, L.lf_names, cardinality=2, class_names=["ham", "spam"], index=L.index,
                    error_counts=dict.fromkeys(L.lf_names, 1))
    folder = tmp_path_factory.mktemp("saved")
    return L, {suffix: L.save(folder / f"votes{suffix}").read_bytes() for suffix in (".npz", ".parquet")}


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_a_flipped_bit_in_a_saved_matrix_never_loads_as_other_votes(saved_matrices, tmp_path, suffix):
    L, saved = saved_matrices
    rng = np.random.default_rng(0)  # 250 seeded single-bit flips anywhere in the file
    path = tmp_path / f"damaged{suffix}"
    refused = 0
    for where, bit in zip(rng.integers(0, len(saved[suffix]), 250), rng.integers(0, 8, 250), strict=True):
        damaged = bytearray(saved[suffix])
        damaged[where] ^= 1 << int(bit)
        path.write_bytes(bytes(damaged))
        try:
            loaded = LabelMatrix.load(path)
        except ValueError as error:
            assert f"{path} is not a weaklabel label matrix or is corrupt" in str(error)
            refused += 1
        else:  # a bit that carries nothing (padding, statistics): the same matrix
            assert (loaded, loaded.error_counts) == (L, L.error_counts), (int(where), int(bit))
    assert refused > 100


def _writes_denied(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except PermissionError:
        return True
    (folder / ".probe").unlink()
    return False


def test_a_read_only_output_directory_fails_clearly_and_keeps_what_was_there(tmp_path):
    run(_config(tmp_path))
    out = tmp_path / "run"
    before = _snapshot(out)
    out.chmod(0o555)
    try:
        if not _writes_denied(out):
            pytest.skip("file permissions do not apply to this user (root)")
        # (An OSError when the artifacts are written; a ConfigError if the run checks first.)
        with pytest.raises((OSError, ConfigError), match=rf"cannot write (the artifacts )?to {re.escape(str(out))}: Permission denied"):
            run(_config(tmp_path, label_model={"kind": "label_model"}))
        assert _snapshot(out) == before
        with pytest.raises(OSError, match=rf"cannot write the label matrix to {re.escape(str(out))}.*Permission denied"):
            LabelMatrix([[0, 1]], ["a", "b"]).save(out / "votes.npz")
        with pytest.raises(OSError, match=rf"cannot use the LLM answer cache at {re.escape(str(out))}"):
            LLMCache(out / "llm.sqlite")
    finally:
        out.chmod(0o755)


_FULL_DISK = """
import resource, signal, sys
from weaklabel.fit import run
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, resource.RLIM_INFINITY))
run({config})
"""


@pytest.mark.slow
def test_a_full_disk_leaves_no_half_written_artifact(tmp_path):
    first = run(_config(tmp_path, report=True))
    out = first.output_dir
    before = _snapshot(out)
    # probs.parquet (~17 kB) no longer fits: the run fails after writing the smaller files.
    config = _config(tmp_path, label_model={"kind": "label_model"})
    script = textwrap.dedent(_FULL_DISK.format(config=repr(config)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"weaklabel.exceptions.OutputDirError: cannot write probs.parquet to {out}: ")
    assert last.endswith("File too large; no artifact of this run was kept")
    assert _snapshot(out) == before  # the previous run's artifacts, all of them and only them
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert LabelMatrix.load(out / "label_matrix.npz") == first.splits["train"].L
    # With room again the run completes; the report of the first run, which this one does
    # not write, goes with the rest of the old artifacts rather than stay beside the new.
    second = run(config)
    assert not (out / "report.html").exists()
    assert LabelModel.load(out / "label_model.json").get_params() == second.label_model.get_params()
    # The label matrix alone: its own atomic save leaves nothing under the name either.
    script = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        from weaklabel.matrix import LabelMatrix
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, resource.RLIM_INFINITY))
        votes = np.random.default_rng(0).integers(-1, 2, size=(20_000, 5))
        LabelMatrix(votes, list("abcde")).save({str(tmp_path / 'big.npz')!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "OSError: cannot write the label matrix to" in done.stderr and "File too large" in done.stderr
    assert not [p.name for p in tmp_path.iterdir() if "big.npz" in p.name]


def test_a_config_file_that_is_not_text_is_a_config_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"name": "\xff\xfe"}')
    with pytest.raises(ConfigError, match=r"config\.json: cannot parse: not UTF-8 text"):
        load_config(path)
def test_damaged_label_model_and_student_files_name_the_file(corpus, tmp_path):
    from weaklabel.label_models import BaseLabelModel
    from weaklabel.students import TfidfStudent

    train = corpus.iloc[:300]
    L = apply_lfs(load_lfs("labeling_functions.youtube"), train, cardinality=2, progress=False)
    path = LabelModel(cardinality=2).fit(L).save(tmp_path / "label_model.json")
    saved = json.loads(path.read_text())
    saved["fitted"]["class_balance_"] = saved["fitted"]["class_balance_"][:1]  # wrong shape
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"label_model\.json is corrupt: .*checksum"):
        BaseLabelModel.load(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"label_model\.json is not a saved label model"):
        BaseLabelModel.load(path)
    student = TfidfStudent(char_ngram_range=None).fit(train["text"].tolist(), train["label"].to_numpy())
    assert student.predict_proba([]).shape == (0, 2)
    folder = student.save(tmp_path / "student_config")
    (folder / "config.json").write_bytes((folder / "config.json").read_bytes()[:300])
    with pytest.raises(ValueError, match=r"student_config/config\.json is not a saved student \(invalid JSON"):
        TfidfStudent.load(folder)
    folder = student.save(tmp_path / "student_arrays")
    (folder / "arrays.npz").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"student_arrays is corrupt: \['arrays\.npz'\] is missing or does not match"):
        TfidfStudent.load(folder)


def test_model_and_student_files_without_a_valid_checksum_are_refused(corpus, tmp_path):
    """Removing the checksum field used to switch the check off; edited hyperparameters or
    vocabularies and swapped (valid) arrays loaded as another model."""
    from weaklabel.label_models import BaseLabelModel
    from weaklabel.students import TfidfStudent

    train = corpus.iloc[:300]
    L = apply_lfs(load_lfs("labeling_functions.youtube"), train, cardinality=2, progress=False)
    path = LabelModel(cardinality=2).fit(L).save(tmp_path / "label_model.json")
    saved = json.loads(path.read_text())
    saved.pop("checksum")
    saved["fitted"]["class_balance_"] = [0.99, 0.01]  # the right shape, other numbers
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"label_model\.json has no checksum: it was edited or damaged"):
        BaseLabelModel.load(path)
    student = TfidfStudent(char_ngram_range=None).fit(train["text"].tolist(), train["label"].to_numpy())
    texts = corpus["text"].iloc[300:400].tolist()
    assert np.allclose(TfidfStudent.load(student.save(tmp_path / "intact")).predict_proba(texts),
                       student.predict_proba(texts))
    folder = student.save(tmp_path / "edited")
    config = json.loads((folder / "config.json").read_text())
    config["params"]["C"] = 0.001
    config["vocabularies"][0] = config["vocabularies"][0][::-1]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json is corrupt: its content does not match its checksum"):
        TfidfStudent.load(folder)
    config.pop("checksum")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json has no checksum"):
        TfidfStudent.load(folder)
    folder = student.save(tmp_path / "swapped")
    with np.load(folder / "arrays.npz") as arrays:
        flipped = {name: np.flip(arrays[name]) for name in arrays.files}
    np.savez(folder / "arrays.npz", **flipped)
    with pytest.raises(ValueError, match=r"swapped is corrupt: \['arrays\.npz'\] is missing or does not match"):
        TfidfStudent.load(folder)


def test_bundled_lf_modules_abstain_on_rows_without_text():
    data = pd.DataFrame({"text": pd.Series([None, np.nan, pd.NA], dtype=object)})
    for module in ("labeling_functions.youtube", "labeling_functions.sms"):
        L = apply_lfs(load_lfs(module), data, cardinality=2, progress=False)
        assert (L.votes == ABSTAIN).all(), module


def test_rows_without_text_in_a_table_run_to_the_end(corpus, tmp_path, caplog):
    table = tmp_path / "comments.csv"
    rows = corpus.iloc[:400][["text", "label", "split"]].copy()
    rows.loc[rows.index[::10], "text"] = None  # empty cells in the CSV
    rows.to_csv(table, index=False)
    config = _config(tmp_path, student={"kind": "tfidf", "options": {"char_ngram_range": None}},
                     data={"source": "table", "path": str(table), "label_column": "label", "split_column": "split"})
    with caplog.at_level(logging.WARNING, logger="weaklabel"):
        result = run(config)
    assert "rows without text" in caplog.text
    train = result.splits["train"]
    missing = train.data["text"].isna().to_numpy()
    assert missing.any() and (train.L.votes[missing] == ABSTAIN).all()


def test_a_list_of_strings_with_a_lone_surrogate(regex_lfs):
    texts = ["\ud800 check out my channel", "i love this song"]
    L = apply_lfs(regex_lfs, texts, cardinality=2, progress=False)
    for j, lf in enumerate(regex_lfs):
        assert L.votes[:, j].tolist() == _reference(lf, texts), lf.name


# ---------------------------------------------------------------- output directory ownership
def _user_files(folder: Path) -> dict[str, bytes]:
    """Files a user keeps in what they later name as output_dir."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.md").write_text("my notes\n")
    (folder / "mine").mkdir(exist_ok=True)
    (folder / "mine" / "data.csv").write_text("text,label\nhello,0\n")
    return _snapshot(folder)


def test_a_run_never_touches_files_it_did_not_write(tmp_path):
    out = tmp_path / "run"
    mine = _user_files(out)
    first = run(_config(tmp_path, report=True))
    after = _snapshot(out)
    assert {name: after[name] for name in mine} == mine  # left alone
    manifest = json.loads((out / "weaklabel_run.json").read_text())
    assert "report.html" in manifest["artifacts"] and "notes.md" not in manifest["artifacts"]
    # A second run without a report removes the first run's report (its own), nothing else.
    second = run(_config(tmp_path, report=False))
    after = _snapshot(out)
    assert not (out / "report.html").exists() and {name: after[name] for name in mine} == mine
    assert second.splits["train"].L == first.splits["train"].L
    assert not [p for p in out.iterdir() if p.name.startswith(".weaklabel-staging")]


@pytest.mark.parametrize("name", ["report.html", "config.json", "student", "label_model.json"])
def test_files_under_an_artifact_name_that_no_run_wrote_stop_the_run_before_any_work(tmp_path, name):
    """The data-loss case: a run deleted (or overwrote) a file it had not written."""
    out = tmp_path / "run"
    mine = _user_files(out)
    if name == "student":
        (out / "student").mkdir()
        (out / "student" / "model.bin").write_bytes(b"my own model")
    else:
        (out / name).write_text("written by the user")
    before = _snapshot(out)
    with pytest.raises(OutputDirError, match=rf"output_dir {re.escape(str(out))} holds {name}, which no weaklabel run wrote"):
        run(_config(tmp_path))
    assert _snapshot(out) == before and set(mine) <= set(before)
    assert not (tmp_path / "cache").exists()  # refused before any LF ran


def test_an_output_directory_of_an_earlier_run_with_user_files_added(tmp_path):
    run(_config(tmp_path, student={"kind": "none"}))
    out = tmp_path / "run"
    (out / "student").mkdir()  # the user's, in a run folder whose runs wrote no student
    (out / "student" / "weights.bin").write_bytes(b"\x00\x01")
    with pytest.raises(OutputDirError, match="holds student, which no weaklabel run wrote"):
        run(_config(tmp_path, student={"kind": "tfidf", "options": {"char_ngram_range": None}}))
    assert (out / "student" / "weights.bin").read_bytes() == b"\x00\x01"
    (out / "weaklabel_run.json").write_text("{not json")
    with pytest.raises(OutputDirError, match=r"weaklabel_run\.json is not a weaklabel run manifest"):
        run(_config(tmp_path))
    (out / "weaklabel_run.json").unlink()
    shutil.rmtree(out / "student")
    with pytest.raises(OutputDirError, match=r"holds config\.json, label_matrix\.npz"):  # a folder with no manifest
        run(_config(tmp_path))


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "run"
    target.write_text("a file")
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        run(_config(tmp_path))
    assert target.read_text() == "a file"


# ---------------------------------------------------------------- the command line's error contract
def _cli(tmp_path: Path, config: dict, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "weaklabel.fit", "--config", str(path), "--quiet", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def _assert_clear_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and 1 <= len(lines) <= 2, done.stderr
    assert lines[0].startswith("error: ") and re.search(pattern, done.stderr), done.stderr


_FAILING_LF = """
from weaklabel import labeling_function
@labeling_function()
def shouts(x):
    return 1 if x.text.isupper() and x.missing_field else -1
"""


def test_cli_user_errors_are_one_or_two_lines_and_exit_2(tmp_path, monkeypatch):
    """One case per category: config, data, LF code, output directory, endpoint refusal."""
    _assert_clear_error(_cli(tmp_path, _config(tmp_path, studnet={"kind": "none"})),
                        r"studnet: unknown key")
    table = tmp_path / "rows.csv"
    table.write_text("body,label\nhello,0\n")
    _assert_clear_error(
        _cli(tmp_path, _config(tmp_path, data={"source": "table", "path": str(table)})),
        r"rows\.csv: no column 'text'",
    )
    (tmp_path / "failing_lfs.py").write_text(_FAILING_LF)
    done = _cli(tmp_path, _config(tmp_path, lfs={"modules": [str(tmp_path / "failing_lfs.py")]}))
    _assert_clear_error(done, r"LF .shouts. raised AttributeError.*on row .*failing_lfs\.py:5\)\n"
                              r"  fix the LF, or set lfs.on_error: abstain")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.html").write_text("mine")
    _assert_clear_error(_cli(tmp_path, _config(tmp_path)), r"holds report\.html, which no weaklabel run wrote")
    monkeypatch.setenv("FAKE_KEY", "sk-test-refused")
    with FakeOpenAIServer(script=lambda number, body: Status(401, message="invalid api key")) as server:
        labeler = {"name": "chat", "backend": "openai", "model": "fake-model", "base_url": server.base_url,
                   "api_key_env": "FAKE_KEY", "decoding": "text", "prompt": "Spam?\n{text}",
                   "labels": {"spam": 1, "ham": 0}, "options": FAST_LLM}
        done = _cli(tmp_path, _config(tmp_path, "run2", llm_labelers=[labeler], data={"source": "bundled", "max_rows": 50}))
        assert server.stats()["requests"] >= 1
    _assert_clear_error(done, r"401")
    assert "sk-test-refused" not in done.stderr


_BUG = """
import weaklabel.pipeline
from weaklabel import keyword_lf
def _broken(*args, **kwargs):
    return {}["no such key"]  # a bug inside weaklabel, simulated
weaklabel.pipeline._evaluate = _broken
LFS = [keyword_lf("subscribe", ["subscribe"], 1)]
"""


def test_cli_internal_bugs_keep_their_traceback_and_exit_1(tmp_path):
    (tmp_path / "bug_lfs.py").write_text(_BUG)
    done = _cli(tmp_path, _config(tmp_path, lfs={"modules": [str(tmp_path / "bug_lfs.py")]}))
    assert done.returncode == 1 and "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "KeyError: 'no such key'"


# ---------------------------------------------------------------- checked before any paid work
_DAMAGED_QUOTES = 'text,label,split\nfine comment,ham,train\n"check out my channel,spam,train\nlove it,ham,train\nso "good" song,ham,test\n'


def _llm_config(tmp_path: Path, server: FakeOpenAIServer, **changes) -> dict:
    labeler = {"name": "chat_spam", "backend": "openai", "model": "fake-model", "base_url": server.base_url,
               "api_key_env": "FAKE_KEY", "decoding": "text", "prompt": "Spam or ham?\n{text}",
               "labels": {"spam": 1, "ham": 0}, "options": FAST_LLM}
    config = _config(tmp_path, llm_labelers=[labeler], data={"source": "bundled", "max_rows": 40},
                     student={"kind": "tfidf", "options": {"char_ngram_range": None}})
    for key, value in changes.items():
        section, _, field = key.partition(".")
        if field:
            config[section] = {**config.get(section, {}), field: value}
        else:
            config[key] = value
    return config


def _labeler_with(**changes) -> list[dict]:
    return [{"name": "chat_spam", "backend": "openai", "model": "fake-model", "base_url": "{url}",
             "api_key_env": "FAKE_KEY", "decoding": "text", "prompt": "Spam or ham?\n{text}",
             "labels": {"spam": 1, "ham": 0}, "options": FAST_LLM, **changes}]


_BEFORE_PAID_WORK = {
    "label model option typo": ({"label_model.kind": "label_model", "label_model.options": {"tool": 0.1}}, r"label_model\.options\.tool: .*did you mean 'tol'"),
    "label model option value": ({"label_model.kind": "label_model", "label_model.options": {"tol": -1}},
                                 r"label_model\.options .*tol >= 0"),
    "dev weights without dev labels": ({"label_model.options": {"weights": "dev"}, "label_model.use_dev": False},
                                       r"label_model\.options .*weights"),
    "student option typo": ({"student.options": {"char_ngrams": None}}, r"student\.options\.char_ngrams: .*did you mean 'char_ngram_range'"),
    "student option value": ({"student.options": {"class_weight": "heavy"}}, r"student\.options .*class_weight"),
    "label map outside the classes": ({"llm_labelers": _labeler_with(labels={"spam": 5, "ham": 0})},
                                      r"LLM labeler 'chat_spam': labels \{'spam': 5\} are outside the 2 classes \(0\.\.1, or -1 to abstain\)"),
    "prompt field the data lacks": ({"llm_labelers": _labeler_with(prompt="Spam?\n{title}")}, r"uses \['title'\], which the data lacks"),
    "missing LF module": ({"lfs.modules": ["labeling_functions.nope"]}, r"no LF module named 'labeling_functions\.nope'"),
    "damaged quotes in the data": ({"data": {"source": "table", "path": "{table}", "label_column": "label",
                                            "split_column": "split", "class_names": ["ham", "spam"]}},
                                   r"rows\.csv: line 3 \(read to line 5\): .*a quote in the row starting on line 3"),
    "labels outside class_names": ({"data": {"source": "table", "path": "{labels}", "label_column": "label",
                                            "class_names": ["ham", "spam"]}},
                                   r"has the label 'Spam', not one of \['ham', 'spam'\].*'Spam' differs from 'spam' only in case"),
    "the user's file in output_dir": ({"output_dir": "{foreign}"}, r"holds report\.html, which no weaklabel run wrote"),
}


@pytest.mark.parametrize("case", sorted(_BEFORE_PAID_WORK))
def test_everything_is_checked_before_any_lf_runs_or_request_is_sent(corpus, tmp_path, monkeypatch, case):
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    changes, message = _BEFORE_PAID_WORK[case]
    (tmp_path / "rows.csv").write_text(_DAMAGED_QUOTES)
    labels = corpus.iloc[:60][["text"]].assign(label=["ham", "spam", "Spam"] * 20)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "report.html").write_text("mine")
    with FakeOpenAIServer() as server:
        text = json.dumps(_llm_config(tmp_path, server, **changes))
        text = text.replace("{url}", server.base_url).replace("{table}", str(tmp_path / "rows.csv"))
        text = text.replace("{labels}", str(tmp_path / "labels.csv")).replace("{foreign}", str(tmp_path / "foreign"))
        with pytest.raises(WeaklabelError, match=message):
            run(json.loads(text))
        assert server.stats()["requests"] == 0
    assert not (tmp_path / "cache" / "lf_votes").exists()  # no LF ran either
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- secrets
_PASTED_KEY = "sk-proj-" + "Zq8x" * 12  # what an OpenAI key looks like; not a real one


@pytest.mark.parametrize("where", ["file", "--set"])
def test_a_key_pasted_where_a_variable_name_belongs_is_refused_without_echo(tmp_path, where):
    labeler = _labeler_with(base_url="http://127.0.0.1:9/v1")[0]
    config = _config(tmp_path, llm_labelers=[labeler if where == "--set" else {**labeler, "api_key_env": _PASTED_KEY}])
    extra = ["--set", f"llm_labelers.0.api_key_env={_PASTED_KEY}"] if where == "--set" else []
    done = _cli(tmp_path, config, *extra)
    _assert_clear_error(done, r"llm_labelers\.0\.api_key_env: .*looks like an API key, not the name of an environment variable")
    assert _PASTED_KEY not in done.stderr + done.stdout and "Zq8x" not in done.stderr
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="must be the name of an environment variable") as info:
        load_config(_config(tmp_path, llm_labelers=[{**labeler, "api_key_env": "my key!"}]))
    assert "my key!" not in str(info.value)
    with pytest.raises(ConfigError, match="looks like a key") as info:
        load_config(_config(tmp_path), [f"llm_labelers.0.api_key_env {_PASTED_KEY}"])
    assert _PASTED_KEY not in str(info.value)


def _all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def test_secrets_never_reach_logs_caches_reports_or_artifacts(tmp_path, monkeypatch, caplog):
    key = "sk-test-" + "Nf3k" * 10
    monkeypatch.setenv("FAKE_KEY", key)
    with FakeOpenAIServer() as server, caplog.at_level(logging.DEBUG):
        result = run(_llm_config(tmp_path, server, report=True))
        assert any(key in r.headers.get("authorization", "") for r in server.chat_requests)  # it was used
    with FakeOpenAIServer(script=lambda number, body: Status(401, message="bad key")) as server:
        refused = _cli(tmp_path, _llm_config(tmp_path, server, output_dir=str(tmp_path / "refused")))
    assert refused.returncode == 2
    files = _all_bytes(tmp_path)
    assert {p.name for p, _ in files} >= {"config.json", "report.html", "metrics.json", "llm.sqlite", "probs.parquet"}
    for path, content in files:
        assert key.encode() not in content, path
    for text in (caplog.text, refused.stderr, refused.stdout):
        assert key not in text
    saved = json.loads((result.output_dir / "config.json").read_text())
    assert saved["llm_labelers"][0]["api_key_env"] == "FAKE_KEY"


def test_config_json_is_the_validated_config_without_secret_values(tmp_path):
    from weaklabel.config import config_json

    config = load_config(_config(tmp_path, llm_labelers=_labeler_with(options={
        "extra_headers": {"Authorization": "Bearer abc123", "X-Trace": "visible"},
        "api_token": "tok-123", "prices": {"fake-model": [1.0, 2.0]}},
        base_url="http://me:hunter2@127.0.0.1:9/v1")))
    saved = json.loads(config_json(config))
    assert saved["llm_labelers"][0]["base_url"] == "http://me:<redacted>@127.0.0.1:9/v1"
    options = saved["llm_labelers"][0]["options"]
    assert options["extra_headers"] == {"Authorization": "<redacted>", "X-Trace": "visible"}
    assert options["api_token"] == "<redacted>" and options["prices"] == {"fake-model": [1.0, 2.0]}
    assert saved == json.loads(json.dumps(saved)) and saved["output_dir"] == str(tmp_path / "run")


# ---------------------------------------------------------------- YAML and config limits
_BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
) + "name: *i\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_BILLION_LAUGHS, r"holds more than 100000 values once its 73 YAML aliases are expanded"),
        ("name: " + "[" * 5000 + "]" * 5000 + "\n", r"nests deeper than 32 levels"),
        ("name: run\n" + "# padding\n" * 120_000, r"is 1\.1 MiB; a config is at most 1 MiB"),
        ("seed: !!python/object/apply:os.system ['echo owned']\n", r"cannot parse: could not determine a constructor"),
    ],
    ids=["billion-laughs", "deep", "huge", "python-tag"],
)
def test_yaml_inputs_are_limited_in_size_depth_and_alias_expansion(tmp_path, content, message):
    path = tmp_path / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    path = tmp_path / "config.json"
    path.write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_config(path)


# ---------------------------------------------------------------- caches that see edits
_LF_WITH_HELPERS = """
from pathlib import Path
from weaklabel import ABSTAIN, labeling_function
import spam_rules
from spam_words import is_spammy

WORDS = Path(__file__).with_name("extra_words.txt").read_text().split()

@labeling_function()
def spammy(x):
    return 1 if isinstance(x.text, str) and is_spammy(x.text) else ABSTAIN

@labeling_function()
def extra_word(x):
    return 1 if isinstance(x.text, str) and any(w in x.text.lower() for w in WORDS) else ABSTAIN

@labeling_function()
def ruled(x):
    return spam_rules.vote(x.text)
"""
_HELPER = "def is_spammy(text):\n    return {rule}\n"
_RULES = """
from weaklabel import ABSTAIN
from pathlib import Path

def vote(text):
    lexicon = Path(__file__).parent / "lexicon" / "ham_words.txt"
    words = lexicon.read_text().split()
    return 0 if isinstance(text, str) and any(w in text.lower() for w in words) else ABSTAIN
"""


def _lf_project(folder: Path) -> None:
    (folder / "lexicon").mkdir(parents=True, exist_ok=True)
    (folder / "my_lfs.py").write_text(_LF_WITH_HELPERS)
    (folder / "spam_words.py").write_text(_HELPER.format(rule="'subscribe' in text.lower()"))
    (folder / "spam_rules.py").write_text(_RULES)
    (folder / "extra_words.txt").write_text("channel\n")
    (folder / "lexicon" / "ham_words.txt").write_text("song\n")


_EDITS = [
    ("spam_words.py", _HELPER.format(rule="'check out' in text.lower()")),  # an imported helper module
    ("extra_words.txt", "video\n"),  # a data file read at import
    ("lexicon/ham_words.txt", "love\n"),  # a data file a helper reads on every call
]


def test_the_lf_vote_cache_sees_edited_helper_modules_and_data_files(tmp_path):
    """Each run is its own process, as a user's reruns are (no module stays imported)."""
    project = tmp_path / "project"
    _lf_project(project)
    config = _config(tmp_path, lfs={"modules": [str(project / "my_lfs.py")]})
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def fit() -> tuple[LabelMatrix, str]:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run([sys.executable, "-m", "weaklabel.fit", "--config", str(path)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return LabelMatrix.load(tmp_path / "run" / "label_matrix.npz"), done.stderr

    before, log = fit()
    assert "reused cached votes" not in log
    again, log = fit()
    assert "reused cached votes" in log and again == before
    for name, content in _EDITS:
        (project / name).write_text(content)
        edited, log = fit()
        assert "reused cached votes" not in log, name  # recomputed
        assert not np.array_equal(edited.votes, before.votes), name
        before = edited


def test_an_lf_error_from_inside_weaklabel_is_a_bug_not_a_user_error(tmp_path):
    """The CLI keeps the traceback (exit 1) when an LF error arose in weaklabel's own code (its
    LLM labeler, say), and names the user's line when it arose in theirs."""
    import weaklabel.lf
    from weaklabel.fit import error_message, is_internal

    def failing(filename: str) -> LabelingFunctionError:
        """An LF error whose cause was raised (and caught) in code from ``filename``."""
        source = "def vote():\n    try:\n        raise AttributeError('boom')\n    except AttributeError as e:\n        return e\n"
        namespace: dict = {}
        exec(compile(source, filename, "exec"), namespace)
        error = LabelingFunctionError("LF 'x' raised AttributeError: boom on row 3", "x", 3)
        error.__cause__ = namespace["vote"]()
        return error

    assert is_internal(failing(weaklabel.lf.__file__))
    user_file = str(tmp_path / "my_lfs.py")
    assert not is_internal(failing(user_file))
    assert f"(at {user_file}:3)" in error_message(failing(user_file))


# ---------------------------------------------------------------- fuzzing the loaders and the config
_DANGEROUS = ['"', ",", "\n", "\r", "\t", "\r\n", "\x00", "\\", "'", "NA", "null", " ", "\ufeff", "é", "😀", ";"]


def _clean_table(corpus: pd.DataFrame, n: int = 12) -> pd.DataFrame:
    rows = corpus.drop_duplicates("text").iloc[:n]
    return pd.DataFrame({"text": rows["text"].to_numpy(), "label": np.where(rows["label"] == 1, "spam", "ham")})


def _strict_reference(raw: bytes, sep: str) -> tuple[list[str], list[str]] | None:
    """What the file says when read by the rules (RFC 4180, UTF-8, every row complete), or
    ``None`` when it cannot be read without guessing."""
    import csv
    import io

    try:
        text = raw.decode("utf-8-sig")
        records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True) if r]
    except (UnicodeDecodeError, csv.Error):
        return None
    if not records or records[0] != ["text", "label"] or any(len(r) != 2 for r in records[1:]):
        return None
    labels = [r[1] for r in records[1:]]
    if any(label not in ("ham", "spam", "") for label in labels):
        return None
    return [r[0] for r in records[1:]], labels


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["insert", "delete", "replace"]),
                             st.one_of(st.sampled_from(_DANGEROUS), st.text(max_size=3))), max_size=4),
    raw_bytes=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=2)), max_size=1),
    sep=st.sampled_from([",", "\t"]),
)
def test_property_the_table_loader_reads_right_or_refuses_clearly(corpus, tmp_path_factory, edits, raw_bytes, sep):
    """Random damage to a real CSV/TSV (quotes, delimiters, line breaks, NUL, bad UTF-8): the
    loader returns exactly what a strict reading of the file says, or raises a DataError
    naming the file; never a table that differs from the file, never another error."""
    text = _clean_table(corpus).to_csv(index=False, sep=sep)
    for where, action, piece in edits:
        at = int(where * len(text))
        text = {"insert": text[:at] + piece + text[at:], "delete": text[:at] + text[at + len(piece):],
                "replace": text[:at] + piece + text[at + len(piece):]}[action]
    raw = text.encode("utf-8", errors="surrogatepass")
    for where, junk in raw_bytes:
        at = int(where * len(raw))
        raw = raw[:at] + junk + raw[at:]
    path = tmp_path_factory.mktemp("fuzz") / ("rows.csv" if sep == "," else "rows.tsv")
    path.write_bytes(raw)
    reference = _strict_reference(raw, sep)
    try:
        data, y = load_table(path, label_column="label", class_names=["ham", "spam"])
    except WeaklabelError as error:
        assert str(path) in str(error) or path.name in str(error), error
        assert reference is None or any(label not in ("ham", "spam", "") for label in reference[1]), error
        event("refused")
        return
    event("read")
    assert reference is not None, "read a file that a strict reading refuses"
    texts, labels = reference
    assert [t if isinstance(t, str) else "" for t in data["text"]] == texts
    assert y.tolist() == [{"ham": 0, "spam": 1}.get(label, -1) for label in labels]


def test_a_table_that_starts_with_two_byte_order_marks_is_refused(corpus, tmp_path):
    """Found by the property test above: pandas drops both marks, a strict reading keeps the
    second in the first column's name, so the loader refuses rather than guess."""
    path = tmp_path / "rows.csv"
    path.write_bytes(("\ufeff\ufeff" + _clean_table(corpus).to_csv(index=False)).encode())
    with pytest.raises(DataError, match=r"rows.csv: starts with two byte-order marks"):
        load_table(path, label_column="label", class_names=["ham", "spam"])
    path.write_bytes(("\ufeff" + _clean_table(corpus).to_csv(index=False)).encode())
    assert len(load_table(path, label_column="label", class_names=["ham", "spam"])[0]) == 12


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.fixed_dictionaries({
        "text": st.one_of(*[st.text(max_size=20)] * 16, st.none(), st.integers(), st.lists(st.integers(), max_size=2)),
        "label": st.sampled_from(["ham"] * 10 + ["spam"] * 10 + [None, 1, "Spam", 7, 0.5, True]),
    }).map(json.dumps), min_size=1, max_size=8),
    damage=st.one_of(st.none(), st.tuples(st.integers(0, 8), st.one_of(st.text(max_size=15), st.sampled_from(
        ['{"text": "a", "text": "b", "label": "ham"}', "[1, 2]", "{", "null", "", '"just a string"'])))),
)
def test_property_the_jsonl_loader_reads_right_or_refuses_clearly(tmp_path_factory, records, damage):
    """Random JSONL: records with odd texts and labels, a damaged line here and there."""
    lines = list(records)
    if damage is not None:
        lines.insert(min(damage[0], len(lines)), damage[1])
    path = tmp_path_factory.mktemp("fuzz") / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        data, y = load_table(path, label_column="label", class_names=["ham", "spam"])
    except WeaklabelError as error:
        assert str(error) and "rows.jsonl" in str(error), error
        event("refused")
        return
    event("read")
    records = [json.loads(line) for line in lines if line.strip()]
    assert len(data) == len(y) == len(records)
    for record, text, label in zip(records, data["text"], y, strict=True):
        assert text == record["text"] or (record["text"] is None and pd.isna(text))
        assert label == {"ham": 0, "spam": 1, None: -1, 1: 1}[record["label"]]


_CONFIG_KEYS = ["name", "seed", "output_dir", "data", "lfs", "llm_labelers", "label_model", "student", "report",
                "progress", "source", "path", "modules", "kind", "options", "api_key_env", "labels", "prompt",
                "class_names", "max_rows", "tol", "weights", "studnet", "0", "text_column"]
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
              st.sampled_from(["bundled", "wrench", "table", "majority_vote", "tfidf", "none", "sk-" + "x1" * 20,
                               "labeling_functions.youtube", "{text}", "../x.csv"])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(_CONFIG_KEYS), children, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(raw=st.dictionaries(st.sampled_from(_CONFIG_KEYS), _JSONISH, max_size=6),
       overrides=st.lists(st.text(st.sampled_from("abdelmnoprstuyk_.=[]{}0123:, -"), max_size=25), max_size=2))
def test_property_the_config_is_valid_or_refused_clearly(raw, overrides):
    """Random config dicts and --set overrides: a validated FitConfig that survives its own
    config.json, or a ConfigError with a message; never another error, never an echoed key."""
    from weaklabel.config import config_json

    try:
        config = load_config(raw, overrides)
    except ConfigError as error:
        assert str(error).strip() and "x1x1x1x1x1" not in str(error)
        return
    saved = json.loads(config_json(config))
    if "<redacted>" not in json.dumps(saved):
        assert load_config(saved) == load_config(config)


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["a: &a [x, y]\n", "b: *a\n", "c: [*a, *a]\n", "seed: 1\n", "- 1\n", "data: {source: x}\n",
                              "label_model:\n  kind: majority_vote\n", "  - ", "!!python/name:os.system\n", "{", "'"]),
             max_size=8).map("".join),
))
def test_property_yaml_configs_parse_or_are_refused_clearly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error).strip()


# ---------------------------------------------------------------- loaders that refuse to guess
def _comments_csv(corpus: pd.DataFrame, n: int = 60) -> list[str]:
    rows = corpus.drop_duplicates("text").iloc[:n]
    frame = pd.DataFrame({"text": rows["text"].to_numpy(), "label": np.where(rows["label"] == 1, "spam", "ham")})
    return frame.to_csv(index=False).splitlines()


def _edit(lines: list[str], number: int, change) -> str:
    """The CSV with its line ``number`` (1-based, the header is line 1) changed."""
    lines = list(lines)
    lines[number - 1] = change(lines[number - 1])
    return "\n".join(lines) + "\n"


def _stray_quote_closing_later(lines: list[str]) -> str:
    """A stray quote opening a real comment, closed two rows later by a comment that ends in
    a quote (``12"``): valid by RFC 4180, and pandas merged the three rows without a word."""
    plain = [i for i, line in enumerate(lines) if i > 3 and not line.startswith('"')]
    first = next(i for i in plain if i + 1 in plain and i + 2 in plain)
    lines = list(lines)
    lines[first] = '"' + lines[first]
    text, label = lines[first + 2].rsplit(",", 1)
    lines[first + 2] = f'{text} 12",{label}'
    return "\n".join(lines) + "\n"


_REFUSED_TABLES = {
    "a column named twice": (lambda lines: "\n".join(["text,text", *lines[1:]]) + "\n",
                             r"rows\.csv: the header names the columns \['text'\] more than once; rename them"),
    "a stray quote that would merge rows": (lambda lines: _edit(lines, 8, lambda line: '"' + line),
                                            r"rows\.csv: line 8 \(read to line \d+\): .*a quote in the row starting on line 8 "
                                            r"opens a field that does not close where it should"),
    "a stray quote that closes at a text ending in a quote": (
        lambda lines: _stray_quote_closing_later(lines),
        r"rows\.csv: line \d+ reads as a row of its own .*but a quote on line \d+ makes it part of a text "
        r"that runs on: the rows would merge into one\. Remove the stray quote"),
    "a row with a missing field": (lambda lines: _edit(lines, 12, lambda line: line.rsplit(",", 1)[0]),
                                   r"rows\.csv: line 12 has 1 fields, the header 2; quote texts that contain the delimiter"),
    "a row with an extra field": (lambda lines: _edit(lines, 5, lambda line: line + ",extra"),
                                  r"rows\.csv: line 5 has 3 fields, the header 2"),
    "labels in another case": (lambda lines: "\n".join(lines).replace(",spam", ",Spam") + "\n",
                               r"rows\.csv: row \d+ \(line \d+\) has the label 'Spam', not one of \['ham', 'spam'\]; "
                               r"\d+ rows hold labels outside class_names: \['Spam'\] \('Spam' differs from 'spam' only in case"),
    "labels mixing indices and names": (lambda lines: "\n".join(lines).replace(",ham", ",0", 3) + "\n",
                                        r"the label column mixes class indices \('0' at row \d+ \(line \d+\)\) and class names"),
    "an empty file": (lambda lines: "", r"rows\.csv: the file is empty \(no header line\)"),
    "bytes that are not UTF-8": (lambda lines: _edit(lines, 3, lambda line: line[:1] + "caf\udce9 " + line[1:]),
                                 r"rows\.csv: not utf-8-sig text .*save it as UTF-8"),
}


@pytest.mark.parametrize("case", sorted(_REFUSED_TABLES))
def test_table_loaders_refuse_to_guess(corpus, tmp_path, case):
    damage, message = _REFUSED_TABLES[case]
    path = tmp_path / "rows.csv"
    path.write_bytes(damage(_comments_csv(corpus)).encode("utf-8", errors="surrogateescape"))
    class_names = None if case == "labels mixing indices and names" else ["ham", "spam"]
    with pytest.raises(DataError, match=message):
        load_table(path, label_column="label", class_names=class_names)


def test_table_loaders_read_what_the_file_says(corpus, tmp_path):
    lines = _comments_csv(corpus)
    reference = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str)
    # A byte-order mark, texts spanning lines, and comments that read "NA" or "null".
    odd = reference.assign(text=lambda d: d["text"].where(d.index % 3 != 0, d["text"] + "\nsecond line, too"))
    odd.loc[[1, 2], "text"] = ["NA", "null"]
    path = tmp_path / "rows.csv"
    path.write_text("\ufeff" + odd.to_csv(index=False), encoding="utf-8")
    data, y = load_table(path, label_column="label", class_names=["ham", "spam"])
    assert data["text"].tolist() == odd["text"].tolist() and len(y) == len(odd)
    # A .txt file is read by the delimiter its header names; a header naming both is refused.
    txt = tmp_path / "rows.txt"
    txt.write_text(odd.to_csv(index=False, sep="\t"))
    assert load_table(txt, label_column="label", class_names=["ham", "spam"])[0]["text"].tolist() == odd["text"].tolist()
    txt.write_text("text,note\tlabel\nx,y\tham\n")
    with pytest.raises(DataError, match=r"cannot tell whether this \.txt table is comma- or tab-separated"):
        load_table(txt)
    # Texts that are not strings, in JSONL and Parquet.
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["fine", 42, None, ["a"]]))
    with pytest.raises(DataError, match=r"row 1 has 42 \(int\) in the text column 'text' \(2 of 4 rows hold no string"):
        load_table(jsonl)
    jsonl.write_text('{"text": "first", "label": "ham", "text": "second"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl: line 1 names the keys \['text'\] more than once"):
        load_table(jsonl)
    parquet = tmp_path / "rows.parquet"
    pd.DataFrame({"text": [1, 2, 3]}).to_parquet(parquet)
    with pytest.raises(DataError, match=r"row 0 has 1 \(int\) in the text column"):
        load_table(parquet)


def test_class_order_is_the_users_and_a_warning_says_when_it_was_inferred(corpus, tmp_path):
    """The labels 'spam' and 'valid' sort as spam=0, valid=1: the reverse of what the YouTube
    LFs vote (SPAM=1). Without class_names a warning says so, with the fix; with them, the
    user's order is used."""
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(_comments_csv(corpus)).replace(",ham", ",valid") + "\n")
    with pytest.warns(ClassOrderWarning, match=r"0 = 'spam', 1 = 'valid'; give class_names \(data\.class_names\)"):
        _, inferred = load_table(path, label_column="label")
    _, given = load_table(path, label_column="label", class_names=["valid", "spam"])
    assert (given == 1 - inferred).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_table(path, label_column="label", class_names=["valid", "spam"])


def test_a_file_given_to_an_lf_as_a_resource_is_part_of_its_fingerprint(tmp_path):
    from weaklabel._fingerprint import lf_fingerprint

    words = tmp_path / "words.txt"
    words.write_text("subscribe\n")

    @labeling_function(resources={"words": str(words)})
    def listed(x, words):
        return 1 if x.text in open(words).read().split() else ABSTAIN

    before = lf_fingerprint(listed)
    assert lf_fingerprint(listed) == before  # stable
    words.write_text("channel\n")
    assert lf_fingerprint(listed)["definition"] != before["definition"]


# ---------------------------------------------------------------- LLM failures in the run's report
def _one_in_eight(body) -> bool:
    return sum(row_text(body).encode()) % 8 == 0


def test_per_row_llm_refusals_are_counted_by_kind_in_the_metrics_report_and_summary(tmp_path, monkeypatch):
    """One row in eight refused for good (HTTP 400, context length): the run completes, those
    rows abstain, and the refusals are counted by kind in metrics.json, report.html and the
    command line's summary."""
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    refuse = Status(400, message="This model's maximum context length is 8192 tokens")
    with FakeOpenAIServer(script=lambda number, body: refuse if _one_in_eight(body) else None) as server:
        config = _llm_config(tmp_path, server, report=True, student={"kind": "none"})
        done = _cli(tmp_path, config)
        refused_rows = {row_text(r.body) for r in server.chat_requests if _one_in_eight(r.body)}
    assert done.returncode == 0, done.stderr
    usage = json.loads((tmp_path / "run" / "metrics.json").read_text())["llm_labelers"]["chat_spam"]
    assert usage["refused"] >= len(refused_rows) > 0  # rows, some sharing a text
    assert usage["refusal_kinds"] == {"context_length": usage["refused"]}
    assert f"context_length: {usage['refused']}" in done.stdout
    assert "refusals by kind" in (tmp_path / "run" / "report.html").read_text()
    L = LabelMatrix.load(tmp_path / "run" / "label_matrix.npz")
    assert (L.votes[:, L.lf_names.index("chat_spam")] == ABSTAIN).sum() >= 1
