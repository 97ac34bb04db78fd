"""weaklabel.dask on a 2-worker LocalCluster: the single-process results, bit for bit for the
votes and to 1e-9 for the probabilities; clear errors; a worker killed mid-run. First, the
property it rests on: statistics of row blocks merge into those of one pass."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer
from hypothesis import given, settings
from hypothesis import strategies as st

from weaklabel.apply import apply_lfs
from weaklabel.data import load_wrench
from weaklabel.label_models import DawidSkene, LabelModel, MajorityVote
from weaklabel.label_models._stats import VoteStatistics
from weaklabel.label_models.synthetic import make_synthetic_votes
from weaklabel.lf import ABSTAIN, LabelingFunction, VectorizedLabelingFunction, load_lfs
from weaklabel.llm import LLMLabeler

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
wd = pytest.importorskip("weaklabel.dask")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def youtube(wrench_dir):
    return load_wrench(wrench_dir("youtube"), "train")


@pytest.fixture(scope="module")
def sms(wrench_dir):
    return load_wrench(wrench_dir("sms"), "train")


def _same_fit(dask_model: LabelModel, reference: LabelModel, votes: np.ndarray) -> None:
    assert dask_model.estimator_ == reference.estimator_
    np.testing.assert_allclose(dask_model.cond_probs_, reference.cond_probs_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        dask_model.predict_proba(votes), reference.predict_proba(votes), rtol=0, atol=1e-9
    )


# ---------------------------------------------------------------- merging statistics
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
    max_patterns=st.sampled_from([None, 40, 100_000]),
    sample_rows=st.sampled_from([None, 150, 5000]),
)
def test_merged_statistics_equal_one_pass_for_any_blocks(seed, cuts, max_patterns, sample_rows):
    votes = make_synthetic_votes(3000, 6, random_state=seed).votes.to_numpy()
    options = {"max_patterns": max_patterns, "sample_rows": sample_rows, "random_state": seed}
    one_pass = VoteStatistics(6, 2, **options).update(votes)
    bounds = [0, *sorted(cuts), len(votes)]
    template = VoteStatistics(6, 2, **options)
    blocks = [
        VoteStatistics(6, 2, **options).update(votes[a:b], offset=a)
        for a, b in itertools.pairwise(bounds)
    ]
    merged = template
    for block in reversed(blocks):  # any order
        merged.merge(block)
    assert merged.n_rows == one_pass.n_rows
    assert (merged.patterns is None) == (one_pass.patterns is None)
    if one_pass.patterns is not None:
        for got, want in zip(merged.patterns, one_pass.patterns, strict=True):
            assert np.array_equal(got, want)
    assert np.array_equal(merged.sample(), one_pass.sample())
    assert np.array_equal(merged.moments.gram, one_pass.moments.gram)


def test_patterns_are_kept_whatever_the_first_rows_suggest():
    """All 3,000 distinct patterns show up in the first chunk, then only repeat: a projection
    from the first rows (3,000 of 65,536 -> 9,000 of 200,000) must not drop them, or fit
    and fit_chunks (and so Dask) would disagree."""
    rng = np.random.default_rng(0)
    pool = rng.permutation(np.unique(rng.integers(-1, 2, size=(3100, 12)), axis=0)[:3000])
    votes = np.concatenate([pool, pool[rng.integers(0, 3000, size=197_000)]]).astype(np.int8)
    whole = LabelModel(max_patterns=5000, random_state=0).fit(votes)
    chunks = LabelModel(cardinality=2, max_patterns=5000, random_state=0).fit_chunks(
        np.array_split(votes, 7)
    )
    assert whole.diagnostics_["n_patterns"] == chunks.diagnostics_["n_patterns"] == 3000
    np.testing.assert_allclose(whole.predict_proba(pool), chunks.predict_proba(pool), atol=1e-9)


def test_statistics_with_other_settings_refuse_to_merge():
    with pytest.raises(ValueError, match="different seeds"):
        VoteStatistics(3, 2, random_state=0).merge(VoteStatistics(3, 2, random_state=1))
    with pytest.raises(ValueError, match="different settings"):
        VoteStatistics(3, 2).merge(VoteStatistics(4, 2))


# ---------------------------------------------------------------- real data
@pytest.mark.slow
@pytest.mark.parametrize("name", ["youtube", "sms"])
def test_votes_and_probabilities_equal_the_single_process_path(client, request, name):
    data, _, _ = request.getfixturevalue(name)
    lfs = load_lfs(f"labeling_functions.{name}")
    L = apply_lfs(lfs, data, cardinality=2, progress=False)
    ddf = dd.from_pandas(data, npartitions=7)

    votes = wd.apply_lfs(lfs, ddf, cardinality=2).persist()
    got = votes.compute()
    assert list(got.columns) == L.lf_names
    assert (got.dtypes == np.int8).all()
    assert got.index.equals(L.index)
    assert np.array_equal(got.to_numpy(), L.votes)

    model = wd.fit_label_model(LabelModel(random_state=0), votes, class_names=["ham", "spam"], client=client)
    reference = LabelModel(random_state=0).fit(L)
    assert model.lf_names_ == L.lf_names
    assert list(model.classes_) == ["ham", "spam"]
    _same_fit(model, reference, L.votes)
    probs = wd.predict_proba(model, votes, tie_break="abstain").compute()  # names from the model
    assert list(probs.columns) == ["prob_ham", "prob_spam", "n_votes", "predicted_label", "predicted_index"]
    assert np.array_equal(probs["n_votes"], (L.votes != ABSTAIN).sum(axis=1))
    assert probs.index.equals(L.index)
    want = reference.predict_proba(L)
    np.testing.assert_allclose(probs[["prob_ham", "prob_spam"]].to_numpy(), want, atol=1e-9)
    predicted = reference.predict(L, tie_break="abstain")
    assert np.array_equal(probs["predicted_index"], predicted)
    labels = probs["predicted_label"]
    assert np.array_equal(labels.isna(), predicted < 0)  # a tie left undecided has no label
    assert list(labels[predicted >= 0]) == [["ham", "spam"][p] for p in predicted[predicted >= 0]]


@pytest.mark.slow
def test_sampled_statistics_equal_the_single_process_fit(client):
    """More distinct patterns than max_patterns: the seeded row sample must not depend on the
    partitioning (uneven partitions, one of a single row)."""
    data = make_synthetic_votes(30_000, 12, random_state=3)
    L = data.votes
    frame = L.to_dataframe()
    ddf = dd.from_pandas(frame, npartitions=5).repartition(
        divisions=[0, 4000, 4000 + 1, 17_000, 17_001, 29_999]
    )
    options = {"max_patterns": 50, "sample_rows": 4000, "random_state": 7}
    model = wd.fit_label_model(LabelModel(**options), ddf, cardinality=2, client=client)
    reference = LabelModel(**options).fit(L)
    assert model.diagnostics_["n_patterns"] is None  # the sample path ran
    assert not model.diagnostics_["exact_statistics"]
    assert model.diagnostics_ == reference.diagnostics_
    _same_fit(model, reference, L.votes)


@pytest.mark.slow
def test_existing_cluster_by_address_and_other_models(client, tmp_path, youtube):
    data, _, y = youtube
    lfs = load_lfs("labeling_functions.youtube")
    L = apply_lfs(lfs, data, cardinality=2, progress=False)
    votes = wd.apply_lfs(lfs, dd.from_pandas(data, npartitions=3), cardinality=2)
    address = client.scheduler.address
    model = wd.fit_label_model(
        LabelModel(cardinality=2, random_state=0), votes, scheduler_address=address
    )
    assert client.status == "running"  # the connection made for the call was closed, not ours
    out = wd.predict_proba_to_parquet(model, votes, str(tmp_path / "probs"), client=client)
    written = pd.read_parquet(out)
    np.testing.assert_allclose(
        written[["prob_0", "prob_1"]].to_numpy(),
        LabelModel(random_state=0).fit(L).predict_proba(L),
        atol=1e-9,
    )
    assert set(written["predicted_label"]) <= {"0", "1"}  # unnamed classes: the index as text
    assert list(written["predicted_label"]) == [str(i) for i in written["predicted_index"]]

    dev = slice(0, 100)
    mv = wd.fit_label_model(MajorityVote(), votes, y[dev], cardinality=2, L_dev=L.votes[dev])
    want = MajorityVote().fit(L, y[dev], L_dev=L.votes[dev]).predict_proba(L)
    np.testing.assert_array_equal(mv.predict_proba(L), want)
    with pytest.raises(TypeError, match=r"DawidSkene needs every row.*compute\(\)"):
        wd.fit_label_model(DawidSkene(), votes, cardinality=2, client=client)
    with pytest.raises(ValueError, match="needs L_dev with y_dev"):
        wd.fit_label_model(LabelModel(), votes, y, cardinality=2, client=client)


@pytest.mark.slow
def test_llm_labeler_runs_per_partition_with_its_cache(client, tmp_path, youtube):
    data = youtube[0].iloc[:120]
    with FakeOpenAIServer() as server:
        llm = LLMLabeler(
            "llm_spam",
            "Is this comment spam or ham? Answer spam or ham.\n\nComment: {text}",
            {"spam": 1, "ham": 0},
            model="fake-model",
            base_url=server.base_url,
            cache_path=tmp_path / "llm.sqlite",
        )
        votes = wd.apply_lfs([llm], dd.from_pandas(data, npartitions=2), cardinality=2)
        got = votes.compute()
        asked = len(server.chat_requests)
        want = apply_lfs([llm], data, cardinality=2, progress=False)  # all from the cache
        assert asked > 0
        assert len(server.chat_requests) == asked
        assert server.stats()["answered_twice"] == 0
    assert np.array_equal(got.to_numpy(), want.votes)


# ---------------------------------------------------------------- errors
def test_errors_name_the_problem(youtube):
    data = youtube[0]
    ddf = dd.from_pandas(data, npartitions=2)
    lock = threading.Lock()

    def guarded(x):
        with lock:
            return ABSTAIN

    ok = LabelingFunction("fine", lambda x: ABSTAIN)
    with pytest.raises(TypeError, match=r"LF 'guarded' cannot be sent to Dask workers.*lock"):
        wd.apply_lfs([ok, LabelingFunction("guarded", guarded)], ddf, cardinality=2)
    with pytest.raises(ValueError, match="needs cardinality="):
        wd.apply_lfs([ok], ddf)
    with pytest.raises(KeyError, match="reads column 'body'"):
        wd.apply_lfs(
            [VectorizedLabelingFunction("v", lambda s: s.str.len() * 0 - 1, column="body")],
            ddf,
            cardinality=2,
        )
    votes = wd.apply_lfs([ok], ddf, cardinality=2)
    with pytest.raises(ValueError, match="needs the number of classes"):
        wd.fit_label_model(LabelModel(), votes)
    with pytest.raises(ValueError, match="tie_break"):
        wd.predict_proba(MajorityVote().fit(np.array([[0], [1]])), votes, tie_break="random")


# ---------------------------------------------------------------- faults
@pytest.mark.slow
def test_a_worker_killed_mid_run_is_recomputed(client, tmp_path, youtube):
    """One worker process is SIGKILLed while partitions are being labeled; the fit completes
    (the lost partitions are recomputed) and equals the undisturbed one."""
    data = youtube[0]
    lfs = load_lfs("labeling_functions.youtube")
    marks = tmp_path / "calls"
    marks.mkdir()

    def slow(text: pd.Series) -> np.ndarray:
        (Path(marks) / f"{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(0.2)
        return np.where(text.str.contains("subscribe", case=False), 1, ABSTAIN)

    sources = [*lfs, VectorizedLabelingFunction("slow_subscribe", slow, column="text")]
    votes = wd.apply_lfs(sources, dd.from_pandas(data, npartitions=12), cardinality=2)
    pids = set(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        worked = {int(mark.name.split("-")[0]) for mark in marks.iterdir()}
        victim = min(worked & pids)
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    model = wd.fit_label_model(LabelModel(random_state=0), votes, cardinality=2, client=client)
    killer.join()
    assert killed and killed[0] in pids
    assert killed[0] not in set(client.run(os.getpid).values())  # that process is gone
    assert len(list(marks.iterdir())) > 12  # some partitions were labeled twice
    L = apply_lfs(sources, data, cardinality=2, progress=False)
    _same_fit(model, LabelModel(random_state=0).fit(L), L.votes)
