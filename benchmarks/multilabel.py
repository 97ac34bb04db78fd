"""The multi-label ladder on MAMS-ACSA: per-label majority vote -> label model -> students.

MAMS-ACSA (restaurant-review sentences, 2-5 of 8 aspect categories each) has gold labels
only; the sources are the hand-written per-label LFs of ``labeling_functions/mams.py``
(written on the train split, never tuned on val or test). The user is assumed to hold
100 labeled rows: a seeded sample of the val split ("dev"). Every rung is scored on the
400 test sentences, by macro F1 (the mean of the 8 labels' F1) and micro F1:

1. per-label majority vote (a label is present where its PRESENT votes outnumber ABSENT);
2. ``MultiLabelModel`` without dev rows, with the 100 dev rows (threshold 0.5), and with
   per-label thresholds tuned on the dev rows; an ablation without its co-occurrence step;
3. the TF-IDF student (one-vs-rest) and the MiniLM student (sigmoid head, full
   fine-tuning) trained on the label model's per-label probabilities for the train split,
   thresholds tuned on the 100 dev rows;
4. the same students trained on the train split's gold labels (the upper bound), and on
   the 100 labeled dev rows alone (what the user could do without weak supervision).

The same ladder on the 114-row tropes set (72 classes, the set answers of 13 real LLMs,
no train split) checks the label models where every source is an LLM naming a set.

Run from the repository root (the MiniLM students dominate: about 1 minute per epoch
on 2 quiet cores; each run is cached, so an interrupted run resumes)::

    python -m benchmarks.multilabel [--seeds 0 1 2] [--minilm-seeds 0] [--epochs 3] [--threads N]
    python -m benchmarks.multilabel --write-table runs/mams.jsonl   # the table configs/mams.yaml reads
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd

from benchmarks._results import ROOT, SHARED_DATA, write_results
from weaklabel import load_lfs
from weaklabel.multilabel import (
    MAMS_CLASSES,
    MultiLabelMatrix,
    apply_multilabel_lfs,
    label_set_function,
    load_mams,
    to_indicator,
)
from weaklabel.multilabel.analysis import lf_summary
from weaklabel.multilabel.label_model import MultiLabelMajorityVote, MultiLabelModel
from weaklabel.multilabel.metrics import (
    best_thresholds,
    multilabel_scores,
    per_label_scores,
    tuned_thresholds,
)

__all__ = ["main"]

N_DEV = 100
CACHE = ROOT / "runs" / "benchmark_cache" / "multilabel"


def _load() -> dict[str, tuple[list[str], np.ndarray, MultiLabelMatrix]]:
    folder = SHARED_DATA / "mams_acsa"
    lfs = load_lfs("labeling_functions.mams")
    out = {}
    for split in ("train", "val", "test"):
        frame, Y = load_mams(split, folder)
        out[split] = (frame["text"].tolist(), Y, apply_multilabel_lfs(lfs, frame, MAMS_CLASSES, progress=False))
    return out


def _dev_rows(seed: int, n_val: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(n_val)[:N_DEV])


def _scores(Y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    s = multilabel_scores(Y, pred)
    return {"macro_f1": 100 * s["macro_f1"], "micro_f1": 100 * s["micro_f1"], "per_label": (
        100 * per_label_scores(Y, pred, MAMS_CLASSES)["f1"]).round(2).to_dict()}


def _cached(key: str, compute: Any) -> dict[str, Any]:
    """A rung's result, computed once: students take minutes to hours on a CPU."""
    path = CACHE / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    start = time.perf_counter()
    result = compute()
    result["seconds"] = round(time.perf_counter() - start, 1)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    print(f"  {key}: macro {result['macro_f1']:.1f} micro {result['micro_f1']:.1f} ({result['seconds']} s)", flush=True)
    return result


RECIPE = "2"
"""Bumped when a rung's recipe changes (model, student or its defaults): cached results of
another recipe are not reused. The LF module's text is part of every key too."""


def _code_version() -> str:
    """The cache key part shared by every rung: the recipe and the LFs that made the votes."""
    lfs = (ROOT / "labeling_functions" / "mams.py").read_bytes()
    return f"r{RECIPE}-{hashlib.sha256(lfs).hexdigest()[:8]}"


def _label_model_rungs(data: dict[str, Any], seed: int, version: str) -> dict[str, dict[str, Any]]:
    (_, _, M), (_, Y_val, M_val), (_, Y_test, M_test) = data["train"], data["val"], data["test"]
    dev = _dev_rows(seed, len(Y_val))
    rungs = {}

    def model(dev_rows: bool, **options: Any) -> MultiLabelModel:
        fitted = MultiLabelModel(random_state=seed, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fitted.fit(M, Y_val[dev], M_val.take(dev)) if dev_rows else fitted.fit(M)

    rungs["majority vote"] = _cached(
        f"mv_{version}", lambda: _scores(Y_test, MultiLabelMajorityVote().fit(M).predict(M_test))
    )
    rungs["label model, no dev"] = _cached(
        f"lm_nodev_{seed}_{version}", lambda: _scores(Y_test, model(False).predict(M_test))
    )
    rungs["label model, no co-occurrence"] = _cached(
        f"lm_noco_{seed}_{version}", lambda: _scores(Y_test, model(True, co_occurrence=False).predict(M_test))
    )

    def with_dev() -> dict[str, Any]:
        fitted = model(True)
        return {**_scores(Y_test, fitted.predict(M_test)), "calibration": fitted.calibration_}

    rungs["label model"] = _cached(f"lm_{seed}_{version}", with_dev)

    def tuned() -> dict[str, Any]:
        fitted = model(True)
        thresholds = tuned_thresholds(Y_val[dev], fitted.predict_proba(M_val.take(dev)))
        return _scores(Y_test, fitted.predict(M_test, thresholds))

    rungs["label model, dev thresholds"] = _cached(f"lm_thr_{seed}_{version}", tuned)
    return rungs


def _student(kind: str, options: dict[str, Any]) -> Any:
    from weaklabel.students.multilabel import TfidfMultiLabelStudent, TransformerMultiLabelStudent

    if kind == "tfidf":
        return TfidfMultiLabelStudent(**options)
    return TransformerMultiLabelStudent(**options)


def _student_rungs(
    data: dict[str, Any], kind: str, seed: int, version: str, options: dict[str, Any],
    which: Sequence[str] = ("weak", "gold", "alone"),
) -> dict[str, dict[str, Any]]:
    (texts, Y, M), (val_texts, Y_val, M_val), (test_texts, Y_test, _) = data["train"], data["val"], data["test"]
    dev = _dev_rows(seed, len(Y_val))
    dev_texts = [val_texts[i] for i in dev]
    name = {"tfidf": "TF-IDF", "transformer": "MiniLM"}[kind]
    tag = f"{kind}_{seed}_{version}_{hashlib.sha256(repr(sorted(options.items())).encode()).hexdigest()[:6]}"

    def train(targets: np.ndarray, rows: list[str], with_dev: bool, **extra: Any) -> dict[str, Any]:
        student = _student(kind, {**options, **extra})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = {"dev_texts": dev_texts, "dev_Y": Y_val[dev]} if with_dev else {}
            student.fit(rows, targets, class_names=MAMS_CLASSES, **kwargs)
        result = _scores(Y_test, student.predict(test_texts))
        result["thresholds"] = student.thresholds_.tolist()
        result["epochs"] = len(student.history_)
        # kept to compare threshold rules on the val rows outside dev, never on test
        result["val_probs"] = np.round(student.predict_proba(val_texts), 5).tolist()
        result["test_probs"] = np.round(student.predict_proba(test_texts), 5).tolist()
        return result

    def weak() -> dict[str, Any]:
        lm = MultiLabelModel(random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lm.fit(M, Y_val[dev], M_val.take(dev))
        return train(lm.predict_proba(M), texts, True)

    rungs = {
        "weak": (f"{name} student, weak labels", f"{tag}_weak", weak),
        "gold": (f"{name} student, gold labels (upper bound)", f"{tag}_gold", lambda: train(Y, texts, True)),
        # 100 rows alone: no other labeled rows to tune thresholds or stop early on; the
        # loss is balanced per label, which lifts rare labels above 0.5 (fairest for it).
        "alone": (f"{name} student, {N_DEV} labeled rows alone", f"{tag}_alone",
                  lambda: train(Y_val[dev], dev_texts, False, class_weight="balanced")),
    }
    out = {}
    for part in which:
        label, key, compute = rungs[part]
        result = _cached(key, compute)
        if part != "alone":  # thresholds by the current rule, from the dev rows' probabilities
            val_probs = np.asarray(result["val_probs"])
            thresholds = tuned_thresholds(Y_val[dev], val_probs[dev])
            result = {**result, **_scores(Y_test, (np.asarray(result["test_probs"]) > thresholds).astype(np.int8)),
                      "thresholds": thresholds.tolist()}
        out[label] = result
    return out


def _threshold_rules(data: dict[str, Any], results: dict[str, list[dict[str, Any]]], seeds: dict[str, list[int]]) -> pd.DataFrame:
    """Macro F1 of each threshold rule on the 300 val rows outside dev (never on test): the
    evidence behind the students' default rule."""
    _, Y_val, _ = data["val"]
    rules = {
        "0.5": lambda Y, P: np.full(Y.shape[1], 0.5),
        "F1-best on dev": lambda Y, P: best_thresholds(Y, P),
        "F1-best, kept where out-of-bag gain > 0.5 sd (default)": lambda Y, P: tuned_thresholds(Y, P),
        "F1-best, kept where out-of-bag gain > 1 sd": lambda Y, P: tuned_thresholds(Y, P, min_gain=1.0),
    }
    rows = {}
    for rung, runs in results.items():
        if "weak labels" not in rung and "gold labels" not in rung:
            continue
        for rule, choose in rules.items():
            scores = []
            for seed, run in zip(seeds[rung], runs, strict=True):
                dev = _dev_rows(seed, len(Y_val))
                rest = np.setdiff1d(np.arange(len(Y_val)), dev)
                probs = np.asarray(run["val_probs"])
                thresholds = choose(Y_val[dev], probs[dev])
                scores.append(100 * multilabel_scores(Y_val[rest], (probs[rest] > thresholds).astype(np.int8))["macro_f1"])
            rows.setdefault(rung, {})[rule] = round(float(np.mean(scores)), 1)
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------- tropes (13 real LLMs)
def _tropes() -> tuple[MultiLabelMatrix, np.ndarray] | None:
    folder = SHARED_DATA / "llms_for_css" / "tropes_multilabel"
    if not folder.exists():
        return None
    entries = json.loads((folder / "test.json").read_text())
    names = json.loads((folder / "lf_names.json").read_text())
    labels = json.loads((folder / "label.json").read_text())
    classes = [labels[str(i)] for i in range(len(labels))]
    rows = [entries[key] for key in sorted(entries, key=int)]
    data = pd.DataFrame({"text": [r["data"]["text"] for r in rows], "row": range(len(rows))})

    def source(j: int) -> Any:
        @label_set_function(name=names[j], unnamed="absent", vectorized=True, column="row")
        def answered(positions: pd.Series) -> list[Any]:
            return [None if rows[i]["weak_labels"][j] == -1 else rows[i]["weak_labels"][j] for i in positions]

        return answered

    M = apply_multilabel_lfs([source(j) for j in range(len(names))], data, classes, progress=False)
    Y, _ = to_indicator([[classes[c] for c in r["labels"]] for r in rows], classes)
    return M, Y


def _tropes_table() -> pd.DataFrame:
    loaded = _tropes()
    if loaded is None:
        return pd.DataFrame()
    M, Y = loaded
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows["per-label majority vote"] = multilabel_scores(Y, MultiLabelMajorityVote().fit(M).predict(M))
        rows["label model (no dev)"] = multilabel_scores(Y, MultiLabelModel(random_state=0).fit(M).predict(M))
    for name in ("chatgpt", "flan-ul2", "text-davinci-003"):
        columns = [n for n in M.lf_names if n.startswith(f"{name}:")]
        rows[f"one LLM alone: {name}"] = multilabel_scores(Y, (M.select(columns).votes == 1).astype(np.int8))
    table = pd.DataFrame(rows).T[["macro_f1", "micro_f1", "micro_precision", "micro_recall"]]
    return (100 * table).round(1)


# ---------------------------------------------------------------- tables
def _summary(results: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    rows = {}
    for rung, runs in results.items():
        macro = np.array([r["macro_f1"] for r in runs])
        micro = np.array([r["micro_f1"] for r in runs])
        rows[rung] = {
            "macro F1": round(macro.mean(), 1),
            "sd": round(macro.std(), 1) if len(runs) > 1 else np.nan,
            "micro F1": round(micro.mean(), 1),
            "seeds": len(runs),
            "seconds": round(float(np.mean([r.get("seconds", np.nan) for r in runs])), 1),
        }
    return pd.DataFrame(rows).T


def _targets(summary: pd.DataFrame) -> pd.DataFrame:
    macro = summary["macro F1"].astype(float)
    weak = "MiniLM student, weak labels"
    if weak not in macro:
        return pd.DataFrame()
    label_rungs = [r for r in macro.index if r.startswith(("majority vote", "label model"))]
    best_label = max(label_rungs, key=lambda r: macro[r])
    rows = {
        "MiniLM weak / MiniLM gold (target >= 70%)": f"{100 * macro[weak] / macro['MiniLM student, gold labels (upper bound)']:.1f}%",
        f"MiniLM weak - best label-model rung ({best_label}) (target > 0)": f"{macro[weak] - macro[best_label]:+.1f}",
        f"MiniLM weak - MiniLM on {N_DEV} labeled rows alone (target > 0)": f"{macro[weak] - macro[f'MiniLM student, {N_DEV} labeled rows alone']:+.1f}",
        "label model - majority vote (contract >= -1)": f"{macro['label model'] - macro['majority vote']:+.1f}",
        "label model, no dev - majority vote (contract >= -1)": f"{macro['label model, no dev'] - macro['majority vote']:+.1f}",
    }
    return pd.DataFrame({"value": rows})


def _write_table(path: Path) -> None:
    """The full MAMS-ACSA as one JSONL table with a split column (for configs/mams.yaml)."""
    frames = []
    for split, name in (("train", "train"), ("val", "valid"), ("test", "test")):
        frame, _ = load_mams(split, SHARED_DATA / "mams_acsa")
        frames.append(frame[["text", "labels"]].assign(split=name))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_json(path, orient="records", lines=True, force_ascii=False)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="dev samples (label models, TF-IDF)")
    parser.add_argument("--minilm-seeds", type=int, nargs="*", default=[0], help="dev samples for MiniLM (slow)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write-table", type=Path, default=None)
    parser.add_argument(
        "--only", nargs="*", default=None, metavar="RUNG",
        help="compute (and cache) only these MiniLM rungs, e.g. --only weak (parallel runs); "
        "the full run then reads them from the cache",
    )
    args = parser.parse_args(argv)
    if args.write_table:
        _write_table(args.write_table)
        return
    data = _load()
    version = _code_version()
    minilm = {"epochs": args.epochs, "max_length": 64, "n_threads": args.threads, "progress": False}
    if args.only is not None:
        for seed in args.minilm_seeds:
            _student_rungs(data, "transformer", seed, version, {**minilm, "random_state": seed}, args.only)
        return
    results: dict[str, list[dict[str, Any]]] = {}
    seeds: dict[str, list[int]] = {}

    def add(rungs: dict[str, dict[str, Any]], seed: int) -> None:
        for rung, result in rungs.items():
            results.setdefault(rung, []).append(result)
            seeds.setdefault(rung, []).append(seed)

    for seed in args.seeds:
        add(_label_model_rungs(data, seed, version), seed)
        add(_student_rungs(data, "tfidf", seed, version, {}), seed)
    for seed in args.minilm_seeds:
        add(_student_rungs(data, "transformer", seed, version, {**minilm, "random_state": seed}), seed)
    summary = _summary(results)
    per_label = pd.DataFrame({rung: runs[0]["per_label"] for rung, runs in results.items()}).T
    _, Y_train, M_train = data["train"]
    tables = {
        "Ladder on MAMS-ACSA test (400 sentences), mean over dev samples": summary,
        "Targets": _targets(summary),
        "Per-label F1 on test (first dev sample)": per_label.round(1),
        "Threshold rules: macro F1 on the 300 val rows outside dev (mean over dev samples)": _threshold_rules(
            data, results, seeds
        ),
        "LFs on the train split": lf_summary(M_train, Y_train).round(3),
        "Tropes (114 rows, 72 classes, 13 real LLMs' set answers; no train split)": _tropes_table(),
    }
    notes = (
        f"MAMS-ACSA test split; sources: labeling_functions/mams.py ({M_train.n_sources} per-label LFs). "
        f"Dev = {N_DEV} val rows drawn per seed (seeds {args.seeds}; MiniLM: {args.minilm_seeds}); thresholds "
        "and early stopping use them. MiniLM: all-MiniLM-L6-v2, full fine-tuning, "
        f"{args.epochs} epochs at most (early stopping on the dev loss), 64 tokens, batch 16, on CPU. "
        "Timings on a shared, loaded machine: relative only."
    )
    write_results("multilabel", tables, notes)


if __name__ == "__main__":
    main()
