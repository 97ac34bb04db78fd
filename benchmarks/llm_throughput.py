"""Throughput of LLMLabeler against a fault-injecting OpenAI-compatible server.

2,000 rows, 200 ms latency per request, max_concurrency=32: the ideal is 32 / 0.2 s = 160
requests/s. Measured clean and with 5% of requests answered 429 (Retry-After: 1) or 500,
against the peer a user would write: the plain ``openai`` async client (its own retries)
behind an ``asyncio.Semaphore(32)``, in the same run. The server runs in its own process
(tests/fake_openai_server.py) so it does not share the clients' GIL; the server counts
every answer per row, so "answered twice" and "lost" are what it saw.

    python benchmarks/llm_throughput.py [--rows 2000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import SHARED_DATA, write_results
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMLabeler

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Is this SMS spam or ham? Answer spam or ham.\n\nMessage: {text}"
LABELS = {"spam": 1, "ham": 0}
LATENCY, CONCURRENCY = 0.2, 32
IDEAL = CONCURRENCY / LATENCY


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


def run_ours(server: Server, data: pd.DataFrame, cache: Path) -> dict:
    labeler = LLMLabeler(
        "llm", PROMPT, LABELS, model="fake-model", base_url=server.base_url, max_concurrency=CONCURRENCY,
        cache_path=cache, decoding="text",
    )
    start = time.perf_counter()
    votes = labeler.apply_batch(data, progress=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "voted": int((votes != ABSTAIN).sum()), "requests": labeler.report_.requests_sent}


def run_plain(server: Server, data: pd.DataFrame) -> dict:
    import openai

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused")  # default: 2 retries
        semaphore = asyncio.Semaphore(CONCURRENCY)

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

    start = time.perf_counter()
    voted = asyncio.run(main())
    return {"seconds": time.perf_counter() - start, "voted": voted, "requests": None}


def measure(n: int, repeats: int) -> pd.DataFrame:
    data = rows(n)
    records = []
    for fault_rate in (0.0, 0.05):
        server = Server(fault_rate)
        try:
            for repeat in range(repeats):
                for client in ("weaklabel LLMLabeler", "openai + semaphore"):
                    server.reset()
                    with tempfile.TemporaryDirectory() as tmp:
                        cache = Path(tmp) / "llm.sqlite"
                        if client == "openai + semaphore":
                            result = run_plain(server, data)
                        else:
                            result = run_ours(server, data, cache)
                        stats = server.stats()
                        record = {
                            "faults": f"{fault_rate:.0%} 429/500",
                            "client": client,
                            "repeat": repeat,
                            "seconds": result["seconds"],
                            "requests/s": n / result["seconds"],
                            "% of ideal": 100 * n / result["seconds"] / IDEAL,
                            "requests sent": stats["requests"],
                            "rows answered": stats["answered_rows"],
                            "answered twice": stats["answered_twice"],
                            "rows lost": n - result["voted"],
                        }
                        if client == "weaklabel LLMLabeler":
                            server.reset()
                            rerun = run_ours(server, data, cache)
                            record["rerun (cached) s"] = rerun["seconds"]
                            record["rerun requests"] = server.stats()["requests"]
                        records.append(record)
                        print({k: round(v, 2) if isinstance(v, float) else v for k, v in record.items()}, flush=True)
        finally:
            server.close()
    return pd.DataFrame(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import openai  # noqa: F401  (imported before any timing, so neither client pays for it)

    raw = measure(args.rows, args.repeats)
    summary = (
        raw.groupby(["faults", "client"], sort=False)
        .agg(
            {
                "seconds": "median",
                "requests/s": "median",
                "% of ideal": "median",
                "requests sent": "median",
                "rows answered": "min",
                "answered twice": "max",
                "rows lost": "max",
                "rerun (cached) s": "median",
                "rerun requests": "max",
            }
        )
        .round(2)
    )
    notes = (
        f"{args.rows} distinct SMS texts, server latency {LATENCY * 1000:.0f} ms, max_concurrency={CONCURRENCY}: "
        f"ideal {IDEAL:.0f} requests/s. Median of {args.repeats} runs per cell (min/max for the counts); "
        "the two clients alternate on the same server process. Timings on a shared 2-core machine "
        "with other jobs running: compare the rows of one table, not machines."
    )
    write_results("llm_throughput", {"throughput": summary, "runs": raw.round(3)}, notes, rows=args.rows)


if __name__ == "__main__":
    main()
