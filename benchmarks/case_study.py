"""The case-study ladder: LLM alone -> engineered prompts -> LLM + LFs -> distilled students.

For each WRENCH dataset (test split, same rows throughout):

1. LLM alone, zero-shot: one prompt's column of the real T0++ votes (``*_prompted_original``)
   read as a yes/no classifier (its class where it votes, the other class elsewhere);
2. LLM with engineered prompts: all prompts merged by the label model, and only the prompts
   whose votes beat chance on the valid split (a one-sided binomial test, z >= 2);
3. hand-written LFs alone, and LLM + LFs stacked, merged by the label model (the stack uses
   the prompt set whose label model scores better on valid) and by StackedLabelModel (the
   LFs trusted, the prompts read through their labels);
4. students trained on the probabilistic labels of (3): TfidfStudent, and MiniLM
   (all-MiniLM-L6-v2) full fine-tuning and LoRA (``--students tfidf minilm-full minilm-lora``);
5. the supervised upper bound: the same students on gold train labels.

Binary tasks score F1 of the positive class (spam), TREC accuracy; ``test acc`` is the
accuracy on every dataset. Nothing is tuned on test. The ``settings`` column says which rows
use one configuration for every set — the library's defaults, chosen by the benchmarks'
leave-one-dataset-out protocol: ``LabelModel`` with the valid gold labels as ``y_dev``,
students on its labels plus the valid gold rows (half the training weight), as
``python -m weaklabel.fit`` does — and which were tuned per set on its valid split
("tuned": the prompt subset, and the label model, class weighting and ``min_confidence``
feeding the students). Label models are fitted on train votes
(``y_dev`` from valid where named). Which label model feeds the students, whether the loss
is class-balanced and the students' ``min_confidence`` were chosen per dataset and vote
source on the valid split: a TfidfStudent's valid score picks two finalists (``--select``
reruns that search and prints it; the choices are in :data:`STUDENT_LABELS`), the
TfidfStudent uses the first, and each MiniLM student is trained on both and keeps the one
with its better valid score. Students train on the
rows with at least one vote (and a top probability >= ``min_confidence``) and early-stop on
valid (dev loss).

Run: ``python -m benchmarks.case_study [--datasets youtube sms] [--students tfidf minilm-full]``.
With ``--keep-others`` the last results' rows that a run does not recompute are kept (the
other datasets' rows, and student rows of students not run), so that the MiniLM students,
minutes each on a CPU, can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks._results import RESULTS_DIR, SHARED_DATA, write_results
from weaklabel.data import load_wrench
from weaklabel.label_models import LabelModel, MajorityVote, StackedLabelModel
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions
from weaklabel.students import TfidfStudent, TransformerStudent
from weaklabel.students.labeled import with_labeled_rows

DATASETS = {"youtube": "youtube_prompted_original", "sms": "sms_prompted_original", "trec": None}
LABEL_MODELS = ("LabelModel + y_dev", "LabelModel", "MajorityVote", "MajorityVote + y_dev weights",
                "StackedLabelModel")
"""StackedLabelModel (the LFs trusted, the prompts read) only where LLM votes are stacked;
"+ y_dev weights": each source weighted by its log-odds of being right on the valid rows."""
CLASS_WEIGHTS = (None, "balanced")
MIN_CONFIDENCES = (0.0, 0.9)
Settings = tuple[str, str | None, float]
"""(label model, class_weight, min_confidence) of the labels a student is trained on."""
STUDENT_LABELS: dict[str, dict[str, tuple[Settings, Settings]]] = {
    # Two finalists per vote source: the best settings of the two label models whose best
    # TfidfStudent valid score is highest (python -m benchmarks.case_study --select; label
    # models that see valid labels are scored by 2-fold cross-fitting; ties: the first in
    # LABEL_MODELS, CLASS_WEIGHTS, MIN_CONFIDENCES order). The TfidfStudent uses the first;
    # each MiniLM student is trained on both and keeps the one with its better valid score
    # (the "finalists' valid" column): a cheap proxy prunes, the student itself decides.
    # Valid spam F1 / accuracy of the TfidfStudent:
    # youtube (120 valid rows, one row = 1 point): LFs LabelModel + y_dev balanced 86.9,
    # LabelModel balanced 86.9 (MajorityVote + y_dev weights 86.3); LLM + LFs LabelModel
    # + y_dev balanced 0.9 88.2, LabelModel balanced 0.9 88.2 (MajorityVote 0.9 88.0,
    # StackedLabelModel balanced 0.9 86.9).
    "youtube": {
        "LFs": (("LabelModel + y_dev", "balanced", 0.0), ("LabelModel", "balanced", 0.0)),
        "LLM + LFs": (("LabelModel + y_dev", "balanced", 0.9), ("LabelModel", "balanced", 0.9)),
    },
    # sms: LFs LabelModel balanced 88.9, MajorityVote balanced 88.7 (MajorityVote + y_dev
    # weights balanced 0.9 86.7, LabelModel + y_dev 72.5); LLM + LFs StackedLabelModel
    # balanced 0.9 89.7, MajorityVote 0.9 81.5 (LabelModel balanced 77.2).
    "sms": {
        "LFs": (("LabelModel", "balanced", 0.0), ("MajorityVote", "balanced", 0.0)),
        "LLM + LFs": (("StackedLabelModel", "balanced", 0.9), ("MajorityVote", None, 0.9)),
    },
    # trec: MajorityVote + y_dev weights balanced 0.9 58.6, MajorityVote balanced 56.0
    # (LabelModel + y_dev balanced 51.4).
    "trec": {"LFs": (("MajorityVote + y_dev weights", "balanced", 0.9), ("MajorityVote", "balanced", 0.0))},
}
DEFAULT, TUNED = "default", "tuned"
"""The ``settings`` column: one configuration for every set (the library's defaults), or
chosen per set on its valid split (the prompt subset, the label model, class weighting and
min_confidence feeding the students in STUDENT_LABELS)."""
STUDENTS = {"tfidf": "TfidfStudent", "minilm-full": "MiniLM full", "minilm-lora": "MiniLM lora"}
"""Command-line name -> the ladder's name of each student."""
MINILM = {"epochs": 2, "max_length": 64, "batch_size": 16}


def _splits(name: str, prompted: str | None) -> dict[str, dict]:
    out = {}
    for split in ("train", "valid", "test"):
        data, lfs, y = load_wrench(SHARED_DATA / name, split)
        entry = {"text": data["text"].astype(str).tolist(), "y": y, "lfs": lfs}
        if prompted:
            _, llm, y_llm = load_wrench(SHARED_DATA / prompted, split)
            if not np.array_equal(y, y_llm):
                raise ValueError(f"{prompted}/{split} does not hold the rows of {name}/{split}")
            entry["llm"] = llm
        out[split] = entry
    return out


def prompts_above_chance(L: LabelMatrix, y: np.ndarray, z: float = 2.0) -> list[str]:
    """Names of the sources right more often than chance on gold rows (one-sided, ``z`` sd).

    Chance for a vote of class ``a`` is the gold frequency of ``a``: a prompt that calls
    everything spam is right as often as spam is common, and tells nothing.
    """
    votes, k = L.votes.astype(np.int64), L.cardinality
    prior = np.bincount(y, minlength=k) / len(y)
    voted = votes != ABSTAIN
    chance = np.where(voted, prior[np.where(voted, votes, 0)], 0.0)
    correct = (voted & (votes == y[:, None])).sum(axis=0)
    spread = np.sqrt((chance * (1 - chance)).sum(axis=0))
    keep = (spread > 0) & (correct > chance.sum(axis=0) + z * spread)
    return [name for name, kept in zip(L.lf_names, keep, strict=True) if kept]


def _metrics(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float]:
    """(main score, accuracy) in %: spam F1 for binary tasks, accuracy otherwise."""
    scores = score_predictions(y, pred, ("accuracy", "f1"), cardinality=k)
    return 100 * (scores["f1"] if k == 2 else scores["accuracy"]), 100 * scores["accuracy"]


def _fit_label_model(kind: str, splits: dict, key: str, k: int, seed: int, dev_rows: np.ndarray | None = None):
    """The label model ``kind`` fitted on train votes; kinds with ``y_dev`` see the valid
    labels (only those of ``dev_rows`` when given)."""
    train, valid, y_valid = splits["train"][key], splits["valid"][key], splits["valid"]["y"]
    if dev_rows is not None:
        valid, y_valid = valid.take(np.flatnonzero(dev_rows)), y_valid[dev_rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # source-quality warnings: the ladder shows their effect
        if kind == "MajorityVote":
            return MajorityVote(cardinality=k, random_state=seed).fit(train)
        if kind == "MajorityVote + y_dev weights":
            return MajorityVote("dev", cardinality=k, random_state=seed).fit(train, y_dev=y_valid, L_dev=valid)
        if kind == "LabelModel":
            return LabelModel(cardinality=k, random_state=seed).fit(train)
        if kind == "StackedLabelModel":  # the hand-written LFs trusted, the prompts read
            trusted = splits["train"]["lfs"].lf_names
            return StackedLabelModel(trusted, cardinality=k, random_state=seed).fit(train)
        return LabelModel(cardinality=k, random_state=seed).fit(train, y_dev=y_valid, L_dev=valid)


def _label_model_scores(model, splits: dict, key: str, k: int) -> dict[str, float]:
    out = {}
    for split in ("valid", "test"):
        out[split], out[f"{split} acc"] = _metrics(splits[split]["y"], model.predict(splits[split][key]), k)
    return out


def _student_factories(
    names: list[str], args: argparse.Namespace
) -> dict[str, Callable[[str | None, float], object]]:
    """``{"TfidfStudent" | "MiniLM full" | "MiniLM lora": (class_weight, min_confidence) ->
    unfitted student}``."""
    students: dict[str, Callable[[str | None, float], object]] = {}
    for name in names:
        if name == "tfidf":
            students[STUDENTS[name]] = lambda cw, confidence: TfidfStudent(
                class_weight=cw, min_confidence=confidence)
        else:
            mode = name.removeprefix("minilm-")
            students[STUDENTS[name]] = lambda cw, confidence, mode=mode: TransformerStudent(
                adaptation=mode, class_weight=cw, min_confidence=confidence, random_state=args.seed,
                progress=False, n_threads=args.threads, **MINILM,
            )
    return students


def _train_student(student, splits: dict, targets: np.ndarray, mask: np.ndarray, k: int) -> dict:
    start = time.perf_counter()
    student.fit(splits["train"]["text"], targets, labeled_mask=mask, n_classes=k,
                dev_texts=splits["valid"]["text"], dev_y=splits["valid"]["y"])
    out = {"train s": time.perf_counter() - start, "train rows": student.n_train_rows_}
    for split in ("valid", "test"):
        out[split], out[f"{split} acc"] = _metrics(splits[split]["y"], student.predict(splits[split]["text"]), k)
    epochs = [r["seconds"] for r in student.history_ if "seconds" in r]
    if epochs:
        out["s / epoch"] = float(np.mean(epochs))
        out["epochs (kept)"] = f"{len(epochs)} ({student.best_epoch_})"
    return out


def _default_student(student, splits: dict, key: str, k: int, seed: int) -> dict:
    """The default path with one configuration for every set: LabelModel with the valid gold
    labels as y_dev, then the student on its labels plus the valid gold rows (half the
    weight, ``with_labeled_rows``), as ``python -m weaklabel.fit`` does. Its valid score
    includes rows it trained on, so only test is reported."""
    L, valid = splits["train"][key], splits["valid"]
    probs = _fit_label_model("LabelModel + y_dev", splits, key, k, seed).predict_proba(L)
    covered = (L.votes != ABSTAIN).any(axis=1)
    rows = with_labeled_rows(splits["train"]["text"], probs, valid["text"], valid["y"], labeled_mask=covered)
    start = time.perf_counter()
    student.fit(rows.texts, rows.probs, rows.sample_weight, labeled_mask=rows.labeled_mask, n_classes=k,
                dev_texts=valid["text"], dev_y=valid["y"])
    out = {"train s": time.perf_counter() - start, "train rows": student.n_train_rows_}
    out["test"], out["test acc"] = _metrics(splits["test"]["y"], student.predict(splits["test"]["text"]), k)
    epochs = [r["seconds"] for r in student.history_ if "seconds" in r]
    if epochs:
        out["s / epoch"] = float(np.mean(epochs))
        out["epochs (kept)"] = f"{len(epochs)} ({student.best_epoch_})"
    return out


def _select(splits: dict, sources: dict[str, str], k: int, seed: int) -> list[dict]:
    """Valid scores of a TfidfStudent on every (label model, class_weight, min_confidence)
    candidate. A label model that sees valid labels (``y_dev``) is scored by 2-fold
    cross-fitting: each half of valid is predicted by a student whose label model saw only
    the other half's labels, so that fitting on valid does not flatter it."""
    rows = []
    n_valid = len(splits["valid"]["y"])
    first_half = np.random.default_rng(seed).permutation(n_valid) % 2 == 0
    for source, key in sources.items():
        L = splits["train"][key]
        mask = (L.votes != ABSTAIN).any(axis=1)
        for kind in LABEL_MODELS:
            if kind == "StackedLabelModel" and key == "lfs":
                continue
            folds = [first_half, ~first_half] if "y_dev" in kind else [None]
            probs = [_fit_label_model(kind, splits, key, k, seed, None if held is None else ~held).predict_proba(L)
                     for held in folds]
            for cw in CLASS_WEIGHTS:
                for confidence in MIN_CONFIDENCES:
                    pred = np.empty(n_valid, dtype=np.int64)
                    for held, targets in zip(folds, probs, strict=True):
                        student = TfidfStudent(class_weight=cw, min_confidence=confidence).fit(
                            splits["train"]["text"], targets, labeled_mask=mask, n_classes=k)
                        rows_held = np.ones(n_valid, dtype=bool) if held is None else held
                        pred[rows_held] = student.predict([t for t, h in zip(splits["valid"]["text"], rows_held,
                                                                                 strict=True) if h])
                    rows.append({"source": source, "label model": kind, "class_weight": cw,
                                 "min_confidence": confidence, "valid": _metrics(splits["valid"]["y"], pred, k)[0]})
                    print(rows[-1], flush=True)
    return rows


def run_dataset(name: str, prompted: str | None, args: argparse.Namespace) -> list[dict]:
    splits = _splits(name, prompted)
    k = splits["train"]["lfs"].cardinality
    rows: list[dict] = []

    def add(rung: str, method: str, scores: dict, settings: str = DEFAULT) -> None:
        rows.append({"dataset": name, "rung": rung, "method": method, "settings": settings, **scores})

    def label_model_rung(rung: str, method: str, key: str, kind: str = "LabelModel + y_dev",
                         settings: str = DEFAULT):
        model = _fit_label_model(kind, splits, key, k, args.seed)
        scores = _label_model_scores(model, splits, key, k)
        add(rung, method, scores, settings)
        return scores

    def zero_shot(prompt: str) -> dict[str, float]:
        """One prompt as a yes/no classifier: its class where it votes, the other class elsewhere."""
        train = splits["train"]["llm"].select(prompt).votes[:, 0]
        other = int(np.argmin(np.bincount(train[train != ABSTAIN], minlength=k)))
        out = {}
        for split in ("valid", "test"):
            votes = splits[split]["llm"].select(prompt).votes[:, 0].astype(np.int64)
            out[split], out[f"{split} acc"] = _metrics(splits[split]["y"], np.where(votes == ABSTAIN, other, votes), k)
        return out

    if prompted:
        names = splits["train"]["llm"].lf_names
        add("1 LLM zero-shot", f"T0++ prompt {names[0]} (no vote -> the other class)", zero_shot(names[0]))
        singles = pd.DataFrame([zero_shot(prompt) for prompt in names]).mean().to_dict()
        add("1 LLM zero-shot", f"mean over the {len(names)} single prompts", singles)
        label_model_rung("2 engineered prompts", "all T0++ prompts, majority vote", "llm", "MajorityVote")
        all_prompts = label_model_rung("2 engineered prompts", "all T0++ prompts, LabelModel", "llm")
        chosen = prompts_above_chance(splits["valid"]["llm"], splits["valid"]["y"])
        n_prompts = len(splits["train"]["llm"].lf_names)
        for split in splits.values():
            split["chosen"] = split["llm"].select(chosen)
        selected = label_model_rung(
            "2 engineered prompts", f"{len(chosen)} of {n_prompts} prompts above chance on valid, LabelModel",
            "chosen", settings=TUNED)
        prompts = "chosen" if selected["valid"] > all_prompts["valid"] else "llm"
        for split in splits.values():
            split["stack"] = LabelMatrix.hstack([split["lfs"], split[prompts]])
            split["stack all"] = LabelMatrix.hstack([split["lfs"], split["llm"]])
    label_model_rung("3 LFs", "hand-written LFs, majority vote", "lfs", "MajorityVote")
    label_model_rung("3 LFs", "hand-written LFs, LabelModel", "lfs")
    sources = {"LFs": "lfs"}
    defaults = {"LFs": "lfs"}
    if prompted:
        label_model_rung("3 LLM + LFs", "LFs + all prompts, majority vote", "stack all", "MajorityVote")
        label_model_rung("3 LLM + LFs", "LFs + all prompts, LabelModel", "stack all")
        defaults["LLM + LFs"] = "stack all"
        if prompts == "chosen":  # the prompt set chosen on valid: a per-set choice
            label_model_rung("3 LLM + LFs", "LFs + prompts above chance, LabelModel", "stack",
                             settings=TUNED)
        which = "prompts above chance" if prompts == "chosen" else "all prompts"
        label_model_rung("3 LLM + LFs", f"LFs + {which}, StackedLabelModel (LFs trusted)", "stack",
                         "StackedLabelModel", settings=TUNED)
        sources["LLM + LFs"] = "stack"

    if args.select:
        table = pd.DataFrame(_select(splits, sources, k, args.seed))
        print(f"\n{name}: TfidfStudent valid score per label model and class_weight\n{table.to_string()}")

    for source, key in defaults.items():
        for student_name, make in _student_factories(args.students, args).items():
            add("4 student", f"{student_name} on {source} (defaults)",
                _default_student(make(None, 0.0), splits, key, k, args.seed))
    students = _student_factories(args.students, args)
    for source, key in sources.items():
        L = splits["train"][key]
        mask = (L.votes != ABSTAIN).any(axis=1)
        finalists = STUDENT_LABELS[name][source]
        probs = [_fit_label_model(kind, splits, key, k, args.seed).predict_proba(L) for kind, _, _ in finalists]
        for student_name, make in students.items():
            tried = finalists[:1] if student_name == STUDENTS["tfidf"] else finalists
            results = [_train_student(make(cw, confidence), splits, targets, mask, k)
                       for (_, cw, confidence), targets in zip(tried, probs, strict=False)]
            best = max(range(len(results)), key=lambda i: results[i]["valid"])  # ties: the first
            if len(results) > 1:
                results[best]["finalists' valid"] = " / ".join(f"{r['valid']:.1f}" for r in results)
            add("4 student", _student_method(student_name, source, tried[best]), results[best], TUNED)
    gold = splits["train"]["y"]
    for student_name, make in _student_factories(args.gold_students, args).items():
        add("5 upper bound", f"{student_name} on gold train labels",
            _train_student(make(None, 0.0), splits, gold, gold >= 0, k))
    return rows


def _student_method(student_name: str, source: str, settings: Settings) -> str:
    """The ladder's name of a student row: the student, its votes and their settings."""
    kind, cw, confidence = settings
    named = [kind] + (["balanced"] if cw else []) + ([f"min_confidence {confidence}"] if confidence else [])
    return f"{student_name} on {source} ({', '.join(named)})"


def _previous_rows(new_rows: list[dict]) -> list[dict]:
    """Rows of the last results that this run did not recompute: the students (by name) and
    every row of the datasets not run. Rungs 1-3 are cheap and always recomputed; student
    rows of settings no longer chosen in STUDENT_LABELS are dropped."""
    path = RESULTS_DIR / "case_study.json"
    if not path.is_file():
        return []
    done = {(row["dataset"], row["rung"], row["method"]) for row in new_rows}
    run = {row["dataset"] for row in new_rows}
    # a student run here replaces every earlier row of it (a MiniLM row of the other finalist)
    students_run = {(row["dataset"], row["method"].split(" on ")[0]) for row in new_rows if row["rung"][0] == "4"}
    current = {
        (dataset, method)
        for dataset, sources in STUDENT_LABELS.items()
        for source, finalists in sources.items()
        for student in STUDENTS.values()
        for method in [f"{student} on {source} (defaults)"]
        + [_student_method(student, source, settings) for settings in finalists]
    }
    table = json.loads(path.read_text())["tables"]["ladder"]["data"]
    for row in table:  # results from before the settings column: student rows were tuned
        if row.get("settings") is None:
            row["settings"] = TUNED if row["rung"][0] == "4" else DEFAULT
    return [
        row for row in table
        if (row["dataset"], row["rung"], row["method"]) not in done
        and (row["dataset"] not in run or row["rung"][0] in "45")
        and (row["rung"][0] != "4" or ((row["dataset"], row["method"]) in current
                                       and (row["dataset"], row["method"].split(" on ")[0]) not in students_run))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--students", nargs="*", default=["tfidf"], choices=list(STUDENTS),
                        help="students on the weak labels (minilm-*: fine-tuning on CPU, minutes)")
    parser.add_argument("--gold-students", nargs="*", default=None, choices=list(STUDENTS),
                        help="students of the upper bound (default: --students)")
    parser.add_argument("--select", action="store_true", help="print the valid search behind STUDENT_LABELS")
    parser.add_argument("--keep-others", action="store_true",
                        help="keep the last results' student rows that this run does not recompute")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.gold_students is None:
        args.gold_students = args.students
    rows = [row for name in args.datasets for row in run_dataset(name, DATASETS[name], args)]
    if args.keep_others:
        rows = _previous_rows(rows) + rows
    order = {name: i for i, name in enumerate(DATASETS)}
    table = pd.DataFrame(rows).sort_values(
        ["dataset", "rung"], key=lambda s: s.map(order) if s.name == "dataset" else s, kind="stable"
    )
    columns = ["settings", "valid", "test", "test acc", "train s", "s / epoch", "epochs (kept)",
               "train rows", "finalists' valid"]
    table = table.set_index(["dataset", "rung", "method"]).reindex(columns=columns).round(1)
    notes = (
        "Test split of each WRENCH dataset. valid/test: spam F1 (youtube, sms) or accuracy (trec), "
        "in %; test acc: accuracy. Label models fitted on train votes (y_dev from valid where named). "
        "Students: trained on train rows with at least one vote and a top probability >= "
        "min_confidence (gold: every row), early-stopped on valid (dev loss, best epoch kept). The "
        "label model feeding them, the class weighting and min_confidence: two finalists chosen on "
        "valid by a TfidfStudent's valid score (STUDENT_LABELS in the script); the TfidfStudent uses "
        "the first, each MiniLM student is trained on both and keeps its better valid score "
        "(finalists' valid). StackedLabelModel: the LFs "
        "trusted, the prompts read by a logistic regression fitted to the LFs' labels. "
        f"MiniLM: all-MiniLM-L6-v2, {MINILM['epochs']} epochs max, max_length {MINILM['max_length']}, "
        f"batch {MINILM['batch_size']}, length-grouped batches, AdamW lr 1e-4 (full) / 1e-3 (LoRA r=8 "
        "on q/k/v), one torch thread, seed 0. Times on a 2-core CPU shared with other jobs (another "
        "benchmark process or more while measured): upper bounds, only comparable within this table. "
        "The upper-bound rows come from an earlier run of the same script and settings."
    )
    write_results("case_study", {"ladder": table}, notes)


if __name__ == "__main__":
    main()
