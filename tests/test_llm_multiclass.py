"""Multi-class LLM labelers: k-class log-prob scoring, bias correction, calibration within budget,
and the whole path through the fit CLI against a scripted OpenAI-compatible server (TREC, 6 classes)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml
from fake_openai_server import FakeOpenAIServer, Reply, row_text

from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMLabeler
from weaklabel.llm.calibration import VoteRule, fit_offsets
from weaklabel.matrix import LabelMatrix

# TREC's classes in the dataset's order (label.json): DESC, ENTY, HUM, ABBR, LOC, NUM.
WORDS = {"description": 0, "entity": 1, "human": 2, "abbreviation": 3, "location": 4, "number": 5}
PROMPT = (
    "What kind of answer does this question ask for? Answer with one word: description, entity, "
    "human, abbreviation, location or number.\n\nQuestion: {text}"
)
WORDS_TO_NAMES = {"description": "DESC", "entity": "ENTY", "human": "HUM", "abbreviation": "ABBR",
                  "location": "LOC", "number": "NUM"}
CUES = [("human", ("who ", "whom ")), ("location", ("where ", "what country", "what city")),
        ("number", ("how many", "how much", "when ", "what year", "how long")),
        ("abbreviation", ("stand for", "abbreviation")), ("description", ("why ", "how do", "how can", "what does"))]


def question(body) -> str:
    return row_text(body).rsplit("Question: ", 1)[-1].lower()


def biased_answer(body) -> Reply:
    """Like a small model: a keyword cue gives the right class a lead, but "entity" is
    preferred by a wide margin on every question (and on content-free inputs)."""
    text = question(body)
    cue = next((word for word, keys in CUES if any(k in text for k in keys)), None)
    logprobs = {word: -6.0 for word in WORDS}
    logprobs["entity"] = -1.0
    if cue is not None:
        logprobs[cue] = -2.0  # right, but still below the bias
    top = sorted(logprobs.items(), key=lambda item: -item[1])
    return Reply(top[0][0], logprobs=[(word.capitalize(), lp) for word, lp in top])


@pytest.fixture(scope="module")
def trec(wrench_dir):
    return load_wrench(wrench_dir("trec"), "test"), load_wrench(wrench_dir("trec"), "valid")


def test_offsets_recover_a_shift_and_stay_finite_for_an_unseen_class():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 600)
    scores = np.eye(4)[gold] * 2.0 + rng.normal(0, 1, (600, 4)) + np.array([3.0, 0.0, -1.0, 0.0])
    offsets = fit_offsets(scores, gold)
    assert offsets[0] < offsets[1] - 2.0 and offsets[2] > offsets[1]  # the bias removed
    assert np.isfinite(offsets).all() and offsets[3] < offsets[1]  # class 3 never seen: pushed down, finite
    rule = VoteRule([0, 1, 2, 3]).calibrate(scores, gold, "f1")
    assert rule.score > 0.6 and (rule.votes(scores) == gold).mean() > (scores.argmax(axis=1) == gold).mean()


def test_six_classes_bias_corrected_without_labels_and_calibrated_within_the_budget(trec, tmp_path):
    (test, _, y), (valid, _, y_valid) = trec
    with FakeOpenAIServer(answer=biased_answer) as srv:
        options = {"model": "fake-model", "base_url": srv.base_url, "cache_path": tmp_path / "llm.sqlite"}
        raw = LLMLabeler("trec_llm", PROMPT, WORDS, bias="none", **options).apply_batch(test, progress=False)
        corrected = LLMLabeler("trec_llm", PROMPT, WORDS, **options).apply_batch(test, progress=False)
        srv.reset()
        calibrated = LLMLabeler("trec_llm", PROMPT, WORDS, max_rows=40, **options)
        calibrated.calibrate(valid, y_valid, progress=False)
        asked, calibration_rows = len(srv.chat_requests), calibrated.report_.rows
        votes = calibrated.apply_batch(test, progress=False)
    assert set(raw) == {WORDS["entity"]}  # the bias wins on every row
    assert len(set(corrected)) >= 5 and (corrected == y).mean() > (raw == y).mean() + 0.15
    assert calibration_rows == 40 and asked <= 40  # a stratified sample of 40 valid rows, not all 500
    assert calibrated.rule_.source == "calibrated" and len(calibrated.rule_.offsets) == 6
    assert (votes != ABSTAIN).sum() == 40 and len(set(votes[votes != ABSTAIN])) >= 4
    with pytest.raises(ValueError, match=r"score\(\) is the two-vote margin"):
        calibrated.score(test)
    assert calibrated.group_scores(test.iloc[:3], progress=False).shape == (3, 6)


def test_class_names_in_the_label_map_resolve_against_the_task(trec, tmp_path):
    labeler = LLMLabeler("trec_llm", PROMPT, WORDS_TO_NAMES, model="fake-model", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match=r"call validate\(class_names=\.\.\.\)"):
        labeler.vote_groups  # noqa: B018
    labeler.validate(class_names=["DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM"], columns=["text"])
    assert labeler.votes_of == WORDS
    with pytest.raises(ValueError, match="not classes of this task"):
        labeler.validate(class_names=["DESC", "ENTY", "HUM"])
    plain = LLMLabeler("trec_llm", PROMPT, WORDS, model="fake-model", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="outside the 4 classes"):
        plain.validate(cardinality=4)
    with pytest.raises(ValueError, match=r"the prompt uses \[.text.\], which the data lacks"):
        plain.validate(cardinality=6, columns=["question"])


def _config(tmp_path, wrench_dir, base_url: str, **labeler) -> dict:
    return {
        "name": "trec_llm", "seed": 0, "output_dir": str(tmp_path / "run"), "progress": False,
        "data": {"source": "wrench", "path": str(wrench_dir("trec"))},
        "llm_labelers": [{
            "name": "llm_question_type", "backend": "openai", "model": "fake-model", "base_url": base_url,
            "decoding": "logprobs", "max_rows": 40, "prompt": PROMPT, "labels": WORDS, **labeler,
        }],
        "label_model": {"kind": "majority_vote"},
        "student": {"kind": "tfidf"},
    }


def _fit(tmp_path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env_cache = {"WEAKLABEL_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "weaklabel.fit", "--config", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=600, env={**__import__("os").environ, **env_cache})


@pytest.mark.slow
def test_six_class_log_prob_labeler_through_the_fit_cli(tmp_path, wrench_dir):
    with FakeOpenAIServer(answer=biased_answer) as srv:
        done = _fit(tmp_path, _config(tmp_path, wrench_dir, srv.base_url))
        sent = len(srv.chat_requests)
    assert done.returncode == 0, done.stderr[-3000:]
    # calibration (40 valid rows) + 40 rows per split, some shared with calibration; + 3 content-free
    assert 40 < sent <= 4 * 40 + 3
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    usage = metrics["llm_labelers"]["llm_question_type"]
    assert usage["rows_in_budget"] == 3 * 40 and usage["errors"] == 0
    L = LabelMatrix.load(run / "label_matrix.npz")
    llm = L.votes[:, L.lf_names.index("llm_question_type")]
    voted = llm[llm != ABSTAIN]
    assert len(voted) == 40 and len(set(voted.tolist())) >= 4  # not one class on every row
    assert math.isfinite(metrics["test"]["student"]["accuracy"])
@pytest.mark.slow
def test_a_label_map_outside_the_classes_fails_before_any_request(tmp_path, wrench_dir):
    with FakeOpenAIServer(answer=biased_answer) as srv:
        done = _fit(tmp_path, _config(tmp_path, wrench_dir, srv.base_url, labels={**WORDS, "other": 6}))
        sent = len(srv.chat_requests)
    assert done.returncode == 2 and sent == 0
    assert "outside" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_class_names_in_the_config_label_map_and_a_typo_in_its_options(tmp_path, wrench_dir):
    names = WORDS_TO_NAMES
    with FakeOpenAIServer(answer=biased_answer) as srv:
        typo = _fit(tmp_path, _config(tmp_path, wrench_dir, srv.base_url, options={"temprature": 0.2}))
        unknown = _fit(tmp_path, _config(tmp_path, wrench_dir, srv.base_url, labels={**names, "other": "MISC"}))
        sent = len(srv.chat_requests)
    assert typo.returncode == 2 and "temprature" in typo.stderr and "unknown setting" in typo.stderr
    assert unknown.returncode == 2 and "['MISC'], which are not classes of this task" in unknown.stderr
    assert sent == 0



def test_the_bundled_trec_sample():
    from weaklabel.data import load_trec_questions

    data = load_trec_questions()
    assert data.groupby("split").size().to_dict() == {"test": 300, "train": 400, "valid": 150}
    assert set(data["label"]) == set(WORDS_TO_NAMES.values()) and not data["text"].duplicated().any()
    assert len(load_trec_questions("valid")) == 150
