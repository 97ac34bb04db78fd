"""The LLM client against a real local HTTP server that injects faults (no mocks).

The server (tests/fake_openai_server.py) implements the chat-completions endpoint the
openai client calls and records every request, so each test checks what really went
over the wire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from fake_openai_server import Drop, FakeOpenAIServer, Hang, Malformed, Status, row_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMCache, LLMError, LLMLabeler, LLMStatusError, LLMTransportError

PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
LABELS = {"spam": 1, "ham": 0}
# Timeouts are generous: only the fault test, which injects hangs, sets a short one.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 30.0, "bias": "none"}  # no content-free requests in the counts


@pytest.fixture
def youtube(wrench_dir):
    data, _, _ = load_wrench(wrench_dir("youtube"), "test")
    return data


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def expected_votes(data) -> np.ndarray:
    """What the fake server's default rule answers for each row."""
    with FakeOpenAIServer() as srv:
        return np.array(
            [1 if srv.answer({"messages": [{"role": "user", "content": t}]}).content == "spam" else 0 for t in data["text"]]
        )


def labeler(base_url: str, tmp_path: Path, **kwargs) -> LLMLabeler:
    options = {"model": "fake-model", "base_url": base_url, "cache_path": tmp_path / "llm.sqlite", **FAST}
    options.update(kwargs)
    return LLMLabeler(options.pop("name", "llm_spam"), options.pop("prompt", PROMPT), LABELS, **options)


# ---------------------------------------------------------------- faults
def test_faults_lose_no_row_and_answer_none_twice(youtube, tmp_path):
    faults = (Status(429, retry_after=0.01), Status(500), Status(503), Drop(), Malformed(), Hang(30))
    with FakeOpenAIServer(fault_rate=0.3, faults=faults, seed=1) as srv:
        lab = labeler(srv.base_url, tmp_path, max_concurrency=16, max_retries=12, timeout=2.0)  # > a loaded reply, << a hang
        votes = lab.apply_batch(youtube, progress=False)
        stats = srv.stats()
        sent = list(srv.chat_requests)
    assert np.array_equal(votes, expected_votes(youtube))
    distinct = youtube["text"].nunique()
    assert stats["answered_rows"] == distinct and stats["answered_twice"] == 0
    assert stats["outcomes"]["reply"] == distinct  # every answer the server gave was used
    assert {"hang", "drop", "malformed", "status_429", "status_500"} <= set(stats["outcomes"])
    report = lab.report_
    assert report.requests_sent == len(sent) and report.retries == len(sent) - distinct
    assert report.errors == 0 and report.abstains == 0
    assert report.cache_hits == 0 and report.rows == report.rows_in_budget == len(youtube)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == distinct


def test_concurrency_limit_holds(youtube, tmp_path):
    with FakeOpenAIServer(latency=0.05) as srv:
        lab = labeler(srv.base_url, tmp_path, max_concurrency=5)
        lab.apply_batch(youtube.iloc[:80], progress=False)
        assert srv.max_in_flight == 5


def test_retry_after_is_honoured(tmp_path, youtube):
    def script(number, body):
        return Status(429, retry_after=0.3) if number == 0 else None

    with FakeOpenAIServer(script=script) as srv:
        lab = labeler(srv.base_url, tmp_path, backoff_base=0.001)
        lab.apply_batch(youtube.iloc[:1], progress=False)
        first, second = srv.chat_requests
    assert first.outcome == "status_429" and second.outcome == "reply"
    assert second.time - first.time >= 0.3  # a lower bound: waiting never ends early


def test_rows_failing_every_retry_abstain_are_not_cached_and_are_asked_again(youtube, tmp_path, caplog):
    data = youtube.iloc[:40]
    broken = set(data["text"].iloc[::4])
    healthy = []

    def script(number, body):
        return Drop() if not healthy and row_text(body).rsplit(": ", 1)[-1] in broken else None

    with FakeOpenAIServer(script=script) as srv:
        lab = labeler(srv.base_url, tmp_path, max_retries=2)
        with caplog.at_level(logging.WARNING, logger="weaklabel"):
            votes = lab.apply_batch(data, progress=False)
        failed = data["text"].isin(broken).to_numpy()
        assert (votes[failed] == ABSTAIN).all() and (votes[~failed] != ABSTAIN).all()
        assert lab.report_.errors == failed.sum()
        assert "failed every retry" in caplog.text and "llm_spam" in caplog.text
        healthy.append(True)  # the server recovers; the rerun asks only for the failed rows
        srv.reset()
        again = labeler(srv.base_url, tmp_path)
        votes = again.apply_batch(data, progress=False)
        asked = {row_text(r.body).rsplit(": ", 1)[-1] for r in srv.chat_requests}
    assert asked == broken and again.report_.cache_hits == (~failed).sum()
    assert np.array_equal(votes, expected_votes(data))


def test_on_failure_raise_stores_the_other_answers_first(youtube, tmp_path):
    data = youtube.iloc[:20]
    with FakeOpenAIServer(script=lambda n, body: Drop() if n in (5, 6, 7) else None) as srv:
        lab = labeler(srv.base_url, tmp_path, max_retries=0, on_failure="raise")
        with pytest.raises(LLMTransportError, match="'llm_spam': 3 rows failed every retry"):
            lab.apply_batch(data, progress=False)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == data["text"].nunique() - 3


# ---------------------------------------------------------------- non-retryable errors
@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Incorrect API key provided", "API key was refused"),
        (403, "no access", "no access to this model"),
        (404, "The model `fake-model` does not exist", "not found; check model="),
    ],
)
def test_non_retryable_errors_stop_the_run_after_one_probe(youtube, tmp_path, status, message, hint):
    with FakeOpenAIServer(script=lambda n, body: Status(status, message=message)) as srv:
        lab = labeler(srv.base_url, tmp_path, max_concurrency=32)
        with pytest.raises(LLMStatusError) as info:
            lab.apply_batch(youtube, progress=False)
        assert len(srv.chat_requests) == 1  # the probe; the other 249 rows were never sent
    error = info.value
    assert error.status_code == status and error.labeler == "llm_spam"
    assert "'llm_spam'" in str(error) and f"HTTP {status}" in str(error) and hint in str(error)
    assert message in str(error)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == 0  # errors are never cached


def test_api_key_never_leaks(youtube, tmp_path, monkeypatch, caplog):
    key = "sk-LEAKCANARY-0123456789abcdef"
    monkeypatch.setenv("WEAKLABEL_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)
    data = youtube.iloc[:30]
    with FakeOpenAIServer(fault_rate=0.2, seed=3) as srv:  # answers, retries, debug logs
        ok = labeler(srv.base_url, tmp_path, api_key_env="WEAKLABEL_TEST_KEY")
        ok.apply_batch(data, progress=False)
        assert srv.chat_requests[0].headers["authorization"] == f"Bearer {key}"  # it was sent
    echo = f"Incorrect API key provided: {key}. You can find your API key at ..."
    with FakeOpenAIServer(script=lambda n, body: Status(401, message=echo)) as srv:
        bad = labeler(srv.base_url, tmp_path, api_key_env="WEAKLABEL_TEST_KEY", prompt="Spam? {text}")
        with pytest.raises(LLMStatusError) as info:
            bad.apply_batch(data, progress=False)
    texts = {
        "str": str(info.value),
        "repr": repr(info.value),
        "traceback": "".join(traceback.format_exception(info.value)),
        "logs": caplog.text,
        "report": str(ok.report_) + repr(ok.report_.as_dict()),
        "labeler": repr(ok) + repr(vars(ok)),
    }
    for path in tmp_path.iterdir():  # the cache and its WAL files
        texts[path.name] = path.read_bytes().decode("latin-1")
    assert "LEAKCANARY" not in "".join(texts.values()), [k for k, v in texts.items() if "LEAKCANARY" in v]
    assert "API key was refused" in texts["str"]


def test_missing_key_for_openai_itself_is_a_clear_error(youtube, tmp_path, monkeypatch):
    monkeypatch.delenv("WEAKLABEL_UNSET_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    lab = LLMLabeler("llm_spam", PROMPT, LABELS, model="gpt-4o-mini", api_key_env="WEAKLABEL_UNSET_KEY",
                     cache_path=tmp_path / "c.sqlite")
    with pytest.raises(LLMError, match="'llm_spam': the environment variable WEAKLABEL_UNSET_KEY"):
        lab.apply_batch(youtube.iloc[:3], progress=False)


# ---------------------------------------------------------------- event loops and interruption
def test_works_inside_a_running_event_loop_like_jupyter(youtube, server, tmp_path):
    lab = labeler(server.base_url, tmp_path)
    data = youtube.iloc[:25]

    async def notebook_cell():
        return lab.apply_batch(data, progress=False)

    votes = asyncio.run(notebook_cell())
    assert np.array_equal(votes, expected_votes(data))


_INTERRUPTED_RUN = """
import sys
from weaklabel.data import load_wrench
from weaklabel.llm import LLMLabeler
data, _, _ = load_wrench(sys.argv[1], "test")
lab = LLMLabeler("llm_spam", {prompt!r}, {labels!r}, model="fake-model", base_url=sys.argv[2],
                 cache_path=sys.argv[3], max_concurrency=4, bias="none")
lab.apply_batch(data, progress=False)
"""


def _ctrl_c_as_in_a_terminal() -> None:
    """A child inherits an ignored or blocked SIGINT from this process (earlier tests' libraries
    may leave it so), and Python then never raises KeyboardInterrupt: undo both in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.slow
def test_ctrl_c_mid_run_loses_nothing_and_the_rerun_sends_only_missing_rows(youtube, wrench_dir, tmp_path):
    cache_path = tmp_path / "llm.sqlite"
    script = textwrap.dedent(_INTERRUPTED_RUN.format(prompt=PROMPT, labels=LABELS))
    # 250 rows at 4 in flight x 0.15 s: ~10 s, so the poll below sees 60 answers long before
    # the end even when this process gets little CPU
    with FakeOpenAIServer(latency=0.15) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(wrench_dir("youtube")), srv.base_url, str(cache_path)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stderr=subprocess.PIPE,
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
        deadline = time.monotonic() + 120
        while srv.stats()["answers"] < 60 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=60)
        answered_before = srv.stats()["answers"]
        assert proc.returncode != 0 and b"KeyboardInterrupt" in err
        distinct = youtube["text"].nunique()
        stored = len(LLMCache(cache_path))
        assert 60 <= answered_before < distinct
        assert answered_before - 4 <= stored <= answered_before  # at most the in-flight answers are lost
        srv.reset()
        lab = labeler(srv.base_url, tmp_path, max_concurrency=4, timeout=60.0)
        votes = lab.apply_batch(youtube, progress=False)
        resent = len(srv.chat_requests)
    assert resent == distinct - stored  # zero requests for rows already answered
    assert np.array_equal(votes, expected_votes(youtube))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fault_rate=st.floats(0.0, 0.5),
    concurrency=st.integers(1, 8),
    seed=st.integers(0, 10_000),
)
def test_property_any_fault_schedule_answers_every_row_exactly_once(youtube, tmp_path_factory, fault_rate, concurrency, seed):
    data = youtube.drop_duplicates("text").iloc[:25]
    faults = (Status(429, retry_after=0.0), Status(500), Drop(), Malformed())
    with FakeOpenAIServer(fault_rate=fault_rate, faults=faults, seed=seed) as srv:
        lab = labeler(srv.base_url, tmp_path_factory.mktemp("c"), max_concurrency=concurrency, max_retries=30)
        votes = lab.apply_batch(data, progress=False)
        stats = srv.stats()
        assert srv.max_in_flight <= concurrency
    assert np.array_equal(votes, expected_votes(data))
    assert stats["answered_rows"] == len(data) and stats["answered_twice"] == 0
    assert lab.report_.requests_sent == stats["requests"]


def test_requests_per_minute_spaces_the_requests(youtube, tmp_path):
    with FakeOpenAIServer() as srv:
        lab = labeler(srv.base_url, tmp_path, requests_per_minute=60, max_concurrency=8)  # 1 per second
        lab.apply_batch(youtube.drop_duplicates("text").iloc[:3], progress=False)
        times = sorted(r.time for r in srv.chat_requests)
    assert len(times) == 3 and times[2] - times[1] >= 0.9  # after the probe, one per second (a lower bound)


@pytest.mark.parametrize(("chunked", "keep_alive"), [(True, True), (False, False), (True, False)])
def test_chunked_answers_and_servers_closing_idle_connections(youtube, tmp_path, chunked, keep_alive):
    data = youtube.iloc[:40]
    with FakeOpenAIServer(chunked=chunked, keep_alive=keep_alive) as srv:
        lab = labeler(srv.base_url, tmp_path, max_concurrency=4)
        votes = lab.apply_batch(data, progress=False)
        stats = srv.stats()
    assert np.array_equal(votes, expected_votes(data))
    assert stats["answered_rows"] == data["text"].nunique() and stats["answered_twice"] == 0
    # A request on a pooled connection the server had closed is sent again on a fresh one
    # and counted as a retry (the server may never have seen the first copy).
    report = lab.report_
    assert report.requests_sent - report.retries == data["text"].nunique()
    assert stats["requests"] <= report.requests_sent


def test_with_a_proxy_configured_the_default_transport_is_used(youtube, server, tmp_path, monkeypatch):
    from weaklabel.llm.transport import proxies_configured

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # ...and the fake server is exempt
    assert proxies_configured()
    data = youtube.iloc[:10]
    votes = labeler(server.base_url, tmp_path).apply_batch(data, progress=False)
    assert np.array_equal(votes, expected_votes(data))
