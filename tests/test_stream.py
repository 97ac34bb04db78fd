"""Out-of-core labeling: shards equal the in-memory matrix, fits and predictions stream, runs resume.

The real corpora (UCI YouTube and SMS spam) are written to several Parquet files with
small row groups, so batches cross row-group and file boundaries as they would on a
large dataset.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fake_openai_server import FakeOpenAIServer
from hypothesis import given, settings
from hypothesis import strategies as st

from weaklabel import LabelMatrix, LabelModel, apply_lfs, keyword_lf, load_lfs
from weaklabel.data import read_uci_sms, read_uci_youtube
from weaklabel.exceptions import OutputDirError
from weaklabel.llm import LLMLabeler
from weaklabel.stream import (
    ManifestMismatchError,
    ShardedLabelMatrix,
    _inspect_sources,
    _read_batches,
    apply_lfs_to_shards,
    predict_proba_to_parquet,
)

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["ham", "spam"]


def write_parts(frame: pd.DataFrame, folder: Path, parts: int, row_group_size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(
            folder / f"part-{number}.parquet", index=False, row_group_size=row_group_size
        )
    return folder


@pytest.fixture(scope="module")
def youtube(shared_data) -> pd.DataFrame:
    # The corpus repeats a few comment ids; the id-column tests need unique ones.
    raw = read_uci_youtube(shared_data / "youtube_uci_raw")
    return raw.drop_duplicates("comment_id", ignore_index=True)


@pytest.fixture(scope="module")
def sms(shared_data) -> pd.DataFrame:
    return read_uci_sms(shared_data / "sms_uci_raw")


CORPORA = {  # fixture, LF module, batch_rows: shards cross row groups (150) and files (3)
    "youtube": ("youtube", "labeling_functions.youtube", 500),
    "sms": ("sms", "labeling_functions.sms", 1_000),
}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def sharded(request, tmp_path_factory):
    """(corpus frame, its LFs, batch_rows, the sharded matrix) for each corpus."""
    fixture, module, batch_rows = CORPORA[request.param]
    frame = request.getfixturevalue(fixture)
    lfs = load_lfs(module)
    tmp = tmp_path_factory.mktemp(request.param)
    source = write_parts(frame, tmp / "data", parts=3, row_group_size=150)
    shards = apply_lfs_to_shards(
        lfs, source, tmp / "votes", batch_rows=batch_rows, class_names=CLASSES, progress=False
    )
    return frame, lfs, batch_rows, shards


# ---------------------------------------------------------------- votes
def test_shards_hold_exactly_the_in_memory_votes(sharded):
    frame, lfs, batch_rows, shards = sharded
    expected = apply_lfs(lfs, frame, class_names=CLASSES, progress=False)
    assert shards.complete and len(shards) == len(frame)
    assert shards.lf_names == expected.lf_names and shards.class_names == CLASSES
    assert shards.cardinality == 2
    # Read in batches, never whole: one shard per batch_rows rows, each exactly that size.
    sizes = [L.n_rows for L in shards.chunks()]
    assert shards.n_shards == len(sizes) == -(-len(frame) // batch_rows) > 1
    assert sizes[:-1] == [batch_rows] * (len(sizes) - 1)
    L = shards.to_label_matrix()
    assert L == expected  # votes, names, classes, row ids (the rows' global positions)
    assert np.array_equal(L.votes, expected.votes) and L.votes.dtype == expected.votes.dtype
    assert L.error_counts == expected.error_counts
    reopened = ShardedLabelMatrix.open(shards.directory)
    assert reopened.n_rows == shards.n_rows and "complete" in repr(reopened)


def test_id_column_and_column_subset(youtube, tmp_path, caplog):
    lfs = load_lfs("labeling_functions.youtube")
    source = write_parts(youtube, tmp_path / "data", parts=2, row_group_size=300)
    with caplog.at_level(logging.DEBUG, logger="weaklabel"):
        shards = apply_lfs_to_shards(
            lfs, source, tmp_path / "votes", batch_rows=700, columns=["text"],
            id_column="comment_id", cardinality=2, progress=False,
        )
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("shard ")]
    assert len(logged) == shards.n_shards == 3 and logged[-1].startswith("shard 3/3: rows 1400..1952")
    expected = apply_lfs(lfs, youtube.set_index("comment_id")[["text"]], cardinality=2, progress=False)
    L = shards.to_label_matrix()
    assert L == expected and L.index.name == "comment_id"
    assert list(L.index[:3]) == list(youtube["comment_id"][:3])
    manifest = json.loads((tmp_path / "votes" / "manifest.json").read_text())
    assert manifest["source"]["columns"] == ["text", "comment_id"]
    assert [f["file"] for f in manifest["source"]["files"]] == ["part-0.parquet", "part-1.parquet"]


def test_the_reader_streams_batches_and_never_reads_a_whole_file(youtube, tmp_path, monkeypatch):
    calls = []
    original = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("read the whole file")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    monkeypatch.setattr(pq, "read_table", forbidden)
    monkeypatch.setattr(pq.ParquetFile, "read", forbidden)
    source = write_parts(youtube.iloc[:600], tmp_path / "data", parts=2, row_group_size=100)
    lfs = load_lfs("labeling_functions.youtube")[:3]
    shards = apply_lfs_to_shards(
        lfs, source, tmp_path / "votes", batch_rows=250, columns=["text"], cardinality=2,
        progress=False,
    )
    assert shards.n_shards == 3
    assert [c["batch_size"] for c in calls] == [250, 250] and all(c["columns"] == ["text"] for c in calls)


def test_bad_arguments_are_clear_errors(youtube, tmp_path):
    source = write_parts(youtube.iloc[:50], tmp_path / "data", parts=1, row_group_size=50)
    lfs = load_lfs("labeling_functions.youtube")
    with pytest.raises(ValueError, match="number of classes up front"):
        apply_lfs_to_shards(lfs, source, tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="batch_rows must be a positive integer"):
        apply_lfs_to_shards(lfs, source, tmp_path / "a", batch_rows=0, cardinality=2)
    with pytest.raises(KeyError, match=r"lacks the columns \['nope'\]"):
        apply_lfs_to_shards(lfs, source, tmp_path / "a", columns=["nope"], cardinality=2)
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.parquet files"):
        apply_lfs_to_shards(lfs, tmp_path / "a", tmp_path / "b", cardinality=2)
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match=r"cannot read .*fake\.parquet as Parquet"):
        apply_lfs_to_shards(lfs, [tmp_path / "fake.parquet"], tmp_path / "b", cardinality=2)
    with pytest.raises(FileNotFoundError, match=r"no manifest\.json"):
        ShardedLabelMatrix.open(tmp_path / "data")
    dup = pd.DataFrame({"text": ["a", "b", "c"], "id": [1, 2, 1]})
    dup.to_parquet(tmp_path / "dup.parquet", index=False)
    with pytest.raises(ValueError, match=r"row ids must be unique; .*1\)? appears more than once"):
        apply_lfs_to_shards(
            lfs, tmp_path / "dup.parquet", tmp_path / "c", id_column="id", cardinality=2,
            progress=False,
        )
    # Ids are checked within each batch while labeling, across shards when put together.
    shards = apply_lfs_to_shards(
        lfs, tmp_path / "dup.parquet", tmp_path / "d", batch_rows=2, id_column="id",
        cardinality=2, progress=False,
    )
    with pytest.raises(ValueError, match="row ids must be unique"):
        shards.to_label_matrix()


def test_a_run_that_failed_on_its_first_batch_does_not_block_the_corrected_one(youtube, tmp_path):
    source = write_parts(youtube.iloc[:100], tmp_path / "data", parts=1, row_group_size=100)
    lfs = load_lfs("labeling_functions.youtube")
    with pytest.raises(KeyError, match="reads column 'text'"):
        apply_lfs_to_shards(lfs, source, tmp_path / "v", columns=["author"], cardinality=2, progress=False)
    (tmp_path / "v" / ".votes-00000.npz.123.tmp").write_bytes(b"left by a killed run")
    shards = apply_lfs_to_shards(lfs, source, tmp_path / "v", cardinality=2, progress=False)
    assert shards.complete and not list((tmp_path / "v").glob(".*"))


# ---------------------------------------------------------------- label model
def test_fit_chunks_matches_fit_and_probabilities_stream_to_parquet(sharded, tmp_path):
    frame, _, _, shards = sharded
    L = shards.to_label_matrix()
    full = LabelModel().fit(L)
    streamed = LabelModel(cardinality=shards.cardinality).fit_chunks(shards.chunks())
    probs = streamed.predict_proba(L)
    np.testing.assert_allclose(probs, full.predict_proba(L), rtol=0, atol=1e-9)

    path = predict_proba_to_parquet(streamed, shards, tmp_path / "probs.parquet", progress=False)
    written = pq.read_table(path)
    assert list(streamed.classes_) == ["ham", "spam"]  # the shards' class names
    assert written.column_names == [
        "row_id", "prob_ham", "prob_spam", "n_votes", "predicted_label", "predicted_index"
    ]
    assert pq.ParquetFile(path).metadata.num_row_groups == shards.n_shards  # one per shard
    out = written.to_pandas()
    assert np.array_equal(out["row_id"], np.arange(len(frame)))
    assert np.array_equal(out[["prob_ham", "prob_spam"]].to_numpy(), probs)
    assert np.array_equal(out["predicted_index"], probs.argmax(axis=1))
    assert np.array_equal(out["predicted_label"], np.array(["ham", "spam"])[probs.argmax(axis=1)])
    assert np.array_equal(out["n_votes"], (L.votes >= 0).sum(axis=1))
    assert not list(tmp_path.glob(".*.tmp"))


def test_probabilities_of_string_ids_and_unnamed_classes(youtube, tmp_path):
    data = youtube.iloc[:400]
    lfs = load_lfs("labeling_functions.youtube")
    source = write_parts(data, tmp_path / "data", parts=2, row_group_size=100)
    shards = apply_lfs_to_shards(
        lfs, source, tmp_path / "votes", batch_rows=150, id_column="comment_id", cardinality=2,
        progress=False,
    )
    model = LabelModel(cardinality=2).fit_chunks(shards.chunks())
    # Any iterable of LabelMatrix chunks works too.
    path = predict_proba_to_parquet(model, iter(list(shards.chunks())), tmp_path / "p.parquet", progress=False)
    out = pd.read_parquet(path)
    assert list(out.columns) == ["row_id", "prob_0", "prob_1", "n_votes", "predicted_label", "predicted_index"]
    assert set(out["predicted_label"]) <= {"0", "1"}  # unnamed classes: the index as text
    assert list(out["row_id"]) == list(data["comment_id"])
    assert np.array_equal(out[["prob_0", "prob_1"]].to_numpy(), model.predict_proba(shards.to_label_matrix()))


# ---------------------------------------------------------------- resume
_COUNTING_LFS = '''
"""A labeling function that logs the first row id of every batch it labels, and stalls
on the batch starting at row WL_TEST_STALL_AT (when set) so the test can kill the run."""
import os
import time
from pathlib import Path

import numpy as np

from weaklabel import labeling_function


@labeling_function(vectorized=True, column="text")
def says_check(texts):
    first = int(texts.index[0])
    with open(os.environ["WL_TEST_CALL_LOG"], "a") as log:
        log.write(f"{first}\\n")
    if first == int(os.environ.get("WL_TEST_STALL_AT", "-1")):
        Path(os.environ["WL_TEST_STALLED"]).touch()
        time.sleep(600)
    return np.where(texts.str.contains("check", case=False), 1, -1)
'''

_RUN = """
import sys
from weaklabel import load_lfs
from weaklabel.stream import apply_lfs_to_shards

lfs = load_lfs("labeling_functions.youtube")[:12] + load_lfs(sys.argv[1])
apply_lfs_to_shards(lfs, sys.argv[2], sys.argv[3], batch_rows=300, cardinality=2, progress=False)
"""


def _calls(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


@pytest.mark.slow
def test_a_killed_run_resumes_from_the_last_complete_shard(youtube, tmp_path, monkeypatch):
    module = tmp_path / "counting_lfs.py"
    module.write_text(textwrap.dedent(_COUNTING_LFS))
    source = write_parts(youtube, tmp_path / "data", parts=3, row_group_size=128)
    out, log, stalled = tmp_path / "votes", tmp_path / "calls.log", tmp_path / "stalled"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "WL_TEST_CALL_LOG": str(log),
        "WL_TEST_STALL_AT": "900",  # the fourth shard
        "WL_TEST_STALLED": str(stalled),
    }
    run = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(module), str(source), str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not stalled.exists():
            assert run.poll() is None, f"the run ended early:\n{run.stdout.read().decode()[-3000:]}"
            assert time.monotonic() < deadline, "the run never reached the fourth shard"
            time.sleep(0.05)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert _calls(log) == [0, 300, 600, 900]

    partial = ShardedLabelMatrix.open(out)
    assert (partial.n_shards, partial.n_rows, partial.complete) == (3, 900, False)
    with pytest.raises(ValueError, match="incomplete"):
        partial.to_label_matrix()
    assert partial.to_label_matrix(allow_incomplete=True).n_rows == 900

    monkeypatch.setenv("WL_TEST_CALL_LOG", str(log))
    lfs = load_lfs("labeling_functions.youtube")[:12] + load_lfs(module)  # the fast regex LFs
    shards = apply_lfs_to_shards(lfs, source, out, batch_rows=300, cardinality=2, progress=False)
    assert _calls(log)[4:] == list(range(900, len(youtube), 300))  # shards 0-2 not recomputed
    assert shards.complete and shards.n_shards == 7
    log.unlink()
    expected = apply_lfs(lfs, youtube, cardinality=2, batch_size=300, progress=False)
    assert shards.to_label_matrix() == expected

    apply_lfs_to_shards(lfs, source, out, batch_rows=300, cardinality=2, progress=False)
    assert _calls(log) == list(range(0, len(youtube), 300))  # only the in-memory run: a rerun is free


def test_a_different_run_is_refused_with_what_differs(youtube, tmp_path):
    source = write_parts(youtube.iloc[:300], tmp_path / "data", parts=2, row_group_size=100)
    lfs = load_lfs("labeling_functions.youtube")
    out = tmp_path / "votes"
    options = {"batch_rows": 100, "cardinality": 2, "progress": False}
    first = apply_lfs_to_shards(lfs, source, out, **options).to_label_matrix()

    def refused(match, lfs=lfs, source=source, **changes):
        with pytest.raises(ManifestMismatchError, match=match):
            apply_lfs_to_shards(lfs, source, out, **{**options, **changes})

    refused("batch_rows was 100, now 50", batch_rows=50)
    refused(r"LFs added \[\], removed \['laughter'\]", lfs=lfs[:-1])
    refused("LF order changed", lfs=lfs[::-1])
    refused(r"LFs \['check_out'\] changed", lfs=[keyword_lf("check_out", ["check"], label=1), *lfs[1:]])
    refused(r"class_names was None, now \['ham', 'spam'\]", class_names=CLASSES)
    refused("on_error was 'raise', now 'abstain'", on_error="abstain")
    refused(r"columns was .*, now \['text'\]", columns=["text"])
    youtube.iloc[300:310].to_parquet(source / "part-2.parquet", index=False)
    refused(r"source files added \['part-2.parquet'\]")
    (source / "part-2.parquet").unlink()
    youtube.iloc[:160].to_parquet(source / "part-0.parquet", index=False)  # edited in place
    refused(r"changed \['part-0.parquet'\]")
    assert ShardedLabelMatrix.open(out).to_label_matrix() == first  # nothing was touched

    (out / "notes.txt").write_text("kept")
    fresh = apply_lfs_to_shards(lfs, source, out, **options, resume=False)
    assert fresh.n_rows == 310 and (out / "notes.txt").exists()
    assert sorted(p.name for p in out.glob("votes-*")) == [f"votes-0000{i}.npz" for i in range(4)]

    (out / "manifest.json").write_text("{broken")
    for resume in (True, False):  # a manifest weaklabel cannot read is never deleted
        with pytest.raises(OutputDirError, match=r"manifest\.json is corrupt or not a weaklabel manifest.*left as it is"):
            apply_lfs_to_shards(lfs, source, out, **options, resume=resume)
    assert (out / "manifest.json").read_text() == "{broken"


def test_files_the_run_did_not_write_are_never_deleted(youtube, tmp_path):
    """A user's manifest.json or votes-00000.npz in out_dir (no weaklabel manifest) stops
    the run, even with resume=False, and stays as it was."""
    source = write_parts(youtube.iloc[:60], tmp_path / "data", parts=1, row_group_size=30)
    lfs = [keyword_lf("check_out", ["check out"], label=1)]
    for name, content in [("manifest.json", '{"mine": true}'), ("votes-00000.npz", "my own file")]:
        out = tmp_path / f"out_{name}"
        out.mkdir()
        (out / name).write_text(content)
        for resume in (True, False):
            with pytest.raises(OutputDirError, match=re.escape(name)):
                apply_lfs_to_shards(lfs, source, out, batch_rows=20, cardinality=2, progress=False, resume=resume)
        assert (out / name).read_text() == content and len(list(out.iterdir())) == 1


# ---------------------------------------------------------------- LLM labelers
@pytest.mark.slow
def test_llm_labelers_label_shard_by_shard_and_a_rerun_sends_no_request(youtube, tmp_path):
    data = youtube.iloc[:150]
    source = write_parts(data, tmp_path / "data", parts=2, row_group_size=25)
    prompt = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
    with FakeOpenAIServer() as server:
        llm = LLMLabeler(
            "llm_spam", prompt, {"spam": 1, "ham": 0}, model="fake-model",
            base_url=server.base_url, cache_path=tmp_path / "llm.sqlite",
        )
        lfs = [*load_lfs("labeling_functions.youtube")[:4], llm]
        options = {"batch_rows": 60, "class_names": CLASSES, "progress": False}
        shards = apply_lfs_to_shards(lfs, source, tmp_path / "votes", **options)
        sent = len(server.chat_requests)
        assert sent >= data["text"].nunique()
        # The labeler's state after a run (its report, its cache) does not count as a change.
        assert apply_lfs_to_shards(lfs, source, tmp_path / "votes", **options).complete
        again = apply_lfs_to_shards(lfs, source, tmp_path / "votes", **options, resume=False)
        assert len(server.chat_requests) == sent  # every answer came from the cache
        expected = apply_lfs(lfs, data, class_names=CLASSES, progress=False)
        assert len(server.chat_requests) == sent
    assert shards.n_shards == 3
    assert again.to_label_matrix() == shards.to_label_matrix() == expected
    assert set(np.unique(expected.votes[:, -1])) == {0, 1}


# ---------------------------------------------------------------- the batch reader
@pytest.fixture(scope="module")
def numbered_files(tmp_path_factory) -> list:
    """153 numbered rows over files of uneven row groups, one of them empty."""
    folder = tmp_path_factory.mktemp("numbered")
    layout = [(0, 100, 7), (100, 100, 1), (100, 150, 50), (150, 153, 1)]
    for number, (start, stop, group) in enumerate(layout):
        table = pa.table({"n": pa.array(np.arange(start, stop, dtype=np.int64))})
        pq.write_table(table, folder / f"f{number}.parquet", row_group_size=group)
    return _inspect_sources(folder)


@settings(max_examples=60, deadline=None)
@given(batch_rows=st.integers(1, 70), start=st.integers(0, 153))
def test_batches_from_any_start_row_are_the_right_rows(numbered_files, batch_rows, start):
    tables = list(_read_batches(numbered_files, ["n"], batch_rows, start))
    rows = np.concatenate([t.column("n").to_numpy() for t in tables]) if tables else np.empty(0)
    assert np.array_equal(rows, np.arange(start, 153))
    assert all(t.num_rows == batch_rows for t in tables[:-1])
    assert all(0 < t.num_rows <= batch_rows for t in tables)


def test_an_empty_source_gives_an_empty_complete_matrix(tmp_path):
    pd.DataFrame({"text": pd.Series([], dtype=str)}).to_parquet(tmp_path / "empty.parquet")
    lfs = [keyword_lf("kw", ["check"], label=1)]
    shards = apply_lfs_to_shards(lfs, tmp_path / "empty.parquet", tmp_path / "v", cardinality=2)
    assert shards.complete and shards.n_shards == 0
    L = shards.to_label_matrix()
    assert isinstance(L, LabelMatrix) and L.shape == (0, 1)
    path = predict_proba_to_parquet(LabelModel(), shards, tmp_path / "p.parquet", progress=False)
    assert pq.read_table(path).column_names == [
        "row_id", "prob_0", "prob_1", "n_votes", "predicted_label", "predicted_index"
    ]


def test_a_resumed_run_sees_an_edited_helper_module(tmp_path, monkeypatch):
    """The manifest's LF fingerprint covers the local modules an LF imports, not only its own
    source: editing the helper makes a resume refuse the old shards."""
    import importlib

    from weaklabel import load_lfs
    from weaklabel.exceptions import ManifestMismatchError
    from weaklabel.stream import apply_lfs_to_shards

    project = tmp_path / "project"
    project.mkdir()
    (project / "stream_helper.py").write_text("def is_spammy(text):\n    return 'subscribe' in text\n")
    (project / "stream_lfs.py").write_text(
        "from weaklabel import ABSTAIN, labeling_function\nimport stream_helper\n\n"
        "@labeling_function()\ndef spammy(x):\n    return 1 if stream_helper.is_spammy(x.text) else ABSTAIN\n"
    )
    monkeypatch.syspath_prepend(str(project))
    source = tmp_path / "rows.parquet"
    pd.DataFrame({"text": ["subscribe now", "nice song", "check my channel"] * 50}).to_parquet(source)
    lfs = load_lfs(project / "stream_lfs.py")
    out = tmp_path / "shards"
    apply_lfs_to_shards(lfs, source, out, batch_rows=40, cardinality=2, progress=False)
    (project / "stream_helper.py").write_text("def is_spammy(text):\n    return 'channel' in text\n")
    importlib.reload(importlib.import_module("stream_helper"))
    with pytest.raises(ManifestMismatchError, match=r"LFs \['spammy'\] changed"):
        apply_lfs_to_shards(lfs, source, out, batch_rows=40, cardinality=2, progress=False)
    fresh = apply_lfs_to_shards(lfs, source, out, batch_rows=40, cardinality=2, progress=False, resume=False)
    assert fresh.to_label_matrix().votes[:3, 0].tolist() == [-1, -1, 1]
