"""Run an LLM-written Python LF on texts in a restricted subprocess.

Code an LLM wrote never runs in the caller's process. A fresh interpreter (isolated mode:
no site-packages path, no environment variables read, no user site) gets the code and the
texts on stdin and:

- limits: CPU seconds and address space (``resource``), no file may grow (``RLIMIT_FSIZE``
  = 0), a wall-clock timeout from the parent that kills it;
- an audit hook (PEP 578), installed before the code is compiled, refuses sockets, opening
  files for writing, deleting or renaming files, starting processes, ``ctypes`` and any
  import beyond ``re``, ``math``, ``string`` and ``unicodedata``;
- the code must define ``lf(text) -> bool``; a row on which it raises counts as not firing
  and is counted.

This is defence in depth for code a person has not read yet, not a security boundary
against a determined attacker: the written module always shows the code for review.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from weaklabel.exceptions import SandboxError

__all__ = ["SandboxError", "SandboxResult", "run_python_lf"]


@dataclass
class SandboxResult:
    fires: np.ndarray
    """Boolean mask: where ``lf(text)`` returned a true value."""
    n_errors: int
    """Rows on which ``lf`` raised (counted as not firing)."""
    first_error: str | None


_RUNNER = r"""
import json, re, math, string, unicodedata, sys
allowed = {"re", "math", "string", "unicodedata"}
def guard(event, args):
    if event == "import" and args[0].split(".")[0] not in allowed and args[0] not in sys.modules:
        raise PermissionError(f"import of {args[0]!r} is not allowed")
    if event == "open" and args[1] is not None and any(m in str(args[1]) for m in "wax+"):
        raise PermissionError("writing files is not allowed")
    if event.startswith(("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                         "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.kill",
                         "shutil.", "ctypes.", "os.system", "os.startfile", "pty.", "winreg.")):
        raise PermissionError(f"{event} is not allowed")
payload = json.loads(sys.stdin.read())
sys.addaudithook(guard)
namespace = {}
try:
    exec(compile(payload["code"], "<llm_lf>", "exec"), namespace)
    lf = namespace["lf"]
except BaseException as exc:
    print(json.dumps({"compile_error": f"{type(exc).__name__}: {exc}"[:300]}))
    sys.exit(0)
fires, errors, first = [], 0, None
for text in payload["texts"]:
    try:
        fires.append(bool(lf(text)))
    except Exception as exc:
        fires.append(False)
        errors += 1
        first = first or f"{type(exc).__name__}: {exc}"[:300]
print(json.dumps({"fires": fires, "errors": errors, "first_error": first}))
"""


def _limits(cpu_seconds: int, memory_mb: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    return apply


def _too_long(timeout: float) -> SandboxError:
    return SandboxError(f"the Python proposal ran longer than {timeout:g} s and was stopped")


def run_python_lf(
    code: str, texts: Sequence[str], *, timeout: float = 20.0, memory_mb: int = 512
) -> SandboxResult:
    """Where the LLM-written ``lf(text)`` in ``code`` fires on ``texts``, run in a sandbox."""
    if not isinstance(code, str) or "def lf" not in code:
        raise SandboxError("a Python proposal must define `def lf(text): ...` returning True or False")
    payload = json.dumps({"code": code, "texts": [t if isinstance(t, str) else "" for t in texts]})
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _RUNNER], input=payload, capture_output=True, text=True,
            timeout=timeout, preexec_fn=_limits(max(int(timeout), 1), memory_mb), check=False,
        )
    except subprocess.TimeoutExpired:
        raise _too_long(timeout) from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # the CPU-seconds limit, reached before the wall clock's
        raise _too_long(timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SandboxError(f"the Python proposal failed in the sandbox: {reason[:300]}")
    result = json.loads(lines[-1])
    if "compile_error" in result:
        raise SandboxError(f"the Python proposal does not define a usable lf(text): {result['compile_error']}")
    return SandboxResult(np.asarray(result["fires"], dtype=bool), int(result["errors"]), result["first_error"])
