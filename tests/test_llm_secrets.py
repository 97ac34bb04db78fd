"""The API key never reaches logs, caches, reports or artifacts; a key where a variable name
belongs is refused without being echoed. Grep-based: every byte the run wrote is searched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_openai_server import FakeOpenAIServer, Status, row_text

from weaklabel.exceptions import ConfigError
from weaklabel.llm import LLMLabeler, LLMSettings

CANARY = "sk-LEAKCANARY-" + "9f8e7d6c5b4a" * 3
PROMPT = "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}"


@pytest.mark.parametrize("value", [CANARY, "sk_live_51HxQ2eLkdjf9384", "AIzaSyB0abcdefghijklmnop", "hf_AbCdEfGhIjKlMnOpQrStUv"])
def test_a_key_given_as_the_variable_name_is_refused_without_echo(value):
    for make in (lambda: LLMSettings(model="m", api_key_env=value),
                 lambda: LLMLabeler("llm", PROMPT, {"spam": 1, "ham": 0}, model="m", api_key_env=value)):
        with pytest.raises(ValueError) as info:
            make()
        message = str(info.value)
        assert value not in message and value[4:12] not in message
        assert "looks like an API key" in message or "environment variable" in message


def test_unknown_settings_never_echo_their_values():
    with pytest.raises(ConfigError) as info:
        LLMLabeler("llm", PROMPT, {"spam": 1, "ham": 0}, model="m", api_key=CANARY)  # a key in the wrong place
    assert "api_key: unknown setting" in str(info.value) and "LEAKCANARY" not in str(info.value)


def _leaky_server_script(key_seen: list[str]):
    """Echo the key back the way careless servers do: in refusals, in 5xx bodies."""

    def script(number, body):
        text = row_text(body)
        if "subscribe" in text.lower():
            return Status(400, message=f"This model's maximum context length is 10 tokens (key {CANARY})")
        if number % 7 == 3:
            return Status(500, message=f"upstream failed for Bearer {CANARY}")
        return None

    return script


@pytest.mark.slow
def test_the_key_is_in_no_file_log_or_output_of_a_fit_run(tmp_path, wrench_dir):
    """A whole run through the CLI — refusals and retries whose messages echo the key, debug
    logging — then every file under the output and cache folders and every line printed is
    searched for the key."""
    key_seen: list[str] = []
    with FakeOpenAIServer(script=_leaky_server_script(key_seen)) as srv:
        config = {
            "name": "secrets", "seed": 0, "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
            "data": {"source": "wrench", "path": str(wrench_dir("youtube"))},
            "llm_labelers": [{
                "name": "llm_spam", "backend": "openai", "model": "fake-model", "base_url": srv.base_url,
                "api_key_env": "WEAKLABEL_TEST_KEY", "decoding": "text", "max_rows": 60, "prompt": PROMPT,
                "labels": {"spam": 1, "ham": 0}, "options": {"backoff_base": 0.01, "backoff_max": 0.05},
            }],
            "label_model": {"kind": "majority_vote"}, "student": {"kind": "none"},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "WEAKLABEL_TEST_KEY": CANARY, "PYTHONWARNINGS": "always"}
        code = "import logging, sys; logging.basicConfig(level=logging.DEBUG); from weaklabel.fit import main; sys.exit(main())"
        done = subprocess.run([sys.executable, "-c", code, "--config", str(path)], capture_output=True, text=True,
                              timeout=600, env=env)
        sent = [r.headers.get("authorization") for r in srv.chat_requests]
    assert done.returncode == 0, done.stderr[-3000:]
    assert sent and all(header == f"Bearer {CANARY}" for header in sent)  # the key was used...
    files = [p for folder in (tmp_path / "run", tmp_path / "cache") for p in Path(folder).rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files) and any(p.name == "metrics.json" for p in files)
    leaks = [str(p) for p in files if b"LEAKCANARY" in p.read_bytes()]
    leaks += [name for name, text in (("stdout", done.stdout), ("stderr", done.stderr)) if "LEAKCANARY" in text]
    assert not leaks  # ...and is nowhere in what the run wrote or printed
    assert "context_length" in (tmp_path / "run" / "metrics.json").read_text()  # the refusals were recorded
