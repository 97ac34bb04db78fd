"""Per-row failure isolation, run-level stops, deadlines and progress, against the fault-injecting server.

Every case goes over the wire to tests/fake_openai_server.py (real HTTP, no mocks): which
requests were sent, what was cached, what the report counts and what the user is told.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from fake_openai_server import (
    Body,
    FakeOpenAIServer,
    Hang,
    Status,
    Trickle,
    default_answer,
    row_text,
)

from weaklabel.data import load_wrench
from weaklabel.exceptions import (
    LLMAuthError,
    LLMError,
    LLMNotFoundError,
    LLMResponseError,
    LLMStatusError,
)
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMCache, LLMLabeler

PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
LABELS = {"spam": 1, "ham": 0}
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 30.0, "bias": "none", "decoding": "text"}
CONTEXT = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens."
FILTER = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy."


@pytest.fixture(scope="module")
def comments(wrench_dir):
    data, _, _ = load_wrench(wrench_dir("youtube"), "test")
    return data.drop_duplicates("text").iloc[:60]


def text_of(body) -> str:
    return row_text(body).rsplit("Comment: ", 1)[-1]


def labeler(server, tmp_path, **options) -> LLMLabeler:
    settings = {"model": "fake-model", "base_url": server.base_url, "cache_path": tmp_path / "llm.sqlite", **FAST}
    return LLMLabeler("llm_spam", PROMPT, LABELS, **{**settings, **options})


def refusing(rows: dict[str, Status]):
    """A script refusing the given texts with the given statuses, answering the rest."""
    return lambda number, body: rows.get(text_of(body))


# ---------------------------------------------------------------- permanent per-row refusals
def test_a_row_too_long_abstains_is_recorded_and_is_retried_only_on_request(comments, tmp_path, caplog):
    long_rows = set(comments["text"].iloc[[3, 17, 40]])
    broken = {text: Status(400, message=CONTEXT) for text in long_rows}
    refused = comments["text"].isin(long_rows).to_numpy()
    with FakeOpenAIServer(script=refusing(broken)) as srv:
        with caplog.at_level(logging.WARNING, logger="weaklabel"):
            votes = labeler(srv, tmp_path).apply_batch(comments, progress=False)
        first = srv.stats()["requests"]
        srv.reset()
        again = labeler(srv, tmp_path)
        assert np.array_equal(again.apply_batch(comments, progress=False), votes)
        assert len(srv.chat_requests) == 0  # answered from the cache, refusals not asked again
        broken.clear()  # e.g. the prompt was shortened elsewhere, or the limit raised
        retried = labeler(srv, tmp_path, retry_failed=True)
        fixed = retried.apply_batch(comments, progress=False)
        asked = {text_of(r.body) for r in srv.chat_requests}
    assert first == len(comments)  # each row once: refusals are not retried
    assert (votes[refused] == ABSTAIN).all() and (votes[~refused] != ABSTAIN).all()
    assert "refused 3 rows for good (context_length: 3)" in caplog.text and "retry_failed=True" in caplog.text
    assert again.report_.refused_before == 3 and again.report_.refusal_kinds == {"context_length": 3}
    assert asked == long_rows and (fixed != ABSTAIN).all()
    cache = LLMCache(tmp_path / "llm.sqlite")
    assert len(cache) == len(comments) and cache.get_failures(comments["text"]) == {}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(Status(400, message=FILTER), "content_filter"), (Status(422, message="unprocessable"), "http_422"),
     (Status(413, message="payload too large"), "http_413"),
     (Status(500, message="bad row", headers={"x-should-retry": "false"}), "http_500")],
)
def test_each_kind_of_refusal_is_counted_by_kind(comments, tmp_path, status, kind):
    bad = set(comments["text"].iloc[[5, 9]])
    with FakeOpenAIServer(script=refusing(dict.fromkeys(bad, status))) as srv:
        lab = labeler(srv, tmp_path)
        votes = lab.apply_batch(comments, progress=False)
        sent = len(srv.chat_requests)
    assert sent == len(comments)  # never retried
    assert lab.report_.refused == 2 and lab.report_.refusal_kinds == {kind: 2}
    assert (votes[comments["text"].isin(bad).to_numpy()] == ABSTAIN).all()


def test_x_should_retry_true_makes_a_4xx_transient(comments, tmp_path):
    data = comments.iloc[:10]
    seen: set[str] = set()

    def script(number, body):
        if text_of(body) not in seen:
            seen.add(text_of(body))
            return Status(400, message="try again", headers={"x-should-retry": "true"})
        return None

    with FakeOpenAIServer(script=script) as srv:
        lab = labeler(srv, tmp_path)
        votes = lab.apply_batch(data, progress=False)
    assert (votes != ABSTAIN).all() and lab.report_.refused == 0 and lab.report_.retries == len(data)


def test_on_failure_raise_raises_after_storing_every_answer(comments, tmp_path):
    bad = {comments["text"].iloc[4]: Status(400, message=CONTEXT)}
    with FakeOpenAIServer(script=refusing(bad)) as srv:
        with pytest.raises(LLMStatusError, match="refused 1 rows for good"):
            labeler(srv, tmp_path, on_failure="raise").apply_batch(comments, progress=False)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == len(comments) - 1


# ---------------------------------------------------------------- run-level stops
@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [(401, LLMAuthError, "API key was refused"), (403, LLMAuthError, "no access"), (404, LLMNotFoundError, "check model=")],
)
def test_auth_and_not_found_stop_at_once_in_one_line(comments, tmp_path, status, error, hint):
    with FakeOpenAIServer(script=lambda n, body: Status(status, message="nope")) as srv:
        with pytest.raises(error) as info:
            labeler(srv, tmp_path, max_concurrency=16).apply_batch(comments, progress=False)
        assert len(srv.chat_requests) == 1
    assert "\n" not in str(info.value) and hint in str(info.value) and "'llm_spam'" in str(info.value)


def test_answers_that_arrived_are_stored_before_a_key_is_revoked_mid_run(comments, tmp_path):
    with FakeOpenAIServer(script=lambda n, body: Status(401, message="key revoked") if n >= 20 else None) as srv:
        with pytest.raises(LLMAuthError):
            labeler(srv, tmp_path, max_concurrency=4).apply_batch(comments, progress=False)
        answered = srv.stats()["answers"]
        srv.script = None
        srv.reset()
        labeler(srv, tmp_path).apply_batch(comments, progress=False)
        resent = len(srv.chat_requests)
    assert answered >= 20 - 4 and resent == len(comments) - answered


def test_every_request_refused_alike_stops_after_eight_and_records_nothing(comments, tmp_path):
    with FakeOpenAIServer(script=lambda n, body: Status(400, message="Unrecognized request argument: foo")) as srv:
        with pytest.raises(LLMStatusError, match=r"the first 8 requests .* were all refused \(http_400\)") as info:
            labeler(srv, tmp_path, max_concurrency=16).apply_batch(comments, progress=False)
        assert len(srv.chat_requests) == 8
    assert "Unrecognized request argument: foo" in str(info.value)
    assert LLMCache(tmp_path / "llm.sqlite").get_failures(comments["text"]) == {}


# ---------------------------------------------------------------- 200s that fit no chat completion
WEIRD = [
    {"choices": {"0": "spam"}},
    {"choices": [{"message": {"content": 42}}]},
    {"choices": [{"message": "spam"}]},
    {"choices": [{"message": {"content": "spam"}, "logprobs": "none"}], "usage": {"prompt_tokens": "20"}},
    {"choices": [{"message": {"content": "ham"}, "logprobs": {"content": [{"token": 5, "top_logprobs": "x"}]}}]},
    ["not", "an", "object"],
    "just a string",
    None,
]


@pytest.mark.parametrize("decoding", ["text", "logprobs"])
def test_well_formed_but_unusual_answers_count_as_unparsable(comments, tmp_path, decoding):
    data = comments.iloc[: len(WEIRD) + 10]
    weird = dict(zip(data["text"], WEIRD, strict=False))

    def script(number, body):
        return Body(weird[text_of(body)]) if text_of(body) in weird else None

    with FakeOpenAIServer(script=script) as srv:
        lab = labeler(srv, tmp_path, decoding=decoding)
        votes = lab.apply_batch(data, progress=False)
        with pytest.raises(LLMResponseError, match="did not fit a chat completion"):
            labeler(srv, tmp_path, decoding=decoding, on_failure="raise").apply_batch(data, progress=False)
    report = lab.report_
    # "spam"/"ham" still read where the text itself is fine (rows 3 and 4): the rest abstain.
    assert report.malformed == len(WEIRD) and report.unparsable == len(WEIRD) - 2
    assert (votes[len(WEIRD):] != ABSTAIN).all() and report.errors == 0
    assert len(LLMCache(tmp_path / "llm.sqlite")) == len(data)  # cached like any answer


# ---------------------------------------------------------------- deadlines and progress
def test_the_request_deadline_covers_the_whole_answer(comments, tmp_path):
    data = comments.iloc[:3]
    slow = {data["text"].iloc[0]}

    def script(number, body):
        return Trickle("spam", interval=0.02) if text_of(body) in slow else None  # ~300 bytes: ~6 s in total

    with FakeOpenAIServer(script=script) as srv:
        lab = labeler(srv, tmp_path, timeout=1.0, max_retries=1)
        votes = lab.apply_batch(data, progress=False)
    assert votes[0] == ABSTAIN and lab.report_.errors == 1 and lab.report_.retry_kinds == {"timeout": 1}


def test_a_warning_when_no_answer_arrives_for_a_while(comments, tmp_path, caplog):
    data = comments.iloc[:2]
    with FakeOpenAIServer(script=lambda n, body: Hang(30) if n == 0 else None) as srv:
        with caplog.at_level(logging.WARNING, logger="weaklabel"):
            labeler(srv, tmp_path, timeout=8.0, stall_warning=1.0).apply_batch(data, progress=False)
    assert "no answer from http://127.0.0.1" in caplog.text and "gives up after timeout=8 s" in caplog.text


def test_an_endpoint_that_never_replies_stops_the_run_in_three_timeouts(comments, tmp_path):
    data = comments.iloc[:30]
    with FakeOpenAIServer(script=lambda n, body: Hang(30)) as srv:
        lab = labeler(srv, tmp_path, timeout=0.5, max_retries=6)
        with pytest.raises(LLMError, match=r"has not replied to 3 requests in a row .*timeout=0.5 s"):
            lab.apply_batch(data, progress=False)
        sent = len(srv.chat_requests)
    assert sent == 3  # one request at a time until the first answer: not 30 rows x 7 attempts
    assert len(LLMCache(tmp_path / "llm.sqlite")) == 0  # nothing recorded against the rows


def test_a_slow_first_answer_is_waited_for(comments, tmp_path):
    data = comments.iloc[:5]
    with FakeOpenAIServer(script=lambda n, body: Hang(30) if n < 2 else None) as srv:
        votes = labeler(srv, tmp_path, timeout=0.5).apply_batch(data, progress=False)
    assert (votes != ABSTAIN).all()  # two silent attempts, then the endpoint answers: a normal run


def test_the_progress_bar_shows_retries_and_failures(comments, tmp_path, monkeypatch):
    data = comments.iloc[:20]
    bad = {data["text"].iloc[2]: Status(400, message=CONTEXT)}
    flaky = {data["text"].iloc[5]}

    def script(number, body):
        if text_of(body) in flaky:
            flaky.clear()
            return Status(503)
        return bad.get(text_of(body))

    stream = io.StringIO()
    import tqdm.auto

    original = tqdm.auto.tqdm
    monkeypatch.setattr("weaklabel.llm.fetching.tqdm", lambda *a, **k: original(*a, **{**k, "file": stream}))
    with FakeOpenAIServer(script=script) as srv:
        labeler(srv, tmp_path).apply_batch(data, progress=True)
    shown = stream.getvalue()
    assert "LLM llm_spam" in shown and "retries=1" in shown and "refused=1" in shown and "failed=0" in shown


def test_a_server_answer_for_every_row_is_still_the_default_rule(comments, tmp_path):
    """Sanity check of the helpers above: a healthy server answers every row by its keyword rule."""
    with FakeOpenAIServer() as srv:
        votes = labeler(srv, tmp_path).apply_batch(comments, progress=False)
    expected = [1 if default_answer({"messages": [{"role": "user", "content": t}]}).content == "spam" else 0
                for t in comments["text"]]
    assert votes.tolist() == expected
