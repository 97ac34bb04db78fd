"""Answers naming a set of labels: the parser on 13 real LLMs' answers, and the set labeler over HTTP."""

from __future__ import annotations

import ast
import json

import numpy as np
import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer, Reply, row_text

from weaklabel.lf import ABSTAIN
from weaklabel.llm import LabelSetParser, LLMCache, LLMLabelSetLabeler, set_votes
from weaklabel.llm.label_sets import ABSENT, PRESENT, option_codes

ASPECTS = ["food", "service", "price", "ambience"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Food, service.", ["food", "service"]),
        ("- price\n- ambience", ["price", "ambience"]),
        ("1. Service 2) food", ["service", "food"]),  # one line: the label words found in it
        ('["service", "price"]', ["service", "price"]),
        ('{"labels": ["staff"], "reason": "the waiter"}', ["service"]),
        ("The review talks about the food and the atmosphere.", ["food", "ambience"]),
        ("Answer: none", []),
        ("None of the above.", []),
        ("[]", []),
        ("I'm sorry, I cannot help with that.", None),
        ("", None),
        (None, None),
        ("food; food; price", ["food", "price"]),
    ],
)
def test_parser_reads_lists_json_sentences_and_none(answer, expected):
    parser = LabelSetParser(ASPECTS, aliases={"staff": "service", "atmosphere": "ambience"})
    assert parser.parse(answer) == expected


def test_parser_rejects_bad_aliases_and_codes():
    with pytest.raises(ValueError, match="not a label"):
        LabelSetParser(ASPECTS, aliases={"waiter": "staff"})
    with pytest.raises(ValueError, match="reads the same"):
        LabelSetParser(["food", "Food!"])
    with pytest.raises(ValueError, match="not labels"):
        LabelSetParser(ASPECTS, codes={"A": "drinks"})


def test_set_votes_are_present_absent_or_abstain():
    votes = set_votes([["food"], [], None, ["price", "food"]], ASPECTS)
    assert votes.tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [-1] * 4, [1, 0, 1, 0]]
    only_named = set_votes([["food"], None], ASPECTS, unnamed="abstain")
    assert only_named.tolist() == [[PRESENT, ABSTAIN, ABSTAIN, ABSTAIN], [ABSTAIN] * 4]
    assert (PRESENT, ABSENT) == (1, 0)


# ---------------------------------------------------------------- real answers of 13 LLMs
def test_parser_reads_the_tropes_answers_of_13_llms_like_the_published_votes(shared_data):
    """Multiple-choice answers with option codes (``"AJ,GADG,T,AH"``, ``"A: C"``, ``"&&&Q"``)
    from flan-t5, GPT-3 and ChatGPT models: the parser recovers the published (strict)
    votes, unknown codes dropped and unparsable answers None; where it differs it reads a
    label the strict scorer gave up on (a degenerate ``"B: AB: AB: AB: ..."``), never a
    different label."""
    root = shared_data / "llms_for_css" / "tropes_multilabel"
    names = json.loads((root / "label.json").read_text())
    labels = [names[str(i)] for i in range(len(names))]
    parser = LabelSetParser(labels, codes=dict(zip(option_codes(len(labels)), labels, strict=True)))
    converted = json.loads((root / "test.json").read_text())
    models = json.loads((root / "lf_names.json").read_text())
    dropped, lenient, total = 0, [], 0
    for j, model in enumerate(models):
        answers = {}
        for line in (root / "raw" / f"answer-{model}").read_text().splitlines():
            number, _gold, *answer = line.split("\t")
            answers[int(number)] = answer[0] if answer else ""
        for i in range(len(converted)):
            weak = converted[str(i)]["weak_labels"]
            want = (ast.literal_eval(weak) if isinstance(weak, str) else weak)[j]
            read = parser.read(answers.get(i))
            got = -1 if read.labels is None else sorted(labels.index(label) for label in read.labels)
            total += 1
            if got != (want if want == -1 else sorted(want)):
                assert want == -1, (model, i, answers.get(i), got, want)
                lenient.append(answers.get(i))
            dropped += len(read.unknown) if read.labels is not None else 0
    assert total == 13 * 114 and len(lenient) <= 10, lenient
    assert all(answer.count(":") > 2 for answer in lenient)  # only the repeated "B: AB: AB: ..." kind
    assert dropped > 0  # truncated codes such as "GADG" were dropped, not guessed


# ---------------------------------------------------------------- the set labeler over HTTP
REVIEWS = pd.DataFrame({"text": [
    "The pasta was great but the waiter ignored us.",
    "Way too expensive for what you get.",
    "Lovely music and candles, friendly staff.",
    "We went there on a Tuesday.",
    "I would rather not say.",
]})
KEYWORDS = {"food": ("pasta",), "service": ("waiter", "staff"), "price": ("expensive",), "ambience": ("music", "candles")}
PROMPT = (
    "Which of these aspects does the review mention: food, service, price, ambience? "
    "Answer with a comma-separated list, or none.\n\nReview: {text}"
)


def aspect_answer(body) -> Reply:
    text = row_text(body).rsplit("Review: ", 1)[-1].lower()
    if "rather not" in text:
        return Reply("I cannot answer that.")
    named = [aspect for aspect, words in KEYWORDS.items() if any(w in text for w in words)]
    if body.get("response_format"):
        return Reply(json.dumps({"labels": named}))
    return Reply(", ".join(named) or "none")


@pytest.mark.parametrize("decoding", ["text", "json"])
def test_set_labeler_asks_once_per_row_and_parses_the_sets(tmp_path, decoding):
    with FakeOpenAIServer(answer=aspect_answer) as srv:
        labeler = LLMLabelSetLabeler("aspects", PROMPT, ASPECTS, model="fake-model", base_url=srv.base_url,
                                     cache_path=tmp_path / "llm.sqlite", decoding=decoding)
        sets = labeler.apply_batch(REVIEWS, progress=False)
        again = LLMLabelSetLabeler("aspects", PROMPT, ASPECTS, model="fake-model", base_url=srv.base_url,
                                   cache_path=tmp_path / "llm.sqlite", decoding=decoding)
        assert again.apply_batch(REVIEWS, progress=False) == sets
        sent = len(srv.chat_requests)
        body = srv.chat_requests[0].body
    assert sets == [["food", "service"], ["price"], ["service", "ambience"], [], None]
    assert sent == len(REVIEWS)  # the rerun came from the cache
    assert labeler.report_.unparsable == 1 and labeler.report_.abstains == 1
    if decoding == "json":
        assert body["response_format"]["json_schema"]["schema"]["properties"]["labels"]["items"]["enum"] == ASPECTS
    votes = set_votes(sets, ASPECTS)
    assert votes[:, 0].tolist() == [1, 0, 0, 0, -1] and np.array_equal(votes[4], [-1] * 4)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == len(REVIEWS)


def test_set_labeler_refuses_log_prob_decoding():
    with pytest.raises(ValueError, match="not decoding='logprobs'"):
        LLMLabelSetLabeler("aspects", PROMPT, ASPECTS, model="m", decoding="logprobs")
