"""Label models against their peers: real WRENCH matrices, synthetic data, speed and memory.

Three parts, each comparing weaklabel's ``LabelModel`` with Snorkel's LabelModel (default
settings) and majority vote in the same run (crowd-kit is not installed here, so its
Dawid–Skene is not run; weaklabel's ``DawidSkene`` is shown instead):

1. Real data (issue 4, target 1): fitted on train votes only, scored on test. Binary tasks
   report F1 of the positive class (spam), TREC accuracy. Two tie-breaking protocols:
   ``abstain`` (Snorkel's default: a tied row gets no label, which counts as a miss) and
   ``random`` (seeded coin flips). ``LabelModel +dev`` also gets the valid split's gold
   labels (``y_dev``). Snorkel runs with 5 seeds (mean; its fit is seed-dependent).
2. Synthetic (target 2): conditionally independent sources (accuracies U[0.55, 0.95],
   propensities U[0.1, 0.6]) against the Bayes-optimal posterior with the true parameters;
   then with 5 near-duplicate sources and with an 80/20 class balance. Accuracy, fitted and
   scored on the same rows, mean of 3 seeds.
3. Speed and memory (target 3): fit + predict_proba on n x m x k synthetic votes, each run in
   its own process (the faster of two runs); peak memory is the largest resident set size
   above the loaded votes, sampled every 5 ms. 10M x 50 x 2 is fitted from 250k-row chunks read from a file (only
   one chunk in memory at a time; the time includes reading).

Run from the repository root (about 15 minutes on 2 busy cores)::

    python -m benchmarks.label_models [--quick]

``--quick`` uses smaller synthetic and speed sizes (a smoke run; it does not write results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks._results import ROOT, SHARED_DATA, write_results
from weaklabel.data import load_wrench_stack
from weaklabel.label_models import DawidSkene, LabelModel, MajorityVote, SnorkelLabelModel
from weaklabel.label_models.synthetic import bayes_posterior, make_synthetic_votes, with_copies
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions

__all__ = ["main"]

DATASETS = [
    "youtube",
    "sms",
    "trec",
    "youtube_prompted_original",
    "sms_prompted_original",
    "youtube+youtube_prompted_original",
    "sms+sms_prompted_original",
]
SNORKEL_SEEDS = (0, 1, 2, 3, 4)
PROTOCOLS = ("abstain", "random")


# ---------------------------------------------------------------------- 1. real data
def _split(name: str, split: str) -> tuple[LabelMatrix, np.ndarray]:
    _, L, y = load_wrench_stack([SHARED_DATA / part for part in name.split("+")], split)
    return L, y


def primary_score(pred: np.ndarray, y: np.ndarray, cardinality: int) -> float:
    """Spam F1 (binary) or accuracy, in points; an abstained prediction (-1) is a miss."""
    if cardinality == 2:
        return 100 * score_predictions(y, np.where(pred < 0, 0, pred), ("f1",))["f1"]
    return 100 * float(np.mean(pred == y))


def _quiet_fit(model: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


def real_data() -> pd.DataFrame:
    rows = []
    for name in DATASETS:
        train, _ = _split(name, "train")
        valid, y_valid = _split(name, "valid")
        test, y_test = _split(name, "test")
        k = train.cardinality
        models: dict[str, list[Any]] = {
            "LabelModel": [_quiet_fit(LabelModel(random_state=0), train)],
            "LabelModel +dev": [
                _quiet_fit(LabelModel(random_state=0), train, y_dev=y_valid, L_dev=valid)
            ],
            "MajorityVote": [MajorityVote(random_state=0).fit(train)],
            "DawidSkene": [_quiet_fit(DawidSkene(random_state=0), train)],
        }
        # Snorkel's torch threads stall for seconds per fit on a busy machine; one thread
        # changes its speed, not its result
        with threadpool_limits(limits=1):
            models["Snorkel"] = [
                _quiet_fit(SnorkelLabelModel(random_state=s), train) for s in SNORKEL_SEEDS
            ]
        row: dict[str, Any] = {"dataset": name}
        for model_name, fitted in models.items():
            for protocol in PROTOCOLS:
                scores = [
                    primary_score(m.predict(test, tie_break=protocol), y_test, k) for m in fitted
                ]
                row[f"{model_name} ({protocol})"] = float(np.mean(scores))
        row["estimator"] = models["LabelModel"][0].estimator_
        row["estimator +dev"] = models["LabelModel +dev"][0].estimator_
        rows.append(row)
        print(f"  {name}: done", flush=True)
    table = pd.DataFrame(rows).set_index("dataset")
    numeric = table.select_dtypes("number")
    table.loc["mean"] = numeric.mean()
    return table.round(1)


def real_targets(table: pd.DataFrame) -> pd.DataFrame:
    """Target 1 per protocol: each dataset >= MV - 1 and >= Snorkel; mean >= best peer + 2."""
    rows = []
    for protocol in PROTOCOLS:
        for ours in ("LabelModel", "LabelModel +dev"):
            lm = table[f"{ours} ({protocol})"]
            mv, sn = table[f"MajorityVote ({protocol})"], table[f"Snorkel ({protocol})"]
            per = table.index != "mean"
            rows.append(
                {
                    "protocol": protocol,
                    "model": ours,
                    ">= MV - 1 on": f"{int((lm[per] >= mv[per] - 1).sum())}/{int(per.sum())}",
                    "misses vs MV": ", ".join(lm[per].index[lm[per] < mv[per] - 1]) or "-",
                    ">= Snorkel on": f"{int((lm[per] >= sn[per]).sum())}/{int(per.sum())}",
                    "misses vs Snorkel": ", ".join(lm[per].index[lm[per] < sn[per]]) or "-",
                    "mean": lm["mean"],
                    "best peer mean": max(mv["mean"], sn["mean"]),
                    "mean margin": round(lm["mean"] - max(mv["mean"], sn["mean"]), 1),
                }
            )
    return pd.DataFrame(rows).set_index(["protocol", "model"])


# ---------------------------------------------------------------------- 2. synthetic
def _accuracy(model: Any, votes: LabelMatrix, y: np.ndarray) -> float:
    return 100 * float(np.mean(model.predict(votes) == y))


def synthetic(n_rows: int, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    scenarios: dict[str, Callable[[int], Any]] = {
        "independent, k=2, m=10": lambda s: make_synthetic_votes(n_rows, 10, 2, random_state=s),
        "independent, k=4, m=10": lambda s: make_synthetic_votes(n_rows, 10, 4, random_state=s),
        "5 near-duplicates (m=14)": lambda s: with_copies(
            make_synthetic_votes(n_rows, 10, 2, random_state=s),
            source=0,
            n_copies=4,
            random_state=s,
        ),
        "80/20 class balance": lambda s: make_synthetic_votes(
            n_rows, 10, 2, class_balance=[0.8, 0.2], random_state=s
        ),
    }
    rows = []
    for scenario, make in scenarios.items():
        scores: dict[str, list[float]] = {}
        for seed in seeds:
            data = make(seed)
            votes, y = data.votes, data.y
            # with copies, the independent sources alone give (nearly) the optimum
            m = 10 if "duplicates" in scenario else votes.n_sources
            bayes = bayes_posterior(
                votes.votes[:, :m], data.cond_probs[:m], data.class_balance
            ).argmax(axis=1)
            scores.setdefault("Bayes-optimal", []).append(100 * float(np.mean(bayes == y)))
            with threadpool_limits(limits=1):
                fitted = {
                    "LabelModel": _quiet_fit(LabelModel(random_state=seed), votes),
                    "MajorityVote": MajorityVote(random_state=seed).fit(votes),
                    "DawidSkene": _quiet_fit(DawidSkene(random_state=seed), votes),
                    "Snorkel": _quiet_fit(SnorkelLabelModel(random_state=seed), votes),
                }
            for name, model in fitted.items():
                scores.setdefault(name, []).append(_accuracy(model, votes, y))
            scores.setdefault("LabelModel estimator", []).append(
                fitted["LabelModel"].estimator_ == "generative"
            )
        row = {
            name: float(np.mean(v)) for name, v in scores.items() if name != "LabelModel estimator"
        }
        row["generative chosen"] = f"{sum(scores['LabelModel estimator'])}/{len(seeds)}"
        rows.append({"scenario": scenario, **row})
        print(f"  {scenario}: done", flush=True)
    table = pd.DataFrame(rows).set_index("scenario").round(2)
    table["LabelModel - Bayes"] = (table["LabelModel"] - table["Bayes-optimal"]).round(2)
    table["LabelModel - MV"] = (table["LabelModel"] - table["MajorityVote"]).round(2)
    return table


# ---------------------------------------------------------------------- 3. speed and memory
def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _measure(func: Callable[[], Any]) -> tuple[float, float]:
    """(seconds, peak resident MB above the level before the call), RSS sampled every 5 ms."""
    baseline = _rss_mb()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    func()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, max(peak[0], _rss_mb()) - baseline


def _write_chunks(path: str, n_rows: int, n_sources: int, k: int, chunk: int = 250_000) -> None:
    """Raw int8 votes on disk, drawn chunk by chunk with the same source parameters."""
    params = make_synthetic_votes(1, n_sources, k, random_state=0)
    with open(path, "wb") as out:
        for start in range(0, n_rows, chunk):
            data = make_synthetic_votes(
                min(chunk, n_rows - start),
                n_sources,
                k,
                accuracy=params.accuracy,
                propensity=params.propensity,
                random_state=start,
            )
            out.write(data.votes.votes.tobytes())


def _read_chunks(path: str, n_sources: int, chunk: int = 250_000) -> Iterator[np.ndarray]:
    """The votes file in row chunks: only one chunk is in memory at a time."""
    with open(path, "rb") as source:
        while block := source.read(chunk * n_sources):
            yield np.frombuffer(block, dtype=np.int8).reshape(-1, n_sources)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed run in this (fresh) process; see :func:`speed`.

    Libraries are imported before the clock starts — torch for Snorkel, scipy.optimize (which
    weaklabel imports on first fit) for weaklabel — so neither timing includes imports.
    """
    import scipy.optimize
    import scipy.sparse.csgraph
    import scipy.special  # noqa: F401

    if spec["model"] == "weaklabel-chunks":
        model = LabelModel(cardinality=spec["k"], random_state=0)
        seconds, peak = _measure(lambda: model.fit_chunks(_read_chunks(spec["path"], spec["m"])))
        return {"fit_s": seconds, "peak_mb": peak, "estimator": model.estimator_}
    votes = np.load(spec["path"])
    k = spec["k"]
    if spec["model"] == "weaklabel":
        model = LabelModel(cardinality=k, random_state=0)
        fit, predict = (lambda: model.fit(votes)), (lambda: model.predict_proba(votes))
    else:
        from snorkel.labeling.model import LabelModel as Snorkel

        model = Snorkel(cardinality=k, verbose=False)
        fit, predict = (
            (lambda: model.fit(votes, progress_bar=False, seed=0)),
            (lambda: model.predict_proba(votes)),
        )
    with warnings.catch_warnings(), threadpool_limits(limits=spec.get("threads")):
        warnings.simplefilter("ignore")
        fit_s, fit_mb = _measure(fit)
        predict_s, predict_mb = _measure(predict)
    return {"fit_s": fit_s, "predict_s": predict_s, "peak_mb": max(fit_mb, predict_mb)}


def _run_child(spec: dict[str, Any], repeats: int = 2) -> dict[str, Any]:
    """The fastest of ``repeats`` fresh-process runs (the least disturbed by other jobs)."""
    best: dict[str, Any] | None = None
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.label_models", "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"benchmark child {spec} failed:\n{result.stderr[-2000:]}")
        run = json.loads(result.stdout.strip().splitlines()[-1])
        total = run["fit_s"] + run.get("predict_s", 0.0)
        if best is None or total < best["fit_s"] + best.get("predict_s", 0.0):
            best = run
    assert best is not None
    return best


def speed(sizes: list[tuple[int, int, int]], chunked: tuple[int, int, int] | None) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, m, k in sizes:
            path = str(Path(tmp) / f"votes_{n}_{m}_{k}.npy")
            np.save(path, make_synthetic_votes(n, m, k, random_state=0).votes.votes)
            runs = {
                "weaklabel LabelModel": {"model": "weaklabel"},
                "Snorkel (default threads)": {"model": "snorkel"},
                "Snorkel (1 thread)": {"model": "snorkel", "threads": 1},
            }
            results = {
                name: _run_child({**spec, "path": path, "k": k}) for name, spec in runs.items()
            }
            ours = results["weaklabel LabelModel"]
            for name, result in results.items():
                total = result["fit_s"] + result["predict_s"]
                rows.append(
                    {
                        "n x m x k": f"{n:,} x {m} x {k}",
                        "model": name,
                        "fit s": result["fit_s"],
                        "predict_proba s": result["predict_s"],
                        "total s": total,
                        "peak MB above data": result["peak_mb"],
                        "ours faster by": total / (ours["fit_s"] + ours["predict_s"]),
                        "ours uses memory share": ours["peak_mb"] / max(result["peak_mb"], 1e-9),
                    }
                )
            print(f"  {n} x {m} x {k}: done", flush=True)
    if chunked:
        n, m, k = chunked
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "votes.int8")
            _write_chunks(path, n, m, k)
            result = _run_child({"model": "weaklabel-chunks", "path": path, "m": m, "k": k})
        rows.append(
            {
                "n x m x k": f"{n:,} x {m} x {k} (chunks)",
                "model": "weaklabel LabelModel.fit_chunks",
                "fit s": result["fit_s"],
                "predict_proba s": float("nan"),
                "total s": result["fit_s"],
                "peak MB above data": result["peak_mb"],
                "ours faster by": float("nan"),
                "ours uses memory share": float("nan"),
            }
        )
        print(f"  {n} x {m} x {k} from chunks: done", flush=True)
    return pd.DataFrame(rows).set_index(["n x m x k", "model"]).round(3)


# ---------------------------------------------------------------------- main
NOTES = """
Protocols. Binary datasets: F1 of the positive class (spam); TREC: accuracy; points.
`abstain`: ties are not labelled and count as misses (Snorkel's default for both its
LabelModel and majority vote); `random`: ties broken by a seeded coin. weaklabel's
LabelModel learns a class prior and almost never ties, so its two columns agree; majority
vote and Snorkel (uniform prior) tie on every row without a vote — on `sms` that is 60% of
the rows, where coin flips make up most of the spam F1 under `random`.
Snorkel: default settings, mean of seeds 0-4, one BLAS/OpenMP thread for the real-data and
synthetic parts (same results, minutes faster on a busy machine); the speed part runs it
with default threads and with one thread. crowd-kit is not installed, so its Dawid-Skene is
not run; weaklabel's DawidSkene stands in for that family.
Timings were measured on a shared 2-core machine under load from other jobs: compare
ratios within one run, not absolute seconds.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small synthetic and speed sizes; no results written"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    tables: dict[str, pd.DataFrame] = {}
    print("real data", flush=True)
    tables["Real data: test scores (points)"] = real = real_data()
    tables["Real data: targets"] = real_targets(real)
    print("synthetic", flush=True)
    tables["Synthetic: accuracy (%)"] = synthetic(20_000 if args.quick else 100_000)
    print("speed and memory", flush=True)
    if args.quick:
        tables["Speed and memory"] = speed([(200_000, 50, 4)], (1_000_000, 50, 2))
    else:
        tables["Speed and memory"] = speed(
            [(1_000_000, 50, 4), (1_000_000, 50, 2), (1_000_000, 10, 4)], (10_000_000, 50, 2)
        )
    if args.quick:
        for title, table in tables.items():
            print(f"\n## {title}\n{table.to_string()}")
        return
    write_results("label_models", tables, notes=NOTES)


if __name__ == "__main__":
    main()
