"""LF proposals from an LLM over a scripted OpenAI-compatible server, and the Python sandbox.

The scripted answers are the LFs GPT-4 really wrote for YouTube spam (DataSculpt, in the
shared data folder): Porter-stemmed keywords, proposed here as word-prefix regexes.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer, Reply, row_text

from weaklabel import load_lfs
from weaklabel.analysis import error_slices
from weaklabel.data import load_wrench
from weaklabel.llm.cache import LLMCache
from weaklabel.suggest import SuggestSettings
from weaklabel.suggest.proposals import ProposalSettings, parse_proposals, propose_lfs
from weaklabel.suggest.sandbox import SandboxError, run_python_lf

CLASSES = ["HAM", "SPAM"]


def _datasculpt_answer(shared_data, model: str = "gpt-4-turbo") -> str:
    """The recorded GPT LFs for YouTube as the JSON a proposal request asks for."""
    lines = (shared_data / "datasculpt_llm_lfs" / "youtube" / f"{model}.txt").read_text().splitlines()
    lfs = []
    for line in lines:
        stem, label = line.rsplit("->", 1)
        words = [re.escape(w) + r"\w*" for w in stem.split()]
        lfs.append({"name": stem, "label": CLASSES[int(label)], "regex": r"\b" + r"\s+".join(words)})
    lfs.append({"name": "bad label", "label": "EGGS", "keywords": ["x"]})
    lfs.append({"name": "bad regex", "label": "SPAM", "regex": "(unclosed"})
    lfs.append({"name": "links", "label": "SPAM",
                "python": "import re\ndef lf(text):\n    return re.search(r'https?://', text) is not None"})
    lfs.append({"name": "writer", "label": "SPAM", "python": "def lf(text):\n    open('x', 'w')\n    return True"})
    return "```json\n" + json.dumps({"lfs": lfs}) + "\n```"


@pytest.fixture(scope="module")
def youtube(wrench_dir):
    train, L, y = load_wrench(wrench_dir("youtube"), "train")
    order = np.random.default_rng(0).permutation(len(train))
    return train, L, y, order[:150], order[150:]


@pytest.mark.shared_data
def test_recorded_gpt4_proposals_pass_the_same_gate_and_are_cached(youtube, shared_data, tmp_path):
    train, _, y, lab, unl = youtube
    answer = _datasculpt_answer(shared_data)
    prompts: list[str] = []

    def reply(body):
        prompts.append(row_text(body))
        return Reply(answer, prompt_tokens=900, completion_tokens=700)

    cache = LLMCache(tmp_path / "llm.sqlite")
    settings = ProposalSettings(model="fake-gpt", base_url=None, max_requests=1)
    with FakeOpenAIServer(answer=reply) as server:
        settings = settings.model_copy(update={"base_url": server.base_url})
        result = propose_lfs("Is a YouTube comment spam?", train.iloc[lab], y[lab], train.iloc[unl], CLASSES,
                             settings, cache=cache, suggest_settings=SuggestSettings(max_lfs=10))
        again = propose_lfs("Is a YouTube comment spam?", train.iloc[lab], y[lab], train.iloc[unl], CLASSES,
                            settings, cache=cache, suggest_settings=SuggestSettings(max_lfs=10))
    assert len(prompts) == 1 and result.n_requests == 1 and again.n_requests == 0  # the rerun paid nothing
    prompt = prompts[0]
    assert "Classes: HAM, SPAM" in prompt and "[SPAM]" in prompt and "[HAM]" in prompt
    assert 1 <= len(result) <= 10
    assert result.n_candidates == 60  # every recorded GPT-4 LF became a candidate
    for s in result.suggestions:
        assert s.family == "llm" and s.origin == "fake-gpt"
        assert s.stats["precision_lb"] >= result.settings.min_precision
    reasons = " | ".join(r["reason"] for r in result.rejected)
    assert "'EGGS' is not one of" in reasons and "does not compile" in reasons
    assert "writing files is not allowed" not in reasons  # it ran; its rows raised and count as misses
    python = {p.name: p for p in result.python}
    assert python["py_links_spam"].stats["support"] > 0 and python["py_links_spam"].stats["precision"] > 0.8
    assert python["py_writer_spam"].stats["errors"] == len(lab) + len(unl)
    assert not python["py_writer_spam"].stats["passed_gate"]
    path = result.write(tmp_path / "youtube_llm_suggested.py")
    text = path.read_text()
    assert "# def py_links_spam(x):" in text and "not active" in text
    assert [lf.name for lf in load_lfs(str(path))] == [s.name for s in result.suggestions]
    assert json.loads(result.to_json())["n_requests"] == 1


@pytest.mark.shared_data
def test_error_slices_go_into_the_prompt_within_the_request_budget(youtube, shared_data, tmp_path, wrench_dir):
    train, _, y, lab, unl = youtube
    prompted, Lp, yp = load_wrench(wrench_dir("youtube_prompted_original"), "train")
    slices = error_slices(Lp, Lp.lf_names[0], prompted, yp, kinds=("ngram", "pattern"), max_slices=3)
    prompts: list[str] = []

    def reply(body):
        prompts.append(row_text(body))
        return Reply(_datasculpt_answer(shared_data, "gpt-3.5-turbo"))

    with FakeOpenAIServer(answer=reply) as server:
        settings = ProposalSettings(model="fake-gpt", base_url=server.base_url, max_requests=2)
        result = propose_lfs("Is a YouTube comment spam?", train.iloc[lab], y[lab], train.iloc[unl], CLASSES,
                             settings, slices=slices, cache=LLMCache(tmp_path / "c.sqlite"))
    assert len(prompts) == 2 == result.n_requests  # 1 general + 3 slices asked, budget 2
    assert slices[0].description in prompts[0] and "errs most" in prompts[0]
    assert prompts[1].count("* ") == 1  # the second request is about one slice
    assert result.n_candidates > 0


def test_unreadable_answers_are_rejected_not_raised():
    parsed = parse_proposals(["sorry, I cannot", '{"lfs": "nope"}', '{"lfs": [{"label": 1, "keywords": []}]}'],
                             CLASSES)
    assert parsed.candidates == [] and len(parsed.rejected) == 3
    ok = parse_proposals(['{"lfs": [{"name": "Free!", "label": "spam", "keywords": ["free", "free", " win "]}]}'],
                         CLASSES)
    assert ok.candidates[0].keywords == ["free", "win"] and ok.candidates[0].label == 1
    assert ok.candidates[0].name == "llm_free_spam"


def test_a_refused_key_stops_at_once(tmp_path):
    from fake_openai_server import Status

    from weaklabel.exceptions import LLMStatusError

    with FakeOpenAIServer(script=lambda n, body: Status(401)) as server:
        settings = ProposalSettings(model="fake-gpt", base_url=server.base_url)
        with pytest.raises(LLMStatusError):
            propose_lfs("task", ["a b", "c d"], [0, 1], ["e"], CLASSES, settings, cache=LLMCache(tmp_path / "c.sqlite"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import socket\ndef lf(text):\n    return True", "import of 'socket' is not allowed"),
        ("def lf(text):\n    return open('/tmp/weaklabel_sandbox_probe', 'w') is None", "writing files"),
        ("def lf(text):\n    import subprocess\n    return True", "import of 'subprocess'"),
    ],
)
def test_the_sandbox_refuses_network_writes_and_processes(code, expected):
    try:
        result = run_python_lf(code, ["a", "b"])
    except SandboxError as exc:
        assert expected in str(exc)
    else:
        assert result.n_errors == 2 and expected in result.first_error
        assert not result.fires.any()


def test_the_sandbox_stops_runaway_code():
    with pytest.raises(SandboxError, match="longer than"):
        run_python_lf("def lf(text):\n    while True:\n        pass", ["a"], timeout=2)
    with pytest.raises(SandboxError, match=r"MemoryError|failed"):
        run_python_lf("BIG = bytearray(4 << 30)\ndef lf(text):\n    return True", ["a"], memory_mb=256)
    with pytest.raises(SandboxError, match="must define"):
        run_python_lf("x = 1", ["a"])
    fine = run_python_lf("def lf(text):\n    return 'free' in text.lower()", ["FREE now", "hello", None])
    assert fine.fires.tolist() == [True, False, False] and fine.n_errors == 0
