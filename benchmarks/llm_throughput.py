"""Throughput of LLM labelers: the HTTP client under injected faults, and the local model.

**Endpoint** (part 1). 2,000 distinct SMS texts against the fault-injecting
OpenAI-compatible server (tests/fake_openai_server.py, in its own process so it does not
share the clients' GIL), 200 ms latency per request, in two settings: no faults at
max_concurrency=32 (ideal 160 requests/s) and 15% of requests answered 429
(Retry-After: 1) or 500 at max_concurrency=16 (ideal 80 requests/s). Clients, in turn on
the same server process:

- ``weaklabel`` — the LLMLabeler as shipped (stock httpx transport of the openai client);
- ``weaklabel, transport="lean"`` — the same client over the optional hand-written
  HTTP/1.1 transport (weaklabel/llm/transport.py), which shows why that option exists;
- ``weaklabel <rev>`` — the labeler of an earlier commit (``--baseline``), run from a
  ``git archive`` of that commit in a subprocess: the "before" of the same run;
- ``openai + semaphore`` — what a user would write: the plain async openai client (its
  own 2 retries) behind an ``asyncio.Semaphore``.

**Local model** (part 2). SmolLM2-135M-Instruct in-process scoring 200 YouTube test rows
(label-word log-probabilities, fresh cache, model loaded first, one torch thread): the
current code against the baseline commit's, alternating, in the same run. Besides wall
time, each run reports rows per CPU second of its own process, which other jobs on a
shared machine disturb far less than wall time; on an idle machine one thread's rows/s
equals it, and two threads give up to twice that.

Both parts report the process's own CPU time for that reason: "client CPU ms / request"
is what each client spends per HTTP request, which decides how close it can get to the
ideal rate on two cores.

    python benchmarks/llm_throughput.py [--rows 2000] [--repeats 2] [--baseline REV]
                                         [--parts endpoint local]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import SHARED_DATA, write_results

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Is this SMS spam or ham? Answer spam or ham.\n\nMessage: {text}"
LABELS = {"spam": 1, "ham": 0}
LATENCY = 0.2
SETTINGS = [(0.0, 32), (0.15, 16)]  # (fault rate, max_concurrency)
BASELINE = "ba5ab23"  # the labeler before the redesign (issue 14)
LOCAL_PROMPT = (
    "Classify this YouTube comment as spam or ham. Spam promotes a channel, product or link; "
    "ham is a reaction to the video. Answer with one word: spam or ham.\n\nComment: {text}"
)


def rows(n: int) -> pd.DataFrame:
    """``n`` distinct real SMS texts (synthetic ones if the shared data is absent)."""
    try:
        from weaklabel.data import load_wrench

        data, _, _ = load_wrench(SHARED_DATA / "sms", "train")
        texts = list(dict.fromkeys(data["text"]))
    except FileNotFoundError:
        texts = []
    texts += [f"synthetic message {i}" for i in range(max(0, n - len(texts)))]
    return pd.DataFrame({"text": texts[:n]})


class Server:
    """The fake server in a child process; ``stats()`` and ``reset()`` over HTTP."""

    def __init__(self, fault_rate: float) -> None:
        command = [
            sys.executable, str(ROOT / "tests" / "fake_openai_server.py"),
            "--latency", str(LATENCY), "--fault-rate", str(fault_rate), "--retry-after", "1",
        ]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().split()[1]

    def _call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.base_url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------- the clients
_RUN_LABELER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import pandas as pd
import openai  # imported before timing, as for the other clients
from weaklabel.llm import LLMLabeler
data = pd.read_json(sys.argv[2])
lab = LLMLabeler("llm", {prompt!r}, {labels!r}, model="fake-model", base_url=sys.argv[3],
                 max_concurrency=int(sys.argv[4]), cache_path=sys.argv[5], decoding="text", {options})
start, cpu = time.perf_counter(), time.process_time()
votes = lab.apply_batch(data, progress=False)
print(json.dumps({{"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "voted": int((votes != -1).sum())}}))
"""


def run_labeler(code_root: Path, data_file: Path, server: Server, concurrency: int, cache: Path, lean: bool) -> dict:
    """One labeling run in a fresh process (so every client pays its own imports before timing)."""
    script = _RUN_LABELER.format(options='transport="lean"' if lean else "", prompt=PROMPT, labels=LABELS)
    args = [sys.executable, "-c", script, str(code_root), str(data_file), server.base_url, str(concurrency), str(cache)]
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_plain(server: Server, data: pd.DataFrame, concurrency: int) -> dict:
    import openai

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused")  # default: 2 retries
        semaphore = asyncio.Semaphore(concurrency)

        async def one(text: str) -> bool:
            async with semaphore:
                try:
                    await client.chat.completions.create(
                        model="fake-model", messages=[{"role": "user", "content": PROMPT.format(text=text)}],
                        temperature=0, max_tokens=10,
                    )
                except openai.APIError:
                    return False
                return True

        done = await asyncio.gather(*(one(t) for t in data["text"]))
        await client.close()
        return sum(done)

    start, cpu = time.perf_counter(), time.process_time()
    voted = asyncio.run(main())
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "voted": voted}


def baseline_tree(rev: str, folder: Path) -> Path:
    """The ``weaklabel`` package of commit ``rev``, extracted under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "weaklabel"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def measure_endpoint(n: int, repeats: int, baseline: str | None) -> pd.DataFrame:
    data = rows(n)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_file = tmp_path / "rows.json"
        data.to_json(data_file)
        old = baseline_tree(baseline, tmp_path / "baseline") if baseline else None
        clients = {"weaklabel": (ROOT, False), 'weaklabel, transport="lean"': (ROOT, True)}
        if old is not None:
            clients[f"weaklabel {baseline}"] = (old, False)
        for fault_rate, concurrency in SETTINGS:
            server = Server(fault_rate)
            try:
                for repeat in range(repeats):
                    for client in [*clients, "openai + semaphore"]:
                        server.reset()
                        cache = tmp_path / f"run-{len(records)}.sqlite"
                        if client == "openai + semaphore":
                            result = run_plain(server, data, concurrency)
                        else:
                            result = run_labeler(*clients[client][:1], data_file, server, concurrency, cache, clients[client][1])
                        stats = server.stats()
                        ideal = concurrency / LATENCY
                        record = {
                            "setting": f"{fault_rate:.0%} 429/500, concurrency {concurrency}", "client": client,
                            "repeat": repeat, "seconds": result["seconds"], "requests/s": n / result["seconds"],
                            "% of ideal": 100 * n / result["seconds"] / ideal,
                            "client CPU ms / request": 1000 * result["cpu"] / stats["requests"],
                            "requests sent": stats["requests"],
                            "rows answered": stats["answered_rows"], "answered twice": stats["answered_twice"],
                            "rows lost": n - result["voted"],
                        }
                        records.append(record)
                        print({k: round(v, 2) if isinstance(v, float) else v for k, v in record.items()}, flush=True)
            finally:
                server.close()
    return pd.DataFrame(records)


# ---------------------------------------------------------------- the local model
_RUN_LOCAL = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from weaklabel.data import load_wrench
from weaklabel.llm import LLMLabeler
from weaklabel.llm.local import LocalModel
data, _, _ = load_wrench(sys.argv[2], "test")
data = data.iloc[:int(sys.argv[4])]
options = json.loads(sys.argv[5])
start = time.perf_counter()
import weaklabel.llm.local as local
resolve = getattr(local, "resolve_dtype", lambda dtype: "float32")  # the baseline had no "auto"
LocalModel.load(dtype=resolve(options.get("dtype", "auto")))
load = time.perf_counter() - start
lab = LLMLabeler("smol", {prompt!r}, {labels!r}, backend="local", cache_path=sys.argv[3], num_threads=1, **options)
start, cpu = time.perf_counter(), time.process_time()
scores = lab.score(data, progress=False)
print(json.dumps({{"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "load": load,
                  "scores": scores.tolist()}}))
"""


def run_local(code_root: Path, rows_n: int, cache: Path, options: dict) -> dict:
    script = _RUN_LOCAL.format(prompt=LOCAL_PROMPT, labels={"spam": 1, "ham": 0})
    args = [sys.executable, "-c", script, str(code_root), str(SHARED_DATA / "youtube"), str(cache), str(rows_n), json.dumps(options)]
    env = {**os.environ, "PYTHONPATH": str(code_root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_local(rows_n: int, repeats: int, baseline: str | None) -> pd.DataFrame:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from weaklabel.data import load_wrench

    _, _, y = load_wrench(SHARED_DATA / "youtube", "test")
    y = y[:rows_n]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        variants = {"current, dtype='float32'": (ROOT, {"dtype": "float32"}), "current (defaults: dtype='auto')": (ROOT, {})}
        if baseline:
            variants[f"{baseline} (float32, batch 8)"] = (baseline_tree(baseline, tmp_path / "baseline"), {})
        reference = None
        for repeat in range(repeats):
            for name, (root, options) in variants.items():
                cache = tmp_path / f"local-{len(records)}.sqlite"
                result = run_local(root, rows_n, cache, options)
                scores = np.asarray(result["scores"])
                reference = scores if reference is None else reference
                record = {
                    "code": name, "repeat": repeat, "rows": rows_n, "seconds": result["seconds"],
                    "rows/s": rows_n / result["seconds"], "rows per CPU second": rows_n / result["cpu"],
                    "load s": result["load"],
                    "AUC": roc_auc_score(y, scores), "max |score - first|": float(np.abs(scores - reference).max()),
                    "correlation with first": float(np.corrcoef(scores, reference)[0, 1]),
                }
                records.append(record)
                print({k: round(v, 3) if isinstance(v, float) else v for k, v in record.items()}, flush=True)
    return pd.DataFrame(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--local-rows", type=int, default=200)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with ('' to skip)")
    parser.add_argument("--parts", nargs="+", default=["endpoint", "local"], choices=["endpoint", "local"])
    args = parser.parse_args()
    tables = {}
    notes = [
        textwrap.dedent(f"""
        Endpoint: {args.rows} distinct SMS texts, server latency {LATENCY * 1000:.0f} ms; ideal = concurrency / latency.
        Each weaklabel client runs in a fresh process; the clients alternate on the same server process;
        median of {args.repeats} runs per cell (max for the counts). Local: SmolLM2-135M-Instruct scoring
        {args.local_rows} YouTube test rows after the model is loaded, fresh cache, current code and the
        baseline commit alternating. The CPU (2 cores) is shared with other jobs: compare rows of one table.
        """).strip()
    ]
    if "endpoint" in args.parts:
        raw = measure_endpoint(args.rows, args.repeats, args.baseline or None)
        agg = {c: "median" for c in ("seconds", "requests/s", "% of ideal", "client CPU ms / request", "requests sent")}
        agg |= {c: "max" for c in ("answered twice", "rows lost")}
        tables["endpoint throughput"] = raw.groupby(["setting", "client"], sort=False).agg(agg).round(2)
        tables["endpoint runs"] = raw.round(3)
    if "local" in args.parts:
        raw = measure_local(args.local_rows, args.repeats, args.baseline or None)
        agg = {"rows per CPU second": "median", "rows/s": "median", "seconds": "median", "load s": "median", "AUC": "first",
               "max |score - first|": "max", "correlation with first": "min"}
        tables["local model"] = raw.groupby("code", sort=False).agg(agg).round(4)
        tables["local runs"] = raw.round(4)
    write_results("llm_throughput", tables, "\n".join(notes), rows=args.rows, baseline=args.baseline)


if __name__ == "__main__":
    main()
