"""The case-study ladder: LLM alone -> engineered prompts -> LLM + LFs -> distilled students.

For each WRENCH dataset (test split, same rows throughout):

1. LLM alone, zero-shot: one prompt's column of the real T0++ votes (``*_prompted_original``);
2. LLM with engineered prompts: all prompts merged by the label model;
3. hand-written LFs alone, and LLM + LFs stacked, merged by the label model;
4. students trained on the probabilistic labels of (3): TfidfStudent, and with
   ``--transformers`` MiniLM full fine-tuning and LoRA;
5. the supervised upper bound: the same student on gold train labels.

Binary tasks report F1 of the positive class (spam), TREC accuracy. Every label model is
fitted on train votes only (``y_dev`` from the valid split); rows without a vote are left
out of student training.

Run: ``python -m benchmarks.case_study [--transformers] [--epochs 2] [--datasets youtube sms]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from benchmarks._results import SHARED_DATA, write_results
from weaklabel.data import load_wrench
from weaklabel.label_models import LabelModel, MajorityVote
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions
from weaklabel.students import TfidfStudent, TransformerStudent

DATASETS = {"youtube": "youtube_prompted_original", "sms": "sms_prompted_original", "trec": None}


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
            entry["stack"] = LabelMatrix.hstack([lfs, llm])
        out[split] = entry
    return out


def _metric(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    scores = score_predictions(y, pred, ("accuracy", "f1"), cardinality=k)
    return 100 * (scores["f1"] if k == 2 else scores["accuracy"])


def _label_model_rung(splits: dict, key: str, k: int, seed: int):
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    model = LabelModel(cardinality=k, random_state=seed).fit(train[key], y_dev=valid["y"], L_dev=valid[key])
    return model, _metric(test["y"], model.predict_proba(test[key]).argmax(axis=1), k)


def _student_rung(student, splits: dict, probs: np.ndarray, mask: np.ndarray, k: int):
    start = time.perf_counter()
    student.fit(splits["train"]["text"], probs, labeled_mask=mask, n_classes=k,
                dev_texts=splits["valid"]["text"], dev_y=splits["valid"]["y"])
    seconds = time.perf_counter() - start
    pred = student.predict(splits["test"]["text"])
    return _metric(splits["test"]["y"], pred, k), seconds


def _students(args: argparse.Namespace) -> dict[str, object]:
    students: dict[str, object] = {"TfidfStudent": lambda: TfidfStudent()}
    if args.transformers:
        for mode in ("full", "lora"):
            students[f"MiniLM {mode}"] = lambda mode=mode: TransformerStudent(
                adaptation=mode, epochs=args.epochs, max_length=64, random_state=args.seed,
                progress=False,
            )
    return students


def run_dataset(name: str, prompted: str | None, args: argparse.Namespace) -> list[dict]:
    splits = _splits(name, prompted)
    k = splits["train"]["lfs"].cardinality
    test_y = splits["test"]["y"]
    rows: list[dict] = []

    def add(rung: str, method: str, score: float, seconds: float | None = None) -> None:
        rows.append({"dataset": name, "rung": rung, "method": method, "score": round(score, 1),
                     "train s": None if seconds is None else round(seconds, 1)})

    mv = MajorityVote(cardinality=k, random_state=args.seed)
    if prompted:
        first = splits["train"]["llm"].lf_names[0]
        single = {s: {**v, "one": v["llm"].select(first)} for s, v in splits.items()}
        _, score = _label_model_rung(single, "one", k, args.seed)
        add("1 LLM zero-shot", f"T0++ prompt {first} (label model, abstain -> prior)", score)
        per_prompt = [
            _metric(test_y, mv.fit(splits["train"]["llm"].select(p)).predict(splits["test"]["llm"].select(p),
                                                                              tie_break="first"), k)
            for p in splits["train"]["llm"].lf_names
        ]
        add("1 LLM zero-shot", f"mean over the {len(per_prompt)} single prompts", float(np.mean(per_prompt)))
        add("2 engineered prompts", "all T0++ prompts, majority vote",
            _metric(test_y, mv.fit(splits["train"]["llm"]).predict(splits["test"]["llm"]), k))
        _, score = _label_model_rung(splits, "llm", k, args.seed)
        add("2 engineered prompts", "all T0++ prompts, LabelModel", score)
    add("3 LFs", "hand-written LFs, majority vote",
        _metric(test_y, mv.fit(splits["train"]["lfs"]).predict(splits["test"]["lfs"]), k))
    lf_model, score = _label_model_rung(splits, "lfs", k, args.seed)
    add("3 LFs", "hand-written LFs, LabelModel", score)
    sources = {"LFs": ("lfs", lf_model)}
    if prompted:
        add("3 LLM + LFs", "stacked, majority vote",
            _metric(test_y, mv.fit(splits["train"]["stack"]).predict(splits["test"]["stack"]), k))
        stack_model, score = _label_model_rung(splits, "stack", k, args.seed)
        add("3 LLM + LFs", "stacked, LabelModel", score)
        sources["LLM + LFs"] = ("stack", stack_model)

    for source, (key, model) in sources.items():
        L = splits["train"][key]
        probs = model.predict_proba(L)
        mask = (L.votes != ABSTAIN).any(axis=1)
        for student_name, make in _students(args).items():
            score, seconds = _student_rung(make(), splits, probs, mask, k)
            add("4 student", f"{student_name} on {source} label model", score, seconds)
    gold = splits["train"]["y"]
    for student_name, make in _students(args).items():
        score, seconds = _student_rung(make(), splits, gold, gold >= 0, k)
        add("5 upper bound", f"{student_name} on gold train labels", score, seconds)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--transformers", action="store_true", help="also train MiniLM (full, LoRA)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = [row for name in args.datasets for row in run_dataset(name, DATASETS[name], args)]
    table = pd.DataFrame(rows)
    notes = (
        "Test split of each WRENCH dataset. Score: spam F1 (youtube, sms), accuracy (trec), in %. "
        "Label models fitted on train votes with y_dev from the valid split; students trained on "
        "train rows with at least one vote, early-stopped on valid. Training times on a shared 2-core CPU."
    )
    write_results("case_study", {"ladder": table.set_index(["dataset", "rung", "method"])}, notes)


if __name__ == "__main__":
    main()
