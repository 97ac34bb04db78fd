"""Prompt templates, answer parsing, threshold calibration, the SQLite cache, reports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import AnswerParser, LLMCache, PromptTemplate
from weaklabel.llm._http import parse_retry_after, redact
from weaklabel.llm._run import TokenBucket as _TokenBucket
from weaklabel.llm.cache import cache_key, default_cache_path
from weaklabel.llm.calibration import best_threshold
from weaklabel.llm.report import CostBudget, LLMReport, cost_of, report_table

SPAM, HAM = 1, 0
LABELS = {"spam": SPAM, "ham": HAM}


# ---------------------------------------------------------------- prompts
def test_template_renders_rows_and_hash_tracks_content_only():
    prompt = PromptTemplate("Is this spam? Answer spam or ham.\n\nComment: {text}", system="Be brief.")
    messages = prompt.render({"text": "check my channel", "other": 1})
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Is this spam? Answer spam or ham.\n\nComment: check my channel"},
    ]
    same = PromptTemplate("Is this spam? Answer spam or ham.\n\nComment: {text}", system="Be brief.", name="x")
    edited = PromptTemplate("Is this spam? Answer spam or ham.\nComment: {text}", system="Be brief.")
    assert same.hash == prompt.hash  # the display name is not content
    assert edited.hash != prompt.hash
    assert PromptTemplate(prompt.template).hash != prompt.hash  # the system message is content


def test_template_rejects_what_it_cannot_render():
    with pytest.raises(ValueError, match="no \\{field\\}"):
        PromptTemplate("Is this spam?")
    with pytest.raises(ValueError, match="plain column name"):
        PromptTemplate("Is {row.text} spam?")
    with pytest.raises(ValueError, match="format spec"):
        PromptTemplate("Is {text!r} spam?")
    prompt = PromptTemplate("Is {text} spam? {{json}}")
    assert prompt.format_user({"text": "x"}) == "Is x spam? {json}"
    with pytest.raises(KeyError, match="needs the column\\(s\\) \\['text'\\]"):
        prompt.render_frame(pd.DataFrame({"body": ["a"]}))


def test_few_shot_is_seeded_stratified_and_drawn_from_dev_rows(wrench_dir):
    dev, _, y = load_wrench(wrench_dir("youtube"), "valid")
    template = "Spam or ham?\n\nComment: {text}"
    a = PromptTemplate.few_shot(template, dev, y, LABELS, k=4, seed=3)
    b = PromptTemplate.few_shot(template, dev, y, LABELS, k=4, seed=3)
    c = PromptTemplate.few_shot(template, dev, y, LABELS, k=4, seed=4)
    assert a.hash == b.hash and a.hash != c.hash
    answers = [answer for _, answer in a.examples]
    assert sorted(answers) == ["ham", "ham", "spam", "spam"]
    texts = set(dev["text"])
    assert all(fields["text"] in texts for fields, _ in a.examples)
    for fields, answer in a.examples:  # each example carries its gold answer
        pos = int(np.flatnonzero(dev["text"].to_numpy() == fields["text"])[0])
        assert answer == ("spam" if y[pos] == SPAM else "ham")
    messages = a.render({"text": "new row"})
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4 + ["user"]
    assert messages[-1]["content"].endswith("new row")


def test_aspect_prompt_asks_one_question_about_the_row():
    prompt = PromptTemplate.aspect("Does this comment ask people to visit a channel or link?")
    text = prompt.format_user({"text": "sub to me"})
    assert text.startswith("Does this comment ask people to visit a channel or link? Answer yes or no.")
    assert text.endswith("sub to me")


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("answer", "vote"),
    [
        ("spam", SPAM),
        ("Spam", SPAM),
        ("  SPAM\n", SPAM),
        ("spam.", SPAM),
        ('"ham"', HAM),
        ("**Ham**", HAM),
        ("Answer: spam", SPAM),
        ("answer - HAM!", HAM),
        ("Label: spam", SPAM),
        ("**Answer:** ham", HAM),
        ("The answer is ham.", HAM),
        ("spam - it promotes a channel", SPAM),
        ('{"label": "spam"}', SPAM),
        ('{"answer": "Ham"}', HAM),
        ("", ABSTAIN),
        (None, ABSTAIN),
        ("I'm sorry, I can't help with that.", ABSTAIN),
        ("This comment is spam or ham", ABSTAIN),
        ("spam or ham", ABSTAIN),
        ("not spam", ABSTAIN),
        ("spammy", ABSTAIN),
        ("maybe", ABSTAIN),
        ('{"label": "unsure"}', ABSTAIN),
    ],
)
def test_parser_maps_tolerated_forms_and_abstains_on_the_rest(answer, vote):
    assert AnswerParser(LABELS).vote(answer) == vote


def test_parser_prefers_the_longest_answer_word():
    parser = AnswerParser({"not spam": HAM, "spam": SPAM})
    assert parser.vote("Not spam.") == HAM
    assert parser.vote("spam") == SPAM


def test_parser_rejects_ambiguous_label_sets():
    with pytest.raises(ValueError, match="read the same"):
        AnswerParser({"Spam": 1, "spam!": 0})
    with pytest.raises(ValueError, match="no letters"):
        AnswerParser({"?": 1})


_WORD = st.sampled_from(list(LABELS))
_CASE = st.sampled_from([str.lower, str.upper, str.capitalize])
_DECOR = st.sampled_from(["", " ", "\n", ".", "!", '"', "**", "'"])
_LEAD = st.sampled_from(["", "Answer: ", "answer:", "ANSWER - ", "Label: ", "The answer is "])


@settings(max_examples=200, deadline=None)
@given(_WORD, _CASE, _DECOR, _DECOR, _LEAD)
def test_parser_property_every_decorated_label_maps_to_its_class(word, case, left, right, lead):
    answer = f"{left}{lead}{case(word)}{right}"
    assert AnswerParser(LABELS).vote(answer) == LABELS[word]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_parser_property_text_without_a_leading_label_abstains(text):
    parser = AnswerParser(LABELS)
    vote = parser.vote(text)
    words = text.casefold().replace("_", " ")
    if vote != ABSTAIN:  # a vote needs the label word, and only that one, in the answer
        named = [w for w in LABELS if w in words]
        assert named == [w for w, v in LABELS.items() if v == vote]


# ---------------------------------------------------------------- calibration
def test_best_threshold_on_a_hand_computed_example():
    scores = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
    y = np.array([1, 1, 0, 1, 0])
    # Voting 1 for the top two rows: F1(1) = 2*2/(2+3) = 0.8, F1(0) = 2*2/(3+2) = 0.8.
    threshold, value = best_threshold(scores, y, 1, 0, "f1")
    assert threshold == 1.5 and value == pytest.approx(0.8)
    # Accuracy: top two -> 4/5 right; top four -> 4/5 too; the first maximum wins.
    threshold, value = best_threshold(scores, y, 1, 0, "accuracy")
    assert value == pytest.approx(0.8) and threshold == 1.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 1)), min_size=2, max_size=30))
def test_best_threshold_property_matches_brute_force(pairs):
    scores = np.array([s for s, _ in pairs], dtype=float)
    y = np.array([c for _, c in pairs])

    def macro_f1(pred):
        out = []
        for c in (0, 1):
            tp = np.sum((pred == c) & (y == c))
            denom = np.sum(pred == c) + np.sum(y == c)
            out.append(2 * tp / denom if denom else 0.0)
        return np.mean(out)

    candidates = np.concatenate([[scores.max() + 1], scores - 0.5, [scores.min() - 1]])
    brute = max(macro_f1(np.where(scores > t, 1, 0)) for t in candidates)
    threshold, value = best_threshold(scores, y, 1, 0, "f1")
    assert value == pytest.approx(brute)
    assert macro_f1(np.where(scores > threshold, 1, 0)) == pytest.approx(value)


def test_best_threshold_for_an_aspect_prompt_scores_the_voted_class_only():
    scores = np.array([2.0, 1.0, 0.5, -1.0])
    y = np.array([1, 0, 1, 0])
    threshold, value = best_threshold(scores, y, 1, ABSTAIN, "f1")
    pred = np.where(scores > threshold, 1, ABSTAIN)
    tp = np.sum((pred == 1) & (y == 1))
    assert value == pytest.approx(2 * tp / (np.sum(pred == 1) + 2))
    with pytest.raises(ValueError, match="needs two classes"):
        best_threshold(scores, y, 1, ABSTAIN, "accuracy")


# ---------------------------------------------------------------- cache
def test_cache_is_wal_sqlite_and_keeps_the_first_answer(tmp_path):
    cache = LLMCache(tmp_path / "c" / "llm.sqlite")
    key = cache_key(endpoint="e", model="m", prompt="p", messages=[{"role": "user", "content": "x"}])
    assert key == cache_key(messages=[{"role": "user", "content": "x"}], prompt="p", model="m", endpoint="e")
    assert cache.get_many([key]) == {}
    cache.put(key, {"text": "spam"}, labeler="a")
    cache.put(key, {"text": "ham"}, labeler="a")  # a paid answer is never overwritten
    assert cache.get_many([key, "other"]) == {key: {"text": "spam"}}
    assert len(cache) == 1 and cache.count("a") == 1
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    cache.close()


def test_default_cache_location_follows_the_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv("WEAKLABEL_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_cache_path() == tmp_path / ".weaklabel_cache" / "llm.sqlite"
    monkeypatch.setenv("WEAKLABEL_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_path() == tmp_path / "elsewhere" / "llm.sqlite"


def test_cache_is_safe_with_several_processes_writing_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    script = textwrap.dedent(
        f"""
        import sys
        from weaklabel.llm.cache import LLMCache
        cache = LLMCache({str(path)!r})
        worker = sys.argv[1]
        for i in range(300):
            cache.put(f"{{worker}}-{{i}}", {{"text": str(i)}}, labeler=worker)
            cache.put(f"shared-{{i}}", {{"text": worker}}, labeler="shared")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    cache = LLMCache(path)
    assert len(cache) == 3 * 300 + 300
    assert all(cache.count(name) == 300 for name in ("a", "b", "c"))
    shared = cache.get_many(f"shared-{i}" for i in range(300))
    assert len(shared) == 300 and {r["text"] for r in shared.values()} <= {"a", "b", "c"}
    cache.close()


# ---------------------------------------------------------------- client helpers and reports
def test_retry_after_header_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_token_bucket_spaces_requests_at_the_configured_rate():
    now = [0.0]
    bucket = _TokenBucket(per_minute=120, clock=lambda: now[0])  # 2 per second, burst 2
    waits = [bucket.reserve(1) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    now[0] = 10.0  # refilled, but never above one second's worth
    assert [bucket.reserve(1) for _ in range(3)] == pytest.approx([0.0, 0.0, 0.5])


def test_redact_removes_the_key_and_key_like_tokens():
    text = "Incorrect API key provided: sk-proj-abcdef123456 (secret s3cr3t-value)"
    out = redact(text, "s3cr3t-value")
    assert "abcdef123456" not in out and "s3cr3t-value" not in out


def test_cost_and_budget():
    prices = {"m": (0.15, 0.60)}
    assert cost_of(prices, "m", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_of(prices, "other", 10, 10) is None
    budget = CostBudget(1.0, prices, "m")
    assert budget.try_reserve(0.6) and not budget.try_reserve(0.6)
    budget.settle(0.6, 0.3)
    assert budget.try_reserve(0.6)
    with pytest.raises(ValueError, match="needs the price of model 'x'"):
        CostBudget(1.0, prices, "x")
    report = LLMReport("a", "m", "openai", "text", rows=10, rows_in_budget=10, wall_time=2.0)
    table = report_table([report])
    assert table.loc["a", "rows_per_second"] == 5.0
    assert json.loads(json.dumps(report.as_dict()))["labeler"] == "a"
