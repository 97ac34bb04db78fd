"""Students on WRENCH YouTube: TF-IDF vs MiniLM adapted three ways (full, LoRA, frozen head).

Each student is trained twice on the train split — on the majority vote of the 10 YouTube
LFs (soft labels; rows without a vote left out) and on the gold labels (the supervised
upper bound) — and scored on the test split. The peer in the same run is the usual recipe
without soft labels: scikit-learn's TfidfVectorizer + LogisticRegression on the argmax of
the same majority vote. Reported per student: test accuracy and spam F1, training time on
this machine's CPU, seconds per epoch on the full train split, trainable parameters and
the size of the saved student on disk (LoRA and head students save only what they
trained, and name the frozen base).

Run from the repository root (about 25 minutes on 2 busy cores with --threads 1)::

    python -m benchmarks.students [--epochs 2] [--max-length 64] [--threads N] [--quick]

``--quick`` trains on 300 rows for one epoch (a smoke run; it does not write results).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from benchmarks._cache import cached_json
from benchmarks._results import RESULTS_DIR, SHARED_DATA, write_results
from benchmarks._sets import SETS, load_set, primary_score, text_sets
from benchmarks.lodo import leave_one_dataset_out, overall_best
from weaklabel.data import load_wrench
from weaklabel.label_models import LabelModel, MajorityVote
from weaklabel.metrics import score_predictions
from weaklabel.students import TfidfStudent, TransformerStudent
from weaklabel.students.labeled import with_labeled_rows

__all__ = ["main", "majority_vote_probs"]


def majority_vote_probs(votes: np.ndarray, k: int) -> np.ndarray:
    """Majority vote as probabilities: ties share the mass, rows without a vote are uniform."""
    return MajorityVote(cardinality=k).fit(votes).predict_proba(votes)


def _folder_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _students(epochs: int, max_length: int, threads: int | None) -> dict[str, object]:
    common = {
        "epochs": epochs,
        "max_length": max_length,
        "n_threads": threads,
        "random_state": 0,
        "progress": False,
    }
    return {
        "TfidfStudent": TfidfStudent(),
        "MiniLM full fine-tuning": TransformerStudent(adaptation="full", **common),
        "MiniLM LoRA (r=8, q/k/v)": TransformerStudent(adaptation="lora", **common),
        "MiniLM frozen + head": TransformerStudent(adaptation="head", **common),
    }


def _row(name: str, labels: str, student, test, elapsed: float) -> dict[str, object]:
    scores = student.evaluate(test.data["text"].tolist(), test.y)
    history = getattr(student, "history_", [])
    epoch_seconds = [r["seconds"] for r in history if "seconds" in r]
    with tempfile.TemporaryDirectory() as tmp:
        size = _folder_size(student.save(Path(tmp) / "student"))
    return {
        "labels": labels,
        "student": name,
        "test accuracy": round(100 * scores["accuracy"], 1),
        "test spam F1": round(100 * scores["f1"], 1),
        "train s": round(elapsed, 1),
        "s / epoch": round(float(np.mean(epoch_seconds)), 1) if epoch_seconds else None,
        "epochs run (kept)": f"{len(epoch_seconds)} ({student.best_epoch_})" if epoch_seconds else "-",
        "trainable params": (
            student.coef_.size + student.intercept_.size
            if isinstance(student, TfidfStudent)
            else student.n_trainable_params_
        ),
        "saved MB": round(size / 1e6, 2),
    }


# ------------------------------------------------------------------ leave-one-dataset-out parts
SEEDS = (0, 1, 2)
STUDENT_CONFIGS: dict[str, dict[str, Any]] = {
    f"{targets}, class_weight={weight}, min_confidence={conf:g}" + ("" if C == 10 else f", C={C:g}"): {
        "targets": targets,
        "class_weight": weight,
        "min_confidence": conf,
        "C": C,
    }
    for targets, weight, conf, C in [
        ("soft", None, 0.0, 10.0),  # TfidfStudent's defaults before the protocol: ties keep them
        ("soft", "balanced", 0.0, 10.0),
        ("soft", None, 0.9, 10.0),
        ("soft", "balanced", 0.9, 10.0),
        ("hard", None, 0.0, 10.0),
        ("hard", "balanced", 0.0, 10.0),
        ("soft", None, 0.0, 1.0),  # stronger L2: weak labels are noisy labels
        ("soft", "balanced", 0.0, 1.0),
        ("hard", None, 0.0, 1.0),
        ("hard", "balanced", 0.0, 1.0),
    ]
}
"""How the default path turns label-model output into a TfidfStudent: the configurations
the protocol chooses among."""
LABELED_SIZES = (50, 100)
"""Gold rows subsampled from valid (and all of valid). One share of the training weight for
the gold rows, ``LABELED_SHARE`` (a half: gold and weak rows weigh the same in total), and
no other: on a 2-core CPU shared with other jobs a grid of shares did not fit the budget."""


def naive_student(name: str, seed: int) -> float:
    """MV hard labels (random ties) on covered train rows -> word + char TF-IDF -> sklearn LR."""
    from sklearn.pipeline import make_union

    splits = load_set(name)
    train, test = splits["train"], splits["test"]
    votes = train.L.votes
    covered = (votes != -1).any(axis=1)
    labels = MajorityVote(cardinality=train.L.cardinality, random_state=seed).fit(votes).predict(votes)
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2)), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))
    )
    model = make_pipeline(features, LogisticRegression(max_iter=1000))
    model.fit([t for t, c in zip(train.texts, covered, strict=True) if c], labels[covered])
    return primary_score(model.predict(test.texts), test.y, SETS[name].metric)


def _weak_labels(name: str, seed: int, dev: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    train = load_set(name)["train"]
    model = LabelModel(cardinality=train.L.cardinality, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dev is None:
            model.fit(train.L)
        else:
            model.fit(train.L.votes, y_dev=dev[1], L_dev=dev[0])
    return model.predict_proba(train.L)


def _tfidf(config: dict[str, Any]) -> TfidfStudent:
    return TfidfStudent(
        C=config["C"], class_weight=config["class_weight"], min_confidence=config["min_confidence"]
    )


def distilled_student(name: str, probs: np.ndarray, config: dict[str, Any]) -> float:
    """The default path: LabelModel (no gold) -> probabilities on train -> TfidfStudent."""
    splits = load_set(name)
    train, test = splits["train"], splits["test"]
    covered = (train.L.votes != -1).any(axis=1)
    targets = np.where(covered, probs.argmax(axis=1), -1) if config["targets"] == "hard" else probs
    student = _tfidf(config).fit(train.texts, targets, labeled_mask=covered, n_classes=probs.shape[1])
    return primary_score(student.predict(test.texts), test.y, SETS[name].metric)


def distillation(sets: list[str], version: str) -> dict[str, pd.DataFrame]:
    """Item 6: the student settings chosen on the other sets against the naive path."""
    naive = {
        name: [cached_json(f"st-naive-{name}-{s}", lambda n=name, s=s: naive_student(n, s)) for s in SEEDS]
        for name in sets
    }
    weak = {(name, s): _weak_labels(name, s) for name in sets for s in SEEDS}
    scores = {
        label: {
            name: [
                cached_json(  # keyed by the weak labels: equal labels are not retrained
                    f"st-distill-{version}-{name}-{label}",
                    lambda n=name, c=config, s=s: distilled_student(n, weak[n, s], c),
                    arrays=(weak[name, s],),
                )
                for s in SEEDS
            ]
            for name in sets
        }
        for label, config in STUDENT_CONFIGS.items()
    }
    left_out = leave_one_dataset_out(scores, {n: SETS[n].family for n in sets})
    table = pd.DataFrame(index=pd.Index(sets, name="set"))
    table["naive (MV hard, sklearn LR)"] = [float(np.mean(naive[n])) for n in sets]
    table["naive ±"] = [float(np.std(naive[n])) for n in sets]
    table["TfidfStudent on LabelModel (left out)"] = [r.mean for r in left_out]
    table["±"] = [r.spread for r in left_out]
    table["left out - naive"] = table.iloc[:, 2] - table.iloc[:, 0]
    shipped = next(
        label
        for label, config in STUDENT_CONFIGS.items()
        if config["targets"] == "soft" and all(TfidfStudent().get_params()[key] == config[key] for key in ("C", "class_weight", "min_confidence"))
    )
    table[f"shipped: TfidfStudent() = {shipped}"] = [float(np.mean(scores[shipped][n])) for n in sets]
    table[f"best over all sets: {overall_best(scores)}"] = [float(np.mean(scores[overall_best(scores)][n])) for n in sets]
    for label in STUDENT_CONFIGS:
        table[label] = [float(np.mean(scores[label][n])) for n in sets]
    table["chosen on the others"] = [r.config for r in left_out]
    table.loc["mean"] = table.apply(pd.to_numeric, errors="coerce").mean()
    table.loc["mean", "chosen on the others"] = ""
    return {"Distillation: TfidfStudent vs the naive path, left out (points)": table.round(1)}


def _score(student: TfidfStudent, name: str) -> float:
    test = load_set(name)["test"]
    return primary_score(student.predict(test.texts), test.y, SETS[name].metric)


def labeled_rows_scores(name: str, size: int | None, seed: int) -> dict[str, float]:
    """Item 7 on one set, N and seed: the default TfidfStudent on the N gold rows alone, and
    the default path with them (LabelModel with y_dev, the student with the gold rows)."""
    splits = load_set(name)
    train, valid = splits["train"], splits["valid"]
    rng = np.random.default_rng(2000 + seed)
    rows = np.arange(len(valid.y)) if size is None else np.sort(rng.choice(len(valid.y), size, replace=False))
    gold_texts, gold_y = [valid.texts[i] for i in rows], valid.y[rows]
    k = train.L.cardinality
    out = {"gold rows alone": _score(TfidfStudent().fit(gold_texts, gold_y, n_classes=k), name)}
    covered = (train.L.votes != -1).any(axis=1)
    with_dev = _weak_labels(name, seed, (valid.L.votes[rows], gold_y))
    both = with_labeled_rows(train.texts, with_dev, gold_texts, gold_y, labeled_mask=covered)
    student = TfidfStudent().fit(both.texts, both.probs, both.sample_weight, labeled_mask=both.labeled_mask)
    out["weak + gold"] = _score(student, name)
    return out


def weak_only(name: str) -> float:
    """The default path without gold (deterministic: the same for every seed)."""
    train = load_set(name)["train"]
    student = TfidfStudent().fit(train.texts, _weak_labels(name, 0), labeled_mask=(train.L.votes != -1).any(axis=1))
    return _score(student, name)


def labeled_rows(sets: list[str], version: str) -> dict[str, pd.DataFrame]:
    """Item 7: weak labels + N gold rows against each alone, with the shipped defaults (all of
    valid is one draw: its seeds would repeat it)."""
    rows = []
    for n in sets:
        weak = cached_json(f"st-weak-{version}-{n}", lambda n=n: weak_only(n))
        sizes = [z for z in LABELED_SIZES if z < len(load_set(n)["valid"].y)] + [None]
        for z in sizes:
            seeds = SEEDS if z is not None else SEEDS[:1]
            runs = [
                cached_json(f"st-labeled-{version}-{n}-{z}-{s}", lambda n=n, z=z, s=s: labeled_rows_scores(n, z, s))
                for s in seeds
            ]
            gold = np.asarray([r["gold rows alone"] for r in runs])
            both = np.asarray([r["weak + gold"] for r in runs])
            rows.append(
                {
                    "set": n,
                    "N": "valid" if z is None else z,
                    "gold rows alone": gold.mean(),
                    "weak labels alone": weak,
                    "weak + gold (default)": both.mean(),
                    "±": both.std(),
                    "worst seed - best input": float(np.min(both - np.maximum(gold, weak))),
                }
            )
        print(f"  {n}: done", flush=True)
    table = pd.DataFrame(rows).set_index(["set", "N"])
    return {TITLES["labeled"]: table.round(1)}


PARTS = ("distill", "labeled", "minilm")
TITLES = {
    "distill": "Distillation: TfidfStudent vs the naive path, left out (points)",
    "labeled": "Labeled rows: weak + N gold rows vs each alone (points)",
    "minilm": "YouTube test: students on majority-vote and gold labels",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["distill", "labeled"])
    parser.add_argument("--sets", nargs="+", choices=text_sets(), default=text_sets())
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: every available core)"
    )
    parser.add_argument("--quick", action="store_true", help="minilm: 300 rows, one epoch, no results written")
    args = parser.parse_args(argv)
    tables: dict[str, pd.DataFrame] = {}
    if "distill" in args.parts:
        tables |= distillation(args.sets, _code_version("students"))
    if "labeled" in args.parts:
        tables |= labeled_rows(args.sets, _code_version("label_models", "students"))
    if "minilm" in args.parts:
        tables[TITLES["minilm"]] = minilm_youtube(args)
    if args.quick or args.sets != text_sets():
        for title, table in tables.items():
            print(f"\n## {title}\n{table.to_string()}")
        return
    previous = _previous_tables()
    ordered = {t: tables.get(t, previous.get(t)) for t in TITLES.values()}
    write_results("students", {t: v for t, v in ordered.items() if v is not None}, NOTES)


def _previous_tables() -> dict[str, pd.DataFrame]:
    """The last results' tables, for the parts not rerun."""
    path = RESULTS_DIR / "students.json"
    if not path.exists():
        return {}
    stored = json.loads(path.read_text())["tables"]
    return {t: pd.read_json(io.StringIO(json.dumps(v)), orient="table") for t, v in stored.items()}


def _code_version(*folders: str) -> str:
    """A digest of the code in ``weaklabel/<folder>``: older cached scores are not reused."""
    import hashlib

    import weaklabel

    digest = hashlib.sha256()
    for folder in folders:
        for file in sorted((Path(weaklabel.__file__).parent / folder).glob("*.py")):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:10]


def minilm_youtube(args: argparse.Namespace) -> pd.DataFrame:
    """MiniLM students (full, LoRA, head) and TfidfStudent on YouTube MV and gold labels."""
    folder = SHARED_DATA / "youtube"
    train, valid, test = (load_wrench(folder, split) for split in ("train", "valid", "test"))
    n = 300 if args.quick else len(train.y)
    epochs = 1 if args.quick else args.epochs
    texts = train.data["text"].tolist()[:n]
    votes = train.L.to_numpy()[:n]
    mv = majority_vote_probs(votes, 2)
    labeled = (votes != -1).any(axis=1)
    rows = _baseline_rows(texts, mv, labeled, test)
    dev = {"dev_texts": valid.data["text"].tolist(), "dev_y": valid.y}
    for labels, probs, mask in (("majority vote", mv, labeled), ("gold (upper bound)", train.y[:n], None)):
        for name, student in _students(epochs, args.max_length, args.threads).items():
            print(f"training {name} on {labels} labels ...", flush=True)
            start = time.perf_counter()
            student.fit(texts, probs, labeled_mask=mask, **dev)
            rows.append(_row(name, labels, student, test, time.perf_counter() - start))
            print(rows[-1], flush=True)
    return _format(rows)


def _baseline_rows(texts: list[str], mv: np.ndarray, labeled: np.ndarray, test) -> list[dict[str, object]]:
    """The majority vote itself, and the peer: scikit-learn on the argmax of the same labels."""
    mv_scores = score_predictions(test.y, majority_vote_probs(test.L.to_numpy(), 2).argmax(axis=1))
    start = time.perf_counter()
    peer = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10.0, max_iter=1000)
    ).fit([t for t, keep in zip(texts, labeled, strict=True) if keep], mv[labeled].argmax(axis=1))
    elapsed = time.perf_counter() - start
    peer_scores = score_predictions(test.y, peer.predict(test.data["text"].tolist()))
    return [
        {
            "labels": "majority vote",
            "student": "none: the majority vote itself (ties and no vote -> HAM)",
            "test accuracy": round(100 * mv_scores["accuracy"], 1),
            "test spam F1": round(100 * mv_scores["f1"], 1),
        },
        {
            "labels": "majority vote (argmax)",
            "student": "peer: sklearn TfidfVectorizer + LogisticRegression",
            "test accuracy": round(100 * peer_scores["accuracy"], 1),
            "test spam F1": round(100 * peer_scores["f1"], 1),
            "train s": round(elapsed, 1),
        },
    ]


def _format(rows: list[dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table["trainable params"] = [f"{int(v):,}" if pd.notna(v) else "-" for v in table["trainable params"]]
    return table.astype(object).where(table.notna(), "-")


NOTES = """
Leave-one-dataset-out (docs/benchmarks.md): every student setting is chosen on the other text
sets (a stack and its parts left out together) and scored on the left-out one's test split;
means over seeds 0-2 (the seed drives the label model's and majority vote's tie-breaking and
the subsampled gold rows; TfidfStudent trains deterministically), "±" the spread over seeds.
Scores: spam F1 (youtube, sms families), accuracy (trec).

Distillation: the naive path is majority vote with random ties -> hard labels on the covered
train rows -> scikit-learn word (1-2) + char_wb (2-5) TF-IDF -> LogisticRegression (defaults).
The default path is LabelModel (no gold) -> predict_proba on train -> TfidfStudent on the
covered rows; the configurations are soft or hard (argmax) targets, class weighting and
min_confidence.

Labeled rows: N gold rows drawn from the valid split (seeded, 3 seeds; "valid" = all of it,
one draw). "gold rows alone": the default TfidfStudent on them; "weak labels alone": the
default path without gold; "weak + gold": LabelModel with the N rows as y_dev, then the
default TfidfStudent on its labels plus the N rows (weaklabel.students.labeled), the gold
rows carrying half the training weight — what python -m weaklabel.fit does with a valid
split. "worst seed - best input": the smallest margin over the better of the two inputs.

YouTube MiniLM table (from an earlier run, --parts minilm): WRENCH YouTube, train 1410 of 1586
rows with a vote (majority-vote labels) or all 1586 rows (gold), test 250 rows.
TransformerStudent: all-MiniLM-L6-v2, max_length 64, batch 16, up to 2 epochs, AdamW (lr 1e-4
full, 1e-3 LoRA), linear warm-up/decay, early stopping on the 120-row valid split (dev loss;
the best epoch's weights are kept: "epochs run (kept)"), random_state 0, one torch thread.
The frozen-head student embeds the train split once and fits its head by L-BFGS (head_C 0.1).
Timings are on a CPU shared with other jobs: upper bounds, only their ratios compare.
"""


if __name__ == "__main__":
    main()
