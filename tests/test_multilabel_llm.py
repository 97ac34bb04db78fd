"""LLM labelers in multi-label runs, over HTTP with the scripted OpenAI-compatible server:
the set answers of real LLMs (tropes) replayed through set labelers, and per-label yes/no
prompts plus a set prompt in a ``task: multilabel`` config run by ``weaklabel.fit``."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
from fake_openai_server import FakeOpenAIServer, Reply, row_text

from weaklabel.fit import run
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMLabelSetLabeler
from weaklabel.llm.label_sets import option_codes
from weaklabel.multilabel import MAMS_CLASSES, MultiLabelMatrix, apply_multilabel_lfs, load_mams
from weaklabel.multilabel.label_model import MultiLabelMajorityVote, MultiLabelModel

MODELS = ["chatgpt", "flan-ul2", "text-davinci-003", "text-ada-001"]
TROPES_PROMPT = "Which character tropes does the speaker of these lines show? Answer with option codes.\n\nLines:\n{text}"


def test_real_llm_set_answers_become_per_label_votes(shared_data, tmp_path):
    """Four real LLMs' multiple-choice answers, served as chat completions: each set
    labeler's votes are PRESENT on the tropes it named, ABSENT on the 71 others, ABSTAIN
    everywhere on a row it did not answer — exactly the published votes."""
    root = shared_data / "llms_for_css" / "tropes_multilabel"
    names = json.loads((root / "label.json").read_text())
    classes = [names[str(i)] for i in range(len(names))]
    converted = json.loads((root / "test.json").read_text())
    rows = [converted[str(i)] for i in range(len(converted))]
    texts = [row["data"]["text"] for row in rows]
    position = {text: i for i, text in enumerate(texts)}
    answers = {}
    for model in MODELS:
        lines = (root / "raw" / f"answer-{model}").read_text().splitlines()
        answers[model] = {int(n): (a[0] if a else "") for n, _gold, *a in (line.split("\t") for line in lines)}

    def answer(body) -> Reply:
        i = position[row_text(body).split("Lines:\n", 1)[1]]
        return Reply(answers[body["model"]].get(i, ""))

    codes = dict(zip(option_codes(len(classes)), classes, strict=True))
    with FakeOpenAIServer(answer=answer) as server:
        labelers = [
            LLMLabelSetLabeler(model, TROPES_PROMPT, classes, codes=codes, model=model, base_url=server.base_url,
                               cache_path=tmp_path / "llm.sqlite", decoding="text")
            for model in MODELS
        ]
        M = apply_multilabel_lfs(labelers, pd.DataFrame({"text": texts}), classes, progress=False)
    assert M.shape == (114, len(MODELS) * 72)
    for j, model in enumerate(MODELS):
        block = M.select([f"{model}:{c}" for c in classes]).votes
        column = json.loads((root / "lf_names.json").read_text()).index(model)
        for i, row in enumerate(rows):
            named = row["weak_labels"][column]
            expected = np.full(72, ABSTAIN) if named == -1 else np.isin(np.arange(72), named).astype(int)
            assert block[i].tolist() == expected.tolist(), (model, i)
        assert labelers[j].report_.abstains == sum(row["weak_labels"][column] == -1 for row in rows)
    Y = np.zeros((114, 72), dtype=np.int8)
    for i, row in enumerate(rows):
        Y[i, row["labels"]] = 1
    majority = MultiLabelMajorityVote().fit(M).evaluate(M, Y)
    model_scores = MultiLabelModel(random_state=0).fit(M).evaluate(M, Y)
    assert model_scores["macro_f1"] >= majority["macro_f1"] - 0.05  # both near zero on this set


# ---------------------------------------------------------------- the fit CLI with LLM prompts
ASPECT_WORDS = {"price": "prices", "ambience": "atmosphere"}


def _gold_of_bundled_mams() -> dict[str, set[str]]:
    gold = {}
    for split in ("train", "val", "test"):
        frame, Y = load_mams(split)
        for text, row in zip(frame["text"], Y, strict=True):
            gold[text] = {MAMS_CLASSES[c] for c in np.flatnonzero(row)}
    return gold


def _noisy(text: str, salt: str) -> bool:
    """A deterministic 15% error, as a real model makes."""
    return zlib.crc32(f"{salt}|{text}".encode()) % 100 < 15


def test_fit_runs_per_label_yes_no_prompts_and_a_set_prompt(tmp_path):
    gold = _gold_of_bundled_mams()

    def answer(body) -> Reply:
        prompt = row_text(body)
        text = prompt.rsplit("Sentence: ", 1)[1]
        if prompt.startswith("List"):
            named = sorted(gold[text] - {"miscellaneous"})
            return Reply(", ".join(named) if not _noisy(text, "set") else "none")
        aspect = next(a for a, word in ASPECT_WORDS.items() if word in prompt.split("\n", 1)[0])
        present = (aspect in gold[text]) != _noisy(text, aspect)
        return Reply("Yes." if present else "No.")

    with FakeOpenAIServer(answer=answer) as server:
        endpoint = {"backend": "openai", "model": "fake-model", "base_url": server.base_url, "decoding": "text"}
        config = {
            "name": "mams_llm",
            "task": "multilabel",
            "output_dir": str(tmp_path / "run"),
            "progress": False,
            "data": {"source": "bundled", "name": "mams_acsa"},
            "lfs": {"modules": ["labeling_functions.mams"]},
            "llm_labelers": [
                {"name": f"llm_{aspect}", "label": aspect, "labels": {"yes": 1, "no": 0}, "max_rows": 120,
                 "prompt": f"Does this restaurant review sentence talk about {word}? Answer yes or no.\n\nSentence: {{text}}",
                 **endpoint}
                for aspect, word in ASPECT_WORDS.items()
            ] + [
                {"name": "llm_aspects", "answer": "label_set", "labels": {"waiter": 7, "decor": 0}, "max_rows": 120,
                 "prompt": "List the aspects this sentence mentions among: " + ", ".join(MAMS_CLASSES)
                 + ". Answer with a comma-separated list, or none.\n\nSentence: {text}", **endpoint},
            ],
            "student": {"kind": "none"},
        }
        result = run(config)
        sent = len(server.chat_requests)
    assert sent <= 3 * 3 * 120  # the budget: at most 120 rows per labeler and split
    M = MultiLabelMatrix.load(tmp_path / "run" / "label_matrix.npz")
    assert {"llm_price", "llm_ambience", "llm_aspects:food", "llm_aspects:staff"} <= set(M.lf_names)
    assert M.sources_of("price")[-2:] == ["llm_price", "llm_aspects:price"]
    price = M.select(["llm_price"]).votes.ravel()
    assert (price != ABSTAIN).sum() == 120 and set(np.unique(price)) == {-1, 0, 1}
    reports = result.metrics["llm_labelers"]
    assert set(reports) == {"llm_price", "llm_ambience", "llm_aspects"}
    test = result.metrics["test"]
    assert test["label_model"]["macro_f1"] >= test["majority_vote"]["macro_f1"] - 0.01
    report = (tmp_path / "run" / "report.html").read_text()
    assert "LLM labelers" in report and "llm_aspects" in report
