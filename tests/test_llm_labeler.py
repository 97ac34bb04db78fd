"""LLMLabeler as a labeling function: label matrix, decoding modes, budgets, cache keys."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer, Reply, Status, row_text

from weaklabel import apply_lfs, keyword_lf
from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMCache, LLMLabeler, PromptTemplate

PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
LABELS = {"spam": 1, "ham": 0}
SPAM, HAM = 1, 0


@pytest.fixture
def youtube(wrench_dir):
    return load_wrench(wrench_dir("youtube"), "test")


@pytest.fixture
def youtube_dev(wrench_dir):
    return load_wrench(wrench_dir("youtube"), "valid")


def comment(body) -> str:
    return row_text(body).rsplit("Comment: ", 1)[-1]


def make(server, tmp_path, name="llm_spam", prompt=PROMPT, labels=None, **kwargs):
    options = {"model": "fake-model", "base_url": server.base_url, "cache_path": tmp_path / "llm.sqlite"}
    return LLMLabeler(name, prompt, labels or LABELS, **{**options, **kwargs})


def test_apply_lfs_puts_llm_votes_next_to_hand_written_lfs(youtube, tmp_path):
    data, _, y = youtube
    check = keyword_lf("kw_check", ["check"], label=SPAM)
    with FakeOpenAIServer() as server:
        llm = make(server, tmp_path)
        L = apply_lfs([check, llm], data, cardinality=2, progress=False)
        alone = make(server, tmp_path).apply_batch(data, progress=False)  # all from the cache now
    assert L.lf_names == ["kw_check", "llm_spam"]
    assert L.votes.shape == (len(data), 2)
    assert np.array_equal(L.votes[:, 1], alone)
    assert np.array_equal(L.votes[:, 0], apply_lfs([check], data, progress=False).votes[:, 0])
    assert set(np.unique(L.votes[:, 1])) == {HAM, SPAM}
    assert (L.votes[:, 1] == y).mean() > 0.6  # the fake server's keyword rule is a fair labeler


def test_logprobs_decoding_reads_top_logprobs_and_calibrates_on_dev_rows(youtube, youtube_dev, tmp_path):
    data, _, y = youtube
    dev, _, y_dev = youtube_dev
    gold = dict(zip(dev["text"], y_dev, strict=False)) | dict(zip(data["text"], y, strict=False))

    def biased(body):
        # Like a small model: always prefers "spam", but by more when the row is spam.
        gap = 2.5 if gold.get(comment(body)) == SPAM else 0.5
        return Reply("spam", logprobs=[(" Spam", -0.1), ("sp", -1.5), ("Ham", -0.1 - gap), ("The", -6.0)])

    with FakeOpenAIServer(answer=biased) as server:
        raw = make(server, tmp_path, bias="none").apply_batch(data, progress=False)
        assert (raw == SPAM).all()  # argmax: the bias wins everywhere
        llm = make(server, tmp_path)
        corrected = llm.apply_batch(data, progress=False)  # content-free inputs measure the bias
        assert llm.report_.requests_sent == 3 and llm.report_.cache_hits == len(data)  # 3 content-free inputs
        assert set(np.unique(corrected)) == {HAM, SPAM} and (corrected == y).mean() > 0.9
        llm.calibrate(dev, y_dev)
        votes = llm.apply_batch(data, progress=False)
        body = server.chat_requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert 0.5 < llm.threshold_ < 2.5 and llm.calibration_score_ == 1.0
    assert np.array_equal(votes, y)
    spam = math.log(math.exp(-0.1) + math.exp(-1.5))  # " Spam" and "sp" both start the word
    assert llm.score(data.iloc[:1], progress=False)[0] == pytest.approx(spam - (-0.1 - (2.5 if y[0] else 0.5)))


def test_json_decoding_sends_a_schema_and_parses_the_object(youtube, tmp_path):
    data, _, _ = youtube
    data = data.iloc[:30]

    def structured(body):
        assert body["response_format"]["type"] == "json_schema"
        return Reply('{"label": "%s"}' % ("spam" if "check" in comment(body).lower() else "ham"))

    with FakeOpenAIServer(answer=structured) as server:
        votes = make(server, tmp_path, decoding="json").apply_batch(data, progress=False)
        schema = server.chat_requests[0].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["spam", "ham"]
    assert schema["additionalProperties"] is False
    assert np.array_equal(votes, np.where(data["text"].str.lower().str.contains("check"), SPAM, HAM))


def test_endpoint_without_logprobs_falls_back_to_text(youtube, tmp_path, caplog):
    data = youtube[0].iloc[:20]

    def script(number, body):
        return Status(400, message="logprobs are not supported by this server") if body.get("logprobs") else None

    with FakeOpenAIServer(script=script) as server:
        llm = make(server, tmp_path)
        votes = llm.apply_batch(data, progress=False)
        kinds = [bool(r.body.get("logprobs")) for r in server.chat_requests]
        calibrating = make(server, tmp_path, name="calibrated", calibration=(data, np.zeros(len(data), dtype=int)))
        assert (calibrating.apply_batch(data, progress=False) == votes).all()  # no error: text votes
    assert kinds.count(True) == 1  # only the probe tried logprobs
    assert llm.decoding_ == "text" and "falling back to parsing text" in caplog.text
    assert "nothing to calibrate, the endpoint answers in text only" in caplog.text and calibrating.rule_ is None
    assert (votes != ABSTAIN).all()


def test_unparsable_answers_abstain_and_are_counted(youtube, tmp_path):
    data = youtube[0].iloc[:12]
    answers = ["Spam.", "Answer: ham", "I'm sorry, I can't classify that.", "", None, "maybe",
               "ham", "spam or ham", "SPAM", "It depends", "**ham**", "spam"]
    script_answers = dict(zip(data["text"], answers, strict=True))
    with FakeOpenAIServer(answer=lambda body: Reply(script_answers[comment(body)])) as server:
        llm = make(server, tmp_path, decoding="text")
        votes = llm.apply_batch(data, progress=False)
    assert votes.tolist() == [1, 0, -1, -1, -1, -1, 0, -1, 1, -1, 0, 1]
    assert llm.report_.unparsable == 6 and llm.report_.abstains == 6 and llm.report_.errors == 0


def test_aspect_labeler_votes_its_class_or_abstains(youtube, tmp_path):
    data = youtube[0].iloc[:40]

    def answer(body):
        return "Yes." if "channel" in row_text(body).rsplit("Text: ", 1)[-1].lower() else "No"

    with FakeOpenAIServer(answer=answer) as server:
        llm = LLMLabeler.aspect(
            "asks_visit", "Does this comment ask people to visit a channel or a link?", yes=SPAM,
            model="fake-model", base_url=server.base_url, cache_path=tmp_path / "c.sqlite", decoding="text",
        )
        votes = llm.apply_batch(data, progress=False)
        question = server.chat_requests[0].body["messages"][-1]["content"]
    assert question.startswith("Does this comment ask people to visit a channel or a link? Answer yes or no.")
    has_channel = data["text"].str.lower().str.contains("channel").to_numpy()
    assert np.array_equal(votes, np.where(has_channel, SPAM, ABSTAIN))
    assert llm.report_.unparsable == 0 and llm.report_.abstains == (~has_channel).sum()


def test_max_rows_labels_a_seeded_random_sample(youtube, tmp_path):
    data = youtube[0]
    with FakeOpenAIServer() as server:
        a = make(server, tmp_path, max_rows=30, seed=1, use_cache=False).apply_batch(data, progress=False)
        sent_a = len(server.chat_requests)
        b = make(server, tmp_path, max_rows=30, seed=1, use_cache=False).apply_batch(data, progress=False)
        c = make(server, tmp_path, max_rows=30, seed=2, use_cache=False).apply_batch(data, progress=False)
    voted = a != ABSTAIN
    assert voted.sum() == 30 and sent_a <= 30 + 3  # and the three content-free inputs of the bias correction
    assert np.array_equal(a, b) and not np.array_equal(voted, c != ABSTAIN)
    assert np.flatnonzero(voted).max() > 100  # a sample, not the head


def test_max_cost_stops_sending_at_the_budget(youtube, tmp_path):
    data = youtube[0].drop_duplicates("text").iloc[:100]
    prices = {"fake-model": (1000.0, 1000.0)}  # dollars per million tokens
    per_request = (20 * 1000 + 1 * 1000) / 1e6  # the fake server reports 20 + 1 tokens
    with FakeOpenAIServer() as server:
        llm = make(server, tmp_path, max_cost=1.0, prices=prices, max_concurrency=8, bias="none")
        votes = llm.apply_batch(data, progress=False)
        sent = len(server.chat_requests)
    report = llm.report_
    assert report.cost <= 1.0 and report.cost == pytest.approx(sent * per_request)
    assert sent == report.rows_in_budget < len(data)
    assert (votes != ABSTAIN).sum() == sent
    assert np.flatnonzero(votes != ABSTAIN).max() > sent  # a random subset, not the head
    with pytest.raises(ValueError, match="max_cost needs the price of model 'fake-model'"):
        make(server, tmp_path, max_cost=1.0)


def test_editing_one_prompt_invalidates_only_its_own_answers(youtube, tmp_path):
    data = youtube[0].iloc[:30]
    distinct = data["text"].nunique()
    with FakeOpenAIServer() as server:
        first = make(server, tmp_path, name="a", prompt=PROMPT, bias="none")
        second = make(server, tmp_path, name="b", prompt=PromptTemplate("Spam? Answer spam or ham.\n{text}"), bias="none")
        apply_lfs([first, second], data, progress=False)
        assert len(server.chat_requests) == 2 * distinct
        server.reset()
        edited = make(server, tmp_path, name="a", prompt=PROMPT.replace("YouTube ", ""), bias="none")
        apply_lfs([edited, second], data, progress=False)
        assert len(server.chat_requests) == distinct  # only the edited prompt is asked again
        server.reset()
        make(server, tmp_path, name="a", prompt=PROMPT, temperature=0.7, bias="none").apply_batch(data, progress=False)
        assert len(server.chat_requests) == distinct  # sampling parameters are part of the key
    assert len(LLMCache(tmp_path / "llm.sqlite")) == 4 * distinct


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_concurrency": 0}, "parameter max_concurrency"),
        ({"temperature": -1}, "parameter temperature"),
        ({"decoding": "grammar"}, "parameter decoding"),
        ({"api_key_env": "sk-abc"}, "parameter api_key_env"),
        ({"backend": "local", "decoding": "json"}, "decodes 'logprobs' or 'text'"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LLMLabeler("x", PROMPT, LABELS, **{"model": "m", **kwargs})


def test_bad_labels_and_missing_model_raise_clear_errors():
    with pytest.raises(ValueError, match="every answer word maps to ABSTAIN"):
        LLMLabeler("x", PROMPT, {"yes": ABSTAIN}, model="m")
    with pytest.raises(ValueError, match=r"a class index or class name, got 'spam': 1\.5"):
        LLMLabeler("x", PROMPT, {"spam": 1.5}, model="m")
    with pytest.raises(ValueError, match="needs model="):
        LLMLabeler("x", PROMPT, LABELS)


def test_calibration_without_logprobs_is_a_clear_error(youtube_dev, tmp_path):
    dev, _, y_dev = youtube_dev
    with FakeOpenAIServer(answer=lambda body: Reply("spam", logprobs=None)) as server:
        llm = make(server, tmp_path)
        with pytest.raises(ValueError, match="'llm_spam': the endpoint returned no log-probabilities"):
            llm.calibrate(dev.iloc[:10], y_dev[:10])
        votes = llm.apply_batch(dev.iloc[:10], progress=False)  # still labels, from the text
    assert (votes == SPAM).all()
