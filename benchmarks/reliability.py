"""Reliability catalogue: about 90 bad inputs and faults through ``python -m weaklabel.fit``
and the Python API, each classified by what happened.

Each case runs in its own folder and its own process, against a chosen source tree (the
repository by default; ``--tree`` runs an older checkout, for a before/after comparison),
with a fault-injecting OpenAI-compatible server on 127.0.0.1 where the case needs an LLM.
The outcome classes:

- ``clear error``: the command exits 2 with a message naming the problem (no traceback), or
  the API raises a deliberate weaklabel error naming it;
- ``handled``: the run completes and its result is right (a bad row abstains and is
  counted, a corrupt cache is recomputed, the user's files are left alone...);
- ``traceback exit 1``: a deliberate weaklabel error that the command line did not turn into
  a message (a Python traceback, exit 1);
- ``raw library error``: an error from inside another library (pandas, yaml, numpy,
  sqlite, openai...), a crash, or a message that does not name the problem;
- ``silently wrong``: the run completes but its result is wrong (merged rows, stale votes,
  flipped classes, a secret written out);
- ``stall``: no result within the case's time limit;
- ``data loss``: a file the run did not write was changed or removed.

Error cases where paid requests were sent before the error are also counted apart.

Run from the repository root::

    python -m benchmarks.reliability --label after                       # this tree
    python -m benchmarks.reliability --label before --tree /path/to/old   # an older checkout
    python -m benchmarks.reliability --report                            # both, to results/

``--only ID,ID`` runs some cases (no results written).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._reliability_cases import CASES, Case, Context
from benchmarks._results import RESULTS_DIR, ROOT, write_results

CLASSES = [
    "clear error", "handled", "traceback exit 1", "raw library error", "silently wrong", "stall", "data loss",
]
_MEMORY_LIMIT = 6 << 30  # a case that tries to expand a YAML bomb fails, not the machine

_API_TEMPLATE = '''
import json, sys, traceback
sys.path.insert(0, {tree!r})

def case():
{body}

try:
    result = case()
    print("@@RESULT " + json.dumps(result, default=str))
except BaseException as exc:
    from weaklabel.exceptions import WeaklabelError
    frames = traceback.extract_tb(exc.__traceback__)
    print("@@RAISED " + json.dumps({{
        "type": type(exc).__name__, "weaklabel_error": isinstance(exc, WeaklabelError),
        "message": str(exc)[:2000], "inner": frames[-1].filename if frames else "",
    }}))
    sys.exit(3)
'''


@dataclass
class Run:
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    requests: int


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))


def _snapshot(folder: Path, paths: list[str]) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for name in paths:
        path = folder / name
        if path.is_dir():
            for inner in sorted(path.rglob("*")):
                if inner.is_file():
                    found[str(inner.relative_to(folder))] = inner.read_bytes()
        else:
            found[name] = path.read_bytes() if path.is_file() else None
    return found


def _execute(case: Case, folder: Path, tree: Path, ctx: Context) -> Run:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), str(folder)]),
        "PYTHONWARNINGS": "default",
        "NO_COLOR": "1",
        **ctx.env,
    }
    if case.via == "cli":
        command = [sys.executable, "-m", "weaklabel.fit", "--config", ctx.config_name, "--quiet", *ctx.cli_args]
    else:
        body = "\n".join("    " + line for line in ctx.api_body.strip().splitlines())
        (folder / "case.py").write_text(_API_TEMPLATE.format(tree=str(tree), body=body))
        command = [sys.executable, "case.py"]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=case.timeout,
            preexec_fn=_limit_memory,
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode = None
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
    requests = ctx.server.stats()["requests"] if ctx.server is not None else 0
    return Run(returncode, stdout, stderr, time.perf_counter() - start, requests)


def _inner_frame(stderr: str) -> str:
    frames = re.findall(r'File "([^"]+)", line \d+', stderr)
    return frames[-1] if frames else ""


def _last_line(text: str) -> str:
    """The exception line of a traceback (or the last line), not a warning printed after it."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b", line)]
    return errors[-1] if errors else (lines[-1] if lines else "")


def classify(case: Case, run: Run, folder: Path, ctx: Context, tree: Path) -> tuple[str, str]:
    """The outcome class of one case and a short note (the message or what was wrong)."""
    if run.returncode is None:
        return "stall", f"no result after {case.timeout} s"
    after = _snapshot(folder, list(ctx.protected))
    lost = [name for name, content in ctx.protected.items() if after.get(name) != content]
    if lost:
        return "data loss", f"changed or removed: {lost}"
    if ctx.secret and _leaks(folder, run, ctx.secret):
        return "silently wrong", "the secret was written out or printed"
    weaklabel_dir = str(tree / "weaklabel")
    if case.via == "cli":
        if run.returncode == 0:
            ok, note = case.check(folder, run, ctx) if case.check else (False, "completed; an error was expected")
            return ("handled" if ok else "silently wrong"), note
        message = _last_line(run.stderr)
        if run.returncode == 2 and "Traceback" not in run.stderr:
            errors = run.stderr[run.stderr.find("error:"):] if "error:" in run.stderr else run.stderr
            named = bool(re.search(case.names, errors, re.I | re.S))
            return ("clear error" if named else "raw library error"), _short(errors)
        inner = _inner_frame(run.stderr)
        named = bool(re.search(case.names, message, re.I | re.S))
        if "Traceback" in run.stderr and inner.startswith(weaklabel_dir) and named:
            return "traceback exit 1", _short(message)
        return "raw library error", _short(message or f"exit {run.returncode}")
    marker = next((line for line in run.stdout.splitlines() if line.startswith("@@")), "")
    if marker.startswith("@@RESULT "):
        result = json.loads(marker[len("@@RESULT "):])
        return ("handled" if result.get("ok") else "silently wrong"), _short(str(result.get("note", "")))
    if marker.startswith("@@RAISED "):
        raised = json.loads(marker[len("@@RAISED "):])
        named = bool(re.search(case.names, raised["message"], re.I | re.S))
        deliberate = raised["weaklabel_error"] or raised["inner"].startswith(weaklabel_dir)
        note = f"{raised['type']}: {raised['message']}"
        return ("clear error" if named and deliberate else "raw library error"), _short(note)
    return "raw library error", _short(_last_line(run.stderr) or f"exit {run.returncode}")


def _leaks(folder: Path, run: Run, secret: str) -> bool:
    if secret in run.stdout or secret in run.stderr:
        return True
    data = secret.encode()
    return any(data in path.read_bytes() for path in folder.rglob("*") if path.is_file() and path.name != "config.yaml")


_CASE_FOLDER = re.compile(r"/\S*?reliability-[a-z0-9]+-[a-z0-9_]+")


def _short(text: str, width: int = 220) -> str:
    """One line, the case's temporary folder written ``<case>``."""
    text = _CASE_FOLDER.sub("<case>", " ".join(text.split()))
    return text if len(text) <= width else text[: width - 3] + "..."


def run_case(case: Case, tree: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"reliability-{case.id}-") as tmp:
        folder = Path(tmp)
        server = None
        if case.server is not None:
            server = case.server()
            server.start()
        try:
            ctx = Context(folder=folder, server=server, env={"TREE": str(tree)})
            case.setup(ctx)
            ctx.write_config()
            ctx.protected = _snapshot(folder, ctx.protect)
            run = _execute(case, folder, tree, ctx)
            outcome, note = classify(case, run, folder, ctx, tree)
        finally:
            if server is not None:
                server.stop()
    paid = case.expect == "error" and outcome != "handled" and run.requests > 0 and case.free_before_error
    return {
        "id": case.id, "category": case.category, "case": case.what, "outcome": outcome,
        "paid_before_error": paid, "requests": run.requests, "seconds": round(run.seconds, 1), "note": note,
    }


def _results_file(label: str) -> Path:
    return RESULTS_DIR / f"reliability_{label}.json"


def _report() -> None:
    runs = {label: json.loads(_results_file(label).read_text()) for label in ("before", "after")}
    counts = pd.DataFrame(
        {label: Counter(row["outcome"] for row in rows["cases"]) for label, rows in runs.items()}
    ).reindex(CLASSES).fillna(0).astype(int)
    counts.loc["total"] = counts.sum()
    counts.loc["(errors after paid requests)"] = [
        sum(row["paid_before_error"] for row in rows["cases"]) for rows in runs.values()
    ]
    rows = []
    before = {row["id"]: row for row in runs["before"]["cases"]}
    for row in runs["after"]["cases"]:
        old = before.get(row["id"], {})
        rows.append({
            "id": row["id"], "category": row["category"], "case": row["case"],
            "before": old.get("outcome", "-"), "after": row["outcome"], "after: what happens": _short(row["note"]),
        })
    notes = (
        "Every case of `benchmarks/_reliability_cases.py` run through `python -m weaklabel.fit` "
        "(or the Python API) in its own process and folder; LLM cases against the fake "
        "OpenAI-compatible server. `before` is the code at the start of the reliability work "
        f"({runs['before']['tree']}), `after` the code at {runs['after']['tree']}. "
        "Outcome classes are defined in `benchmarks/reliability.py`."
    )
    cases = pd.DataFrame(rows).set_index("id")
    write_results("reliability", {"outcomes by class": counts, "every case": cases}, notes=notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to run (default: this repository)")
    parser.add_argument("--label", default="after", help="name of the results file (before / after)")
    parser.add_argument("--tree-name", default=None, help="how the results name the tree (e.g. a commit)")
    parser.add_argument("--only", default="", help="comma-separated case ids (nothing is written)")
    parser.add_argument("--update", action="store_true", help="with --only: replace those cases in the results")
    parser.add_argument("--report", action="store_true", help="combine the before and after results")
    args = parser.parse_args()
    if args.report:
        _report()
        return
    wanted = set(filter(None, args.only.split(",")))
    cases = [case for case in CASES if not wanted or case.id in wanted]
    results = []
    for case in cases:
        result = run_case(case, args.tree.resolve())
        results.append(result)
        print(f"{case.id:>5} {result['outcome']:<18} {result['seconds']:>6.1f}s  {result['note'][:110]}", flush=True)
    print(Counter(row["outcome"] for row in results))
    if wanted and args.update:
        payload = json.loads(_results_file(args.label).read_text())
        fresh = {row["id"]: row for row in results}
        payload["cases"] = [fresh.get(row["id"], row) for row in payload["cases"]]
        _results_file(args.label).write_text(json.dumps(payload, indent=1))
    elif not wanted:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        payload = {"tree": args.tree_name or str(args.label), "cases": results}
        _results_file(args.label).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
