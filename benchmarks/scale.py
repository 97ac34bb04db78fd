"""Scale: millions of rows from Parquet, in one process, on a Dask LocalCluster, out of core.

Synthetic data with a known answer: every row has a hidden class ``y`` (60% class 1) and 20
int8 features ``f00..f19``; feature ``j`` is ``round(20 * N(±mu_j, 1))`` (the sign is the
class) and LF ``j`` (vectorised) votes 1 above ``+t_j``, 0 below ``-t_j`` and abstains in
between, so its accuracy and coverage are known in closed form (see the LF table).
Rows are written as Parquet files of 250,000 rows (row ids in ``row_id``).

Each run is its own process, so its peak resident memory (``ru_maxrss``) is its own:

1. ``single``: pandas reads the Parquet dataset, ``weaklabel.apply_lfs``, ``LabelModel.fit``,
   ``predict_proba``, probabilities written to Parquet.
2. ``dask``: the same on a ``LocalCluster`` (2 worker processes, 1 thread each) through
   ``weaklabel.dask``: votes persisted on the workers, the fit from per-partition statistics,
   probabilities written per partition. Peak memory of the driver (which also runs the
   scheduler) and of each worker. Its probabilities are compared with ``single``'s.
3. ``snorkel``: Snorkel's LabelModel (default settings) fitted and predicting on the same
   vote matrix in memory (the votes are read from ``single``'s output, not timed).
4. ``stream``: out of core with ``weaklabel.stream`` (``apply_lfs_to_shards`` in 250k-row
   batches, ``LabelModel.fit_chunks``, ``predict_proba_to_parquet``) on a larger dataset.

Run from the repository root (about 10 minutes on 2 busy cores)::

    python -m benchmarks.scale [--rows 5000000] [--stream-rows 20000000] [--no-snorkel]

``--rows``/``--stream-rows`` make a quick run possible (``--stream-rows 0`` skips part 4);
the data go to a temporary folder unless ``--workdir`` is given (kept then, and reused when
already there). Results are written only for the full sizes unless ``--write`` is given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._results import ROOT, write_results

__all__ = ["main"]

N_LFS = 20
FILE_ROWS = 250_000
SCALE = 20.0
"""Features are stored as int8: round(SCALE * value), clipped."""
BALANCE = 0.6
SEED = 0
FEATURES = [f"f{j:02d}" for j in range(N_LFS)]
PHASES = ["start cluster", "read + apply", "fit", "predict"]


# ---------------------------------------------------------------- the synthetic task
def _lf_parameters() -> tuple[np.ndarray, np.ndarray]:
    """Separation ``mu_j`` and threshold ``t_j`` of each LF (accuracies ~0.6 to ~0.97)."""
    rng = np.random.default_rng(SEED)
    return rng.uniform(0.15, 0.9, N_LFS), rng.uniform(0.3, 1.2, N_LFS)


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _known_lf_table() -> pd.DataFrame:
    """Accuracy and coverage of every LF in closed form (the feature's rounding ignored)."""
    mus, ts = _lf_parameters()
    rows = []
    for j, (mu, t) in enumerate(zip(mus, ts, strict=True)):
        right, wrong = 1 - _phi(t - mu), _phi(-t - mu)  # P(vote y | y), P(vote other | y)
        rows.append(
            {
                "lf": f"lf_{j:02d}",
                "mu": mu,
                "threshold": t,
                "accuracy": right / (right + wrong),
                "coverage": right + wrong,
            }
        )
    return pd.DataFrame(rows).set_index("lf").round(3)


def _threshold_lf(j: int, threshold: float) -> Any:
    from weaklabel.lf import VectorizedLabelingFunction

    cut = round(SCALE * threshold)

    def vote(feature: pd.Series) -> np.ndarray:
        values = feature.to_numpy()
        return np.where(values > cut, 1, np.where(values < -cut, 0, -1)).astype(np.int8)

    return VectorizedLabelingFunction(f"lf_{j:02d}", vote, column=FEATURES[j])


def make_lfs() -> list[Any]:
    _, ts = _lf_parameters()
    return [_threshold_lf(j, t) for j, t in enumerate(ts)]


def write_dataset(folder: Path, n_rows: int) -> None:
    """``n_rows`` rows as Parquet files of FILE_ROWS rows, generated file by file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    mus, _ = _lf_parameters()
    folder.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(SEED).spawn(math.ceil(n_rows / FILE_ROWS))
    for number, (start, stream) in enumerate(
        zip(range(0, n_rows, FILE_ROWS), streams, strict=True)
    ):
        rng = np.random.default_rng(stream)
        n = min(FILE_ROWS, n_rows - start)
        y = (rng.random(n) < BALANCE).astype(np.int8)
        sign = (2 * y - 1).astype(np.float32)
        columns = {"row_id": np.arange(start, start + n, dtype=np.int64), "y": y}
        for j, mu in enumerate(mus):
            value = SCALE * (rng.standard_normal(n, dtype=np.float32) + sign * mu)
            columns[FEATURES[j]] = np.clip(np.rint(value), -127, 127).astype(np.int8)
        pq.write_table(pa.table(columns), folder / f"part-{number:05d}.parquet")


def _dataset(workdir: Path, n_rows: int) -> Path:
    folder = workdir / f"data-{n_rows}"
    if not (folder / "_complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_dataset(folder, n_rows)
        (folder / "_complete").touch()
    return folder


# ---------------------------------------------------------------- runs (each in its own process)
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _accuracy(probs_path: Path, data: Path) -> float:
    pred = pd.read_parquet(probs_path, columns=["predicted_index"])["predicted_index"].to_numpy()
    y = pd.read_parquet(data, columns=["y"])["y"].to_numpy()
    return float((pred == y).mean())


def run_single(data: Path, out: Path) -> dict[str, Any]:
    from weaklabel.apply import apply_lfs
    from weaklabel.label_models import LabelModel

    times: dict[str, float] = {}
    start = time.perf_counter()
    frame = pd.read_parquet(data, columns=["row_id", *FEATURES]).set_index("row_id")
    L = apply_lfs(make_lfs(), frame, cardinality=2, progress=False)
    del frame
    times["read + apply"] = time.perf_counter() - start
    mark = time.perf_counter()
    model = LabelModel(random_state=0).fit(L)
    times["fit"] = time.perf_counter() - mark
    mark = time.perf_counter()
    probs = model.predict_proba(L)
    table = pd.DataFrame(probs, columns=["prob_0", "prob_1"], index=L.index)
    table["predicted_index"] = probs.argmax(axis=1)
    table.to_parquet(out / "single.parquet")
    times["predict"] = time.perf_counter() - mark
    total = time.perf_counter() - start
    peak = _peak_mb()
    L.save(out / "votes.npz")  # for the Snorkel run, not timed
    return {
        "times": times,
        "total": total,
        "rows": L.n_rows,
        "estimator": model.estimator_,
        "peak_mb": {"process": peak},
        "accuracy": _accuracy(out / "single.parquet", data),
    }


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dask(data: Path, out: Path, workers: int) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from weaklabel import dask as wd
    from weaklabel.label_models import LabelModel

    times: dict[str, float] = {}
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        times["start cluster"] = time.perf_counter() - start
        mark = time.perf_counter()
        ddf = dd.read_parquet(data, columns=FEATURES, index="row_id")
        votes = wd.apply_lfs(make_lfs(), ddf, cardinality=2).persist()
        from distributed import wait

        wait(votes)
        times["read + apply"] = time.perf_counter() - mark
        mark = time.perf_counter()
        model = wd.fit_label_model(LabelModel(random_state=0), votes, cardinality=2, client=client)
        times["fit"] = time.perf_counter() - mark
        mark = time.perf_counter()
        wd.predict_proba_to_parquet(model, votes, str(out / "dask"), client=client)
        times["predict"] = time.perf_counter() - mark
        workers_mb = client.run(_worker_peak_mb)
        partitions = ddf.npartitions
    total = time.perf_counter() - start
    peaks = {"driver + scheduler": _peak_mb()}  # before the comparison reads both outputs
    single = pd.read_parquet(out / "single.parquet") if (out / "single.parquet").exists() else None
    mine = pd.read_parquet(out / "dask").sort_index()
    diff = None
    if single is not None:
        diff = float(
            np.abs(
                mine[["prob_0", "prob_1"]].to_numpy() - single[["prob_0", "prob_1"]].to_numpy()
            ).max()
        )
        assert mine.index.equals(single.index)
    peaks.update({f"worker {i}": mb for i, mb in enumerate(sorted(workers_mb.values()))})
    return {
        "times": times,
        "total": total,
        "rows": len(mine),
        "estimator": model.estimator_,
        "peak_mb": peaks,
        "max_abs_diff_vs_single": diff,
        "partitions": partitions,
        "accuracy": _accuracy(out / "dask", data),
    }


def run_snorkel(data: Path, out: Path) -> dict[str, Any]:
    from weaklabel.label_models import SnorkelLabelModel
    from weaklabel.matrix import LabelMatrix

    L = LabelMatrix.load(out / "votes.npz")
    base = _peak_mb()
    start = time.perf_counter()
    model = SnorkelLabelModel(cardinality=2, random_state=0).fit(L)
    fit = time.perf_counter() - start
    mark = time.perf_counter()
    probs = model.predict_proba(L)
    predict = time.perf_counter() - mark
    y = pd.read_parquet(data, columns=["y"])["y"].to_numpy()
    return {
        "times": {"fit": fit, "predict": predict},
        "total": fit + predict,
        "rows": L.n_rows,
        "peak_mb": {"process": _peak_mb(), "votes loaded": base},
        "accuracy": float((probs.argmax(axis=1) == y).mean()),
    }


def run_stream(data: Path, out: Path) -> dict[str, Any]:
    from weaklabel.label_models import LabelModel
    from weaklabel.stream import apply_lfs_to_shards, predict_proba_to_parquet

    times: dict[str, float] = {}
    start = time.perf_counter()
    shards = apply_lfs_to_shards(
        make_lfs(),
        data,
        out / "shards",
        batch_rows=FILE_ROWS,
        columns=FEATURES,
        id_column=None,
        cardinality=2,
        progress=False,
        resume=False,
    )
    times["read + apply"] = time.perf_counter() - start
    mark = time.perf_counter()
    model = LabelModel(cardinality=2, random_state=0).fit_chunks(shards.chunks())
    times["fit"] = time.perf_counter() - mark
    mark = time.perf_counter()
    predict_proba_to_parquet(model, shards, out / "stream.parquet", progress=False)
    times["predict"] = time.perf_counter() - mark
    total = time.perf_counter() - start
    return {
        "times": times,
        "total": total,
        "rows": shards.n_rows,
        "estimator": model.estimator_,
        "peak_mb": {"process": _peak_mb()},
        "accuracy": _accuracy(out / "stream.parquet", data),
    }


def _child(args: argparse.Namespace) -> None:
    data, out = Path(args.data), Path(args.out)
    runs = {
        "single": lambda: run_single(data, out),
        "dask": lambda: run_dask(data, out, args.workers),
        "snorkel": lambda: run_snorkel(data, out),
        "stream": lambda: run_stream(data, out),
    }
    print("RESULT " + json.dumps(runs[args.child]()), flush=True)


def _spawn(mode: str, data: Path, out: Path, workers: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.scale",
        "--child",
        mode,
        "--data",
        str(data),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    print(f"... {mode} on {data.name}", flush=True)
    wall = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["process_wall"] = time.perf_counter() - wall
    return result


# ---------------------------------------------------------------- report
def _row(name: str, result: dict[str, Any]) -> dict[str, Any]:
    peaks, times = result["peak_mb"], result["times"]
    working = result["total"] - times.get("start cluster", 0.0)
    return {
        "run": name,
        "rows": result["rows"],
        "wall s": round(result["total"], 1),
        "rows/s (without cluster start)": round(result["rows"] / working),
        **{f"{phase} s": round(times.get(phase, np.nan), 1) for phase in PHASES},
        "peak MB (largest process)": round(max(v for k, v in peaks.items() if k != "votes loaded")),
        "peak MB (all processes)": " / ".join(f"{k} {v:.0f}" for k, v in peaks.items()),
        "accuracy": round(result["accuracy"], 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--stream-rows", type=int, default=20_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-snorkel", action="store_true")
    parser.add_argument("--workdir", help="where the data and outputs go (default: a temp dir)")
    parser.add_argument("--write", action="store_true", help="write results for any size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return

    workdir = (
        Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="weaklabel-scale-"))
    )
    try:
        load = os.getloadavg()[0]
        out = workdir / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        start = time.perf_counter()
        data = _dataset(workdir, args.rows)
        print(
            f"dataset of {args.rows:,} rows written in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        results = {"single process": _spawn("single", data, out, args.workers)}
        results[f"Dask LocalCluster ({args.workers} workers)"] = _spawn(
            "dask", data, out, args.workers
        )
        if not args.no_snorkel:
            results["Snorkel LabelModel (fit + predict only)"] = _spawn(
                "snorkel", data, out, args.workers
            )
        if args.stream_rows:
            start = time.perf_counter()
            big = _dataset(workdir, args.stream_rows)
            print(
                f"dataset of {args.stream_rows:,} rows written in {time.perf_counter() - start:.0f} s"
            )
            results["out of core (weaklabel.stream)"] = _spawn("stream", big, out, args.workers)
        load_after = os.getloadavg()[0]
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    table = pd.DataFrame([_row(name, r) for name, r in results.items()]).set_index("run")
    dask_run = next(r for name, r in results.items() if name.startswith("Dask"))
    equal = pd.DataFrame(
        [
            {
                "check": "Dask vs single process: max absolute probability difference",
                "value": dask_run["max_abs_diff_vs_single"],
            },
            {
                "check": "Dask partitions",
                "value": dask_run["partitions"],
            },
        ]
    ).set_index("check")
    notes = f"""
{args.rows:,} synthetic rows x {N_LFS} vectorised threshold LFs (2 classes) read from Parquet
files of {FILE_ROWS:,} rows; {args.stream_rows:,} rows out of core. Wall times include reading
the Parquet data and writing the probabilities to Parquet (Snorkel's row: fit + predict on
the vote matrix already in memory). Peak memory is each process's peak resident set
(`ru_maxrss`); the Dask driver process also runs the scheduler. Accuracy is against the
hidden class of every row.

The machine has 2 CPU cores and was shared with other work while this ran (1-minute load
average {load:.1f} before, {load_after:.1f} after): absolute times are noisy, and the Dask
cluster's two worker processes compete with the driver and with that work for the same two
cores, so a LocalCluster cannot beat one process here; it is the path to more machines, and
its results equal the single-process ones (second table). Compare rows of one run only.
"""
    if (args.rows == 5_000_000 and args.stream_rows == 20_000_000) or args.write:
        write_results(
            "scale",
            {
                "Wall time, throughput and peak memory": table,
                "Equality": equal,
                "LFs (known accuracy and coverage)": _known_lf_table(),
            },
            notes=notes,
            rows=args.rows,
            stream_rows=args.stream_rows,
        )
    else:
        print(table.to_string())
        print(equal.to_string())


if __name__ == "__main__":
    main()
