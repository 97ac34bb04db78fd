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
import hashlib
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
from benchmarks.lodo import leave_one_dataset_out
from weaklabel.data import load_wrench
from weaklabel.label_models import LabelModel, MajorityVote
from weaklabel.metrics import paired_bootstrap_z, score_predictions
from weaklabel.students import TfidfStudent, TransformerStudent
from weaklabel.students.labeled import (
    CV_MARGIN,
    LABELED_SHARES,
    choose_labeled_share,
    with_labeled_rows,
)

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
def _config_label(targets: str, weight: str | None, conf: float, C: float, silent: bool) -> str:
    return f"{targets}, class_weight={weight}, min_confidence={conf:g}, C={C:g}" + (
        ", silent rows" if silent else ""
    )


_SHIPPED = TfidfStudent().get_params()
_DEFAULT_CONFIG = (  # TfidfStudent's defaults, listed first: ties keep them
    "soft", _SHIPPED["class_weight"], _SHIPPED["min_confidence"], _SHIPPED["C"], not _SHIPPED["exclude_unlabeled"]
)
STUDENT_CONFIGS: dict[str, dict[str, Any]] = {
    _config_label(*c): {"targets": c[0], "class_weight": c[1], "min_confidence": c[2], "C": c[3], "silent": c[4]}
    for c in [
        _DEFAULT_CONFIG,
        *[
            (targets, weight, 0.0, C, False)
            for C in (1.0, 0.5, 0.25, 0.1)  # stronger L2: weak labels are noisy labels
            for targets in ("soft", "hard")
            for weight in ("balanced", None)
            if (targets, weight, 0.0, C, False) != _DEFAULT_CONFIG
        ],
        *[("soft", weight, 0.9, C, False) for C in (1.0, 0.25) for weight in ("balanced", None)],
        # rows no source voted on, with the label model's P(class | no vote) as their target
        *[("soft", weight, 0.0, C, True) for C in (1.0, 0.25) for weight in ("balanced", None)],
    ]
}
"""How the default path turns label-model output into a TfidfStudent: the configurations
the protocol chooses among (soft or hard targets, class weighting, min_confidence, the L2
strength C, and whether the rows without a vote are trained on)."""
LABELED_SIZES = (50, 100, 200)
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
        C=config["C"],
        class_weight=config["class_weight"],
        min_confidence=config["min_confidence"],
        exclude_unlabeled=not config["silent"],
    )


def distilled_student(name: str, probs: np.ndarray, config: dict[str, Any]) -> float:
    """The default path: LabelModel (no gold) -> probabilities on train -> TfidfStudent."""
    splits = load_set(name)
    train, test = splits["train"], splits["test"]
    covered = (train.L.votes != -1).any(axis=1)
    kept = np.ones_like(covered) if config["silent"] else covered
    targets = np.where(kept, probs.argmax(axis=1), -1) if config["targets"] == "hard" else probs
    mask = None if config["silent"] else covered
    student = _tfidf(config).fit(train.texts, targets, labeled_mask=mask, n_classes=probs.shape[1])
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
    naive_mean = np.asarray([np.mean(naive[n]) for n in sets])
    shipped = _config_label(*_DEFAULT_CONFIG)
    table = pd.DataFrame(index=pd.Index(sets, name="set"))
    table["naive (MV hard, sklearn LR)"] = naive_mean
    table["naive ±"] = [float(np.std(naive[n])) for n in sets]
    table["TfidfStudent on LabelModel (left out)"] = [r.mean for r in left_out]
    table["±"] = [r.spread for r in left_out]
    table["left out - naive"] = table.iloc[:, 2] - table.iloc[:, 0]
    table["chosen on the others"] = [r.config for r in left_out]
    table["shipped default"] = [float(np.mean(scores[shipped][n])) for n in sets]
    table["shipped - naive"] = table["shipped default"] - naive_mean
    table.loc["mean"] = table.apply(pd.to_numeric, errors="coerce").mean()
    table.loc["mean", "chosen on the others"] = ""
    every = pd.DataFrame(
        [
            {
                "configuration": label,
                "mean": np.mean(means := np.asarray([np.mean(scores[label][n]) for n in sets])),
                "mean - naive": np.mean(means - naive_mean),
                "worst set - naive": np.min(means - naive_mean),
                "sets below naive - 1": int(np.sum(means < naive_mean - 1)),
                **{n: m for n, m in zip(sets, means, strict=True)},
            }
            for label in STUDENT_CONFIGS
        ]
    ).set_index("configuration")
    return {TITLES["distill"]: table.round(1), TITLES["distill every"]: every.round(1)}


def _score(student: TfidfStudent, name: str) -> float:
    test = load_set(name)["test"]
    return primary_score(student.predict(test.texts), test.y, SETS[name].metric)


WITH_GOLD, WITHOUT_GOLD = "label model with the gold rows", "label model without them"
CANDIDATE_SHARES = (*LABELED_SHARES, 0.8)
"""The shares scored: the default rule's, and a gold-heavy mix the protocol may add."""


def _gold_draw(name: str, size: int | None, seed: int) -> np.ndarray:
    """Positions in valid of the N gold rows (all of valid for None)."""
    valid = load_set(name)["valid"]
    rng = np.random.default_rng(2000 + seed)
    return np.arange(len(valid.y)) if size is None else np.sort(rng.choice(len(valid.y), size, replace=False))


def _candidate_key(source: str | None, share: float) -> str:
    return "gold rows alone" if source is None else f"{source}, share {share:g}"


def labeled_rows_scores(name: str, size: int | None, seed: int) -> dict[str, Any]:
    """Item 7 on one set, N and seed: the cross-validated score on the N gold rows of every
    candidate the default rule compares (weaklabel.students.labeled.choose_labeled_share:
    the label model with or without the gold rows as y_dev, x share 0.5 / 0 of gold, and the
    gold rows alone), each candidate's test score when trained with all N rows, and the
    default's choice."""
    splits = load_set(name)
    train, valid = splits["train"], splits["valid"]
    rows = _gold_draw(name, size, seed)
    gold_texts, gold_y, gold_L = [valid.texts[i] for i in rows], valid.y[rows], valid.L.votes[rows]
    k = train.L.cardinality
    covered = (train.L.votes != -1).any(axis=1)

    def with_gold(known: np.ndarray) -> np.ndarray:
        model = LabelModel(cardinality=k, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train.L.votes, y_dev=np.where(known, gold_y, -1), L_dev=gold_L)
        return model.predict_proba(train.L.votes)

    sources = {WITH_GOLD: with_gold, WITHOUT_GOLD: _weak_labels(name, seed)}
    choice = choose_labeled_share(
        train.texts, sources, gold_texts, gold_y, labeled_mask=covered, shares=CANDIDATE_SHARES, random_state=seed
    )
    final = {WITH_GOLD: with_gold(np.ones(len(gold_y), dtype=bool)), WITHOUT_GOLD: sources[WITHOUT_GOLD]}
    test: dict[str, float] = {}
    trained: dict[tuple[str, float], float] = {}  # equal labels are trained on once
    for source, share in choice.scores:
        probs = final[source or WITH_GOLD]
        key = (hashlib.sha256(probs.tobytes()).hexdigest() if source else "", share)
        if key not in trained:
            both = with_labeled_rows(train.texts, probs, gold_texts, gold_y, labeled_mask=covered, share=share)
            student = TfidfStudent().fit(
                both.texts, both.probs, both.sample_weight, labeled_mask=both.labeled_mask, n_classes=k
            )
            trained[key] = _score(student, name)
        test[_candidate_key(source, share)] = trained[key]
    known = gold_y >= 0
    return {
        "cv": {_candidate_key(*c): v for c, v in choice.scores.items()},
        "oof": {_candidate_key(*c): p[known].tolist() for c, p in choice.predictions.items()},
        "gold": gold_y[known].tolist(),
        "test": test,
        "chosen": _candidate_key(choice.source, choice.share),
    }


def weak_only(name: str) -> float:
    """The default path without gold (deterministic: the same for every seed)."""
    train = load_set(name)["train"]
    student = TfidfStudent().fit(train.texts, _weak_labels(name, 0), labeled_mask=(train.L.votes != -1).any(axis=1))
    return _score(student, name)


LABELED_RULES: dict[str, dict[str, Any]] = {
    f"shares {'/'.join(f'{x:g}' for x in shares)}, margin {margin:g}": {"shares": shares, "margin": margin}
    for shares, margin in [
        (LABELED_SHARES, CV_MARGIN),  # the library's rule first: ties keep it
        (LABELED_SHARES, 0.0),
        (LABELED_SHARES, 2.0),
        (CANDIDATE_SHARES, CV_MARGIN),
        (CANDIDATE_SHARES, 0.0),
        (CANDIDATE_SHARES, 2.0),
    ]
}
"""Variants of the cross-validation rule the protocol chooses among: the candidate shares
and the bootstrap margin needed to leave the first candidate. Replayed from the stored
out-of-fold predictions, so no variant retrains anything."""


def _replay(run: dict[str, Any], rule: dict[str, Any], k: int, seed: int) -> str:
    """The candidate ``rule`` chooses from one draw's cross-validation results."""
    candidates = [
        key for key in run["cv"] if key == "gold rows alone" or float(key.rsplit(" ", 1)[1]) in rule["shares"]
    ]
    order = sorted(candidates, key=lambda key: _share_order(key, rule["shares"]))
    best = max(order, key=lambda key: run["cv"][key])  # first of the best
    if best == order[0] or rule["margin"] <= 0:
        return best
    gold = np.asarray(run["gold"])
    z = paired_bootstrap_z(
        gold, np.asarray(run["oof"][best]), np.asarray(run["oof"][order[0]]), "f1", cardinality=k, random_state=seed
    )
    return best if z >= rule["margin"] else order[0]


def _share_order(key: str, shares: tuple[float, ...]) -> tuple[int, int]:
    """Candidates in the rule's order: by share, the label model with gold rows first."""
    if key == "gold rows alone":
        return shares.index(1.0), 0
    source, share = key.rsplit(", share ", 1)
    return shares.index(float(share)), int(source != WITH_GOLD)


def labeled_rows(sets: list[str], version: str) -> dict[str, pd.DataFrame]:
    """Item 7: the default (weak labels + N gold rows, as chosen on the gold rows by
    cross-validation) against each input alone (all of valid is one draw); the rule's
    variants chosen on the other sets by the worst margin over the better input."""
    runs: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    weak: dict[str, float] = {}
    for n in sets:
        weak[n] = cached_json(f"st-weak-{version}-{n}", lambda n=n: weak_only(n))
        for z in [z for z in LABELED_SIZES if z < len(load_set(n)["valid"].y)] + [None]:
            runs[n, z] = [
                cached_json(f"st-labeled2-{version}-{n}-{z}-{s}", lambda n=n, z=z, s=s: labeled_rows_scores(n, z, s))
                for s in (SEEDS if z is not None else SEEDS[:1])
            ]
        print(f"  {n}: done", flush=True)
    k = {n: load_set(n)["train"].L.cardinality for n in sets}
    naive = {n: np.mean([cached_json(f"st-naive-{n}-{s}", lambda n=n, s=s: naive_student(n, s)) for s in SEEDS]) for n in sets}
    shipped = next(iter(LABELED_RULES))  # the library's rule: labeled_share "auto"

    def margins(rule: str, n: str) -> list[float]:
        """Per seed: the worst over N of (the rule's choice - the better input), test points."""
        out = []
        for seed in SEEDS:
            cells = []
            for (name, _), draws in runs.items():
                if name != n:
                    continue
                run = draws[min(seed, len(draws) - 1)]
                chosen = run["test"][_replay(run, LABELED_RULES[rule], k[n], seed)]
                cells.append(chosen - max(run["test"]["gold rows alone"], weak[n]))
            out.append(min(cells))
        return out

    scores = {rule: {n: margins(rule, n) for n in sets} for rule in LABELED_RULES}
    chosen = {r.set_name: r.config for r in leave_one_dataset_out(scores, {n: SETS[n].family for n in sets})}
    rows, choices = [], []
    for (n, z), draws in runs.items():
        seeds = SEEDS[: len(draws)]
        picks = [_replay(run, LABELED_RULES[chosen[n]], k[n], s) for run, s in zip(draws, seeds, strict=True)]
        default = np.asarray([run["test"][p] for run, p in zip(draws, picks, strict=True)])
        library = np.asarray([run["test"][_replay(run, LABELED_RULES[shipped], k[n], s)] for run, s in zip(draws, seeds, strict=True)])
        gold = np.asarray([run["test"]["gold rows alone"] for run in draws])
        rows.append(
            {
                "set": n,
                "N": "valid" if z is None else z,
                "gold rows alone": gold.mean(),
                "weak labels alone": weak[n],
                "naive MV path (no gold)": naive[n],
                "shipped rule (labeled_share auto)": float(np.mean(library)),
                "shipped - gold alone": float(np.mean(library - gold)),
                "shipped - weak alone": float(np.mean(library) - weak[n]),
                "shipped worst draw - best input": float(np.min(library - np.maximum(gold, weak[n]))),
                "rule chosen on the others (left out)": default.mean(),
                "±": default.std(),
                "left out - gold alone": float(np.mean(default - gold)),
                "left out - weak alone": float(np.mean(default - weak[n])),
                "left out worst draw - best input": float(np.min(default - np.maximum(gold, weak[n]))),
                "fixed half share (before)": np.mean([run["test"][f"{WITH_GOLD}, share 0.5"] for run in draws]),
                "best candidate in hindsight": np.mean([max(run["test"].values()) for run in draws]),
                "rule chosen on the others": chosen[n],
            }
        )
        choices += [{"chosen": p} for p in picks]
    table = pd.DataFrame(rows).set_index(["set", "N"])
    every = pd.DataFrame(
        [
            {
                "rule": rule,
                "mean of per-set worst margin over the better input": np.mean([np.mean(v) for v in by_set.values()]),
                "sets with a draw below the better input": int(sum(min(v) < 0 for v in by_set.values())),
                **{n: float(np.mean(v)) for n, v in by_set.items()},
            }
            for rule, by_set in scores.items()
        ]
    ).set_index("rule")
    picked = pd.DataFrame(choices).groupby("chosen").size().rename("draws").to_frame()
    return {
        TITLES["labeled"]: table.round(1),
        TITLES["labeled rules"]: every.round(1),
        TITLES["labeled choices"]: picked,
    }


MINILM_CONFIGS: dict[str, dict[str, Any]] = {
    "TransformerStudent(adaptation='head') defaults": {},
    "+ class_weight=balanced": {"class_weight": "balanced"},
}
"""The MiniLM student on the default path's labels: its defaults, and with the class
weighting the TF-IDF protocol ships."""


def minilm_student(name: str, probs: np.ndarray | None, options: dict[str, Any]) -> float:
    """A frozen-MiniLM head (TransformerStudent(adaptation="head"), max_length 64, seed 0)
    on the covered train rows: the label model's probabilities, or (``probs`` None) the
    naive path's majority vote with random ties as hard labels."""
    train = load_set(name)["train"]
    covered = (train.L.votes != -1).any(axis=1)
    k = train.L.cardinality
    if probs is None:
        votes = train.L.votes
        hard = MajorityVote(cardinality=k, random_state=0).fit(votes).predict(votes)
        targets: np.ndarray = np.where(covered, hard, -1)
    else:
        targets = probs
    student = TransformerStudent(adaptation="head", random_state=0, progress=False, **options)
    student.fit(train.texts, targets, labeled_mask=covered, n_classes=k)
    return _score(student, name)


def minilm_distill(sets: list[str]) -> dict[str, pd.DataFrame]:
    """Item 6's MiniLM half: a frozen-MiniLM head on the label model's labels against the
    same head on the naive path's majority-vote labels (one seed: CPU time)."""
    rows = []
    for name in sets:
        weak = _weak_labels(name, 0)
        row: dict[str, Any] = {
            "set": name,
            "MiniLM head on MV hard labels (naive)": cached_json(
                f"st-minilm-naive-{name}", lambda n=name: minilm_student(n, None, {})
            ),
        }
        for label, options in MINILM_CONFIGS.items():
            row[f"on LabelModel: {label}"] = cached_json(
                f"st-minilm-{name}-{label}", lambda n=name, o=options, w=weak: minilm_student(n, w, o), arrays=(weak,)
            )
        rows.append(row)
        print(f"  {name}: done", flush=True)
    table = pd.DataFrame(rows).set_index("set")
    for label in MINILM_CONFIGS:
        table[f"{label} - naive"] = table[f"on LabelModel: {label}"] - table.iloc[:, 0]
    table.loc["mean"] = table.mean()
    return {TITLES["minilm-distill"]: table.round(1)}


PARTS = ("distill", "labeled", "minilm-distill", "minilm")
TITLES = {
    "distill": "Distillation: TfidfStudent vs the naive path, left out (points)",
    "distill every": "Distillation: every student setting on every set (points)",
    "labeled": "Labeled rows: the default with N gold rows vs each input alone (points)",
    "labeled rules": "Labeled rows: every variant of the rule (worst margin over the better input, points)",
    "labeled choices": "Labeled rows: what the cross-validation chose (draws)",
    "minilm-distill": "Distillation: a frozen-MiniLM head on LabelModel vs on the naive path's labels (points)",
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
        tables |= distillation(args.sets, _code_version("students/base.py", "students/tfidf.py", "students/_softmax.py"))
    if "labeled" in args.parts:
        tables |= labeled_rows(args.sets, _code_version("label_models", "students"))
    if "minilm-distill" in args.parts:
        tables |= minilm_distill(args.sets)
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


def _code_version(*patterns: str) -> str:
    """A digest of the code in ``weaklabel/<pattern>`` (a folder, or files by glob): older
    cached scores are not reused."""
    import weaklabel

    digest = hashlib.sha256()
    root = Path(weaklabel.__file__).parent
    for pattern in patterns:
        files = sorted((root / pattern).glob("*.py")) if (root / pattern).is_dir() else sorted(root.glob(pattern))
        for file in files:
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
default path without gold (LabelModel -> TfidfStudent); "naive MV path": the distillation
table's naive path (no gold). "shipped rule (labeled_share auto)": what python -m
weaklabel.fit does with a valid split (weaklabel.students.labeled.choose_labeled_share):
5-fold cross-validation on the N gold rows chooses among the label model's labels fitted
with the gold rows as y_dev (refitted per fold without the held-out fold) or without them,
with half or none of the training weight on the gold rows, and the gold rows alone; the
first candidate (with y_dev, half share) is left only for a lead of one paired-bootstrap
standard deviation; the chosen rows then train the default TfidfStudent with all N rows.
"rule chosen on the others (left out)": the variant of that rule (candidate shares, also
0.8; margin 0, 1 or 2) chosen on the other sets by the worst margin over the better input,
replayed from the stored out-of-fold predictions. "worst draw - best input": the smallest
margin over the better of the two inputs over the draws. "fixed half share (before)": the
label model with y_dev and the gold rows at half the weight, no choice.

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
