"""Prompted labelers with the local model (SmolLM2-135M-Instruct, in-process) on YouTube and SMS.

For each prompt family — zero-shot, an engineered instruction (the best of three variants
by calibrated macro-F1 on the valid split), few-shot (that instruction with 4 examples from
the valid split, seed 0) and an aspect prompt ({"yes": SPAM, "no": ABSTAIN}) — two
decodings: free generation parsed tolerantly, and calibrated label-word log-probability
scoring (threshold chosen on the valid split, macro-F1). Reported on the test split:
accuracy (abstain counts as wrong), accuracy on the rows voted, positive-class (spam) F1
(abstain counts as not spam), abstain share, ranking AUC of the score, and rows/s of the
labeling run (fresh cache, model already loaded). "always spam" is the trivial reference.

A second table shows what the label model makes of these weak votes: LabelModel and
MajorityVote fit (without labels) on the test split's hand-written LF votes (WRENCH),
alone and with the calibrated LLM columns stacked on: a weak LLM vote should not hurt.

The SMS splits are subsampled with a fixed seed (see --sms-rows) to fit the CPU budget.

Two more parts (benchmarks/llm_selection.py) measure the bias correction used without
labeled rows (``--parts bias``: results/llm_bias_correction.md) and few-shot examples
chosen per row by similarity against random stratified ones on the same budget
(``--parts fewshot``: results/llm_fewshot.md), on YouTube, SMS and TREC (6 classes).

    python benchmarks/llm_labelers.py [--parts prompts bias fewshot] [--datasets youtube sms]
                                      [--sms-rows 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import SHARED_DATA, write_results
from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMLabeler, PromptTemplate

SPAM, HAM = 1, 0
LABELS = {"spam": SPAM, "ham": HAM}

# What is labeled, and how the engineered and aspect prompts describe spam there. The
# engineered instructions are variants; the one that calibrates best on the valid split
# (macro-F1) is used, for both decodings and as the base of the few-shot prompt.
DOMAINS = {
    "youtube": {
        "zero": "Is this YouTube comment spam or ham? Answer spam or ham.\n\nComment: {text}",
        "engineered": [
            "Classify this YouTube comment as spam or ham. Spam promotes a channel, product or link; "
            "ham is a reaction to the video. Answer with one word: spam or ham.\n\nComment: {text}",
            "Spam comments advertise: they ask you to subscribe, to check out a channel or to visit a "
            "link. Ham comments talk about the song or the video. Is the following comment spam or ham?"
            "\n\nComment: {text}",
            "You moderate comments under a music video on YouTube. A comment is spam when it "
            "advertises something: it asks people to subscribe, to check out or visit a channel, "
            "a website or a link, or promotes a product or money offer. It is ham when it talks "
            "about the song, the video or the artist. Answer with one word, spam or ham.\n\nComment: {text}",
        ],
        "aspect": "Does this comment ask people to subscribe, or to visit a channel, a website or a link?",
        "subject": "Comment",
    },
    "sms": {
        "zero": "Is this SMS message spam or ham? Answer spam or ham.\n\nMessage: {text}",
        "engineered": [
            "Classify this SMS message as spam or ham. Spam advertises prizes, offers or services to "
            "call or text; ham is a personal message. Answer with one word: spam or ham.\n\nMessage: {text}",
            "Spam messages advertise: they announce a prize or cash to claim, a free offer, or ask you "
            "to call or text a number. Ham messages are personal. Is the following message spam or ham?"
            "\n\nMessage: {text}",
            "You filter text messages. A message is spam when it is an unsolicited advertisement: "
            "prizes, awards or cash to claim, free offers, ringtones, premium-rate numbers to call "
            "or text, or links to follow. It is ham when it is a personal message between people "
            "who know each other. Answer with one word, spam or ham.\n\nMessage: {text}",
        ],
        "aspect": "Does this message offer a prize, money, a free gift or a service to claim by calling, "
        "texting or following a link?",
        "subject": "Message",
    },
}


def pick_engineered(domain: dict, dev: pd.DataFrame, y_dev: np.ndarray, cache_dir: Path, dtype: str):
    """The instruction variant whose calibrated log-prob scores do best on the valid split."""
    best, best_score, scores = None, -1.0, []
    for variant in domain["engineered"]:
        labeler = LLMLabeler("pick", variant, LABELS, backend="local", cache_path=cache_dir / "llm.sqlite", dtype=dtype)
        labeler.calibrate(dev, y_dev, progress=False)
        scores.append(round(labeler.calibration_score_, 3))
        if labeler.calibration_score_ > best_score:
            best, best_score = variant, labeler.calibration_score_
    print(f"engineered variants, valid macro-F1: {scores}", flush=True)
    return best, scores


def prompts(domain: dict, engineered: str, dev: pd.DataFrame, y_dev: np.ndarray) -> dict[str, tuple[PromptTemplate, dict]]:
    few = PromptTemplate.few_shot(engineered, dev, y_dev, LABELS, k=4, seed=0)
    aspect = PromptTemplate.aspect(domain["aspect"], subject=domain["subject"])
    return {
        "zero-shot": (PromptTemplate(domain["zero"]), LABELS),
        "engineered (best of 3 on valid)": (PromptTemplate(engineered), LABELS),
        "few-shot (4) + engineered": (few, LABELS),
        "aspect yes/no": (aspect, {"yes": SPAM, "no": ABSTAIN}),
    }


def load(name: str, n_test: int | None, n_dev: int | None, seed: int = 0):
    folder = SHARED_DATA / name
    test, L, y = load_wrench(folder, "test")
    dev, _, y_dev = load_wrench(folder, "valid")
    rng = np.random.default_rng(seed)
    L = L.to_numpy()
    if n_test is not None and n_test < len(test):
        keep = np.sort(rng.choice(len(test), n_test, replace=False))
        test, L, y = test.iloc[keep], L[keep], y[keep]
    if n_dev is not None and n_dev < len(dev):
        keep = np.sort(rng.choice(len(dev), n_dev, replace=False))
        dev, y_dev = dev.iloc[keep], y_dev[keep]
    return test, L, y, dev, y_dev


def metrics(votes: np.ndarray, y: np.ndarray, scores: np.ndarray | None) -> dict:
    voted = votes != ABSTAIN
    auc = np.nan
    if scores is not None and np.isfinite(scores).all():
        auc = roc_auc_score(y, scores)
    return {
        "accuracy": float((votes == y).mean()),
        "accuracy on voted": float((votes[voted] == y[voted]).mean()) if voted.any() else np.nan,
        "F1 spam": float(f1_score(y, np.where(votes == SPAM, SPAM, HAM), pos_label=SPAM, zero_division=0)),
        "abstain share": float(1 - voted.mean()),
        "AUC": auc,
    }


def run_dataset(name: str, n_test: int | None, n_dev: int | None, cache_dir: Path, dtype: str):
    """The labelers' rows of the first table, and the second table's rows."""
    test, L, y, dev, y_dev = load(name, n_test, n_dev)
    calibrated: dict[str, np.ndarray] = {}
    rows = [{"dataset": name, "prompt": "always spam", "decoding": "-", **metrics(np.full(len(y), SPAM), y, None),
             "rows/s": np.nan, "n test": len(y), "n dev": len(y_dev)}]
    engineered, variant_scores = pick_engineered(DOMAINS[name], dev, y_dev, cache_dir, dtype)
    rows[0]["engineered variants valid F1"] = str(variant_scores)
    for prompt_name, (prompt, labels) in prompts(DOMAINS[name], engineered, dev, y_dev).items():
        for decoding in ("text", "logprobs"):
            labeler = LLMLabeler(
                f"{name}-{prompt_name}-{decoding}", prompt, labels, backend="local", decoding=decoding,
                cache_path=cache_dir / "llm.sqlite", dtype=dtype,
            )
            if decoding == "logprobs":
                labeler.calibrate(dev, y_dev, progress=False)
            start = time.perf_counter()
            votes = labeler.apply_batch(test, progress=False)
            seconds = time.perf_counter() - start
            scores = labeler.score(test, progress=False) if decoding == "logprobs" else None  # cached
            row = {
                "dataset": name, "prompt": prompt_name,
                "decoding": "free generation" if decoding == "text" else "calibrated log-prob",
                **metrics(votes, y, scores),
                "rows/s": len(test) / seconds, "n test": len(y), "n dev": len(y_dev),
            }
            if decoding == "text":
                row["unparsable share"] = labeler.report_.unparsable / len(test)
            else:
                calibrated[prompt_name] = votes
            rows.append(row)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows, label_model_rows(name, L, y, calibrated)


def label_model_rows(name: str, L: np.ndarray, y: np.ndarray, llm: dict[str, np.ndarray]) -> list[dict]:
    from weaklabel.label_models import LabelModel, MajorityVote

    columns = {
        "hand-written LFs": L,
        "LFs + LLM (engineered)": np.column_stack([L, llm["engineered (best of 3 on valid)"]]),
        "LFs + 4 LLM prompts": np.column_stack([L, *llm.values()]),
        "4 LLM prompts alone": np.column_stack(list(llm.values())),
    }
    rows = []
    for sources, votes in columns.items():
        for model in (LabelModel(cardinality=2, random_state=0), MajorityVote(cardinality=2, random_state=0)):
            pred = model.fit(votes).predict(votes, tie_break="random")
            rows.append({
                "dataset": name, "sources": sources, "label model": type(model).__name__,
                "accuracy": float((pred == y).mean()),
                "F1 spam": float(f1_score(y, pred == SPAM, zero_division=0)),
                "n sources": votes.shape[1],
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["youtube", "sms"])
    parser.add_argument("--sms-rows", type=int, default=100, help="rows sampled from each SMS split (seed 0)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--parts", nargs="+", default=["prompts", "bias", "fewshot"], choices=["prompts", "bias", "fewshot"])
    args = parser.parse_args()
    if "bias" in args.parts or "fewshot" in args.parts:
        selection_parts(args.parts)
    if "prompts" not in args.parts:
        return
    from weaklabel.llm.local import LocalModel, _default_threads

    start = time.perf_counter()
    LocalModel.load(dtype=args.dtype)
    load_seconds = time.perf_counter() - start
    sizes = {"youtube": (None, None), "sms": (args.sms_rows, args.sms_rows)}
    records, merged = [], []
    with tempfile.TemporaryDirectory() as tmp:  # a fresh cache: every row is computed here
        for name in args.datasets:
            rows, lm_rows = run_dataset(name, *sizes[name], Path(tmp), args.dtype)
            records += rows
            merged += lm_rows
    table = pd.DataFrame(records).set_index(["dataset", "prompt", "decoding"]).round(3)
    merged_table = pd.DataFrame(merged).set_index(["dataset", "sources", "label model"]).round(3)
    notes = (
        f"SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to {args.dtype}) in-process with transformers; "
        f"model load {load_seconds:.0f} s; torch threads {_default_threads()} at start (load-aware). "
        f"YouTube: full test (250) and valid (120) splits; SMS: {args.sms_rows} rows sampled from each of "
        "the test and valid splits (seed 0). Calibrated rows: threshold on the valid split (macro-F1). "
        "Timings on a shared 2-core machine with other jobs running. Reference (issue, YouTube test, "
        "llama.cpp): free generation F1 0.47 with 38% unparsable; calibrated log-prob accuracy 0.70 / F1 0.705; "
        "in-process fp32 F1 0.67, AUC 0.68; SMS F1 0.24."
    )
    tables = {"labelers (test split)": table, "label model with and without LLM votes (test split)": merged_table}
    write_results("llm_labelers", tables, notes, dtype=args.dtype)


def selection_parts(parts: list[str]) -> None:
    """The bias-correction and few-shot tables (benchmarks/llm_selection.py), on YouTube, SMS and TREC."""
    from benchmarks.llm_selection import TASKS, bias_rows, fewshot_rows

    notes = (
        "SmolLM2-135M-Instruct in-process (dtype='auto': bfloat16 on this CPU), label-word log-probabilities; "
        "test rows and valid rows sampled with seed 0 (YouTube 250/120, SMS 200/200, TREC 200/200; the few-shot "
        "table uses 150 of those test rows). Timings on a shared 2-core machine."
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "llm.sqlite"
        if "bias" in parts:
            rows = [row for name in TASKS for row in bias_rows(name, cache)]
            table = pd.DataFrame(rows).set_index(["dataset", "vote rule"]).round(3)
            write_results("llm_bias_correction", {"vote rules without and with labels (test split)": table}, notes)
        if "fewshot" in parts:
            rows = [row for name in TASKS for row in fewshot_rows(name, cache)]
            table = pd.DataFrame(rows).set_index(["dataset", "examples"]).round(3)
            fewshot_notes = notes + (
                " Examples from one half of the valid split (the pool); every variant calibrated on the other half."
            )
            write_results("llm_fewshot", {"few-shot example selection (test split)": table}, fewshot_notes)


if __name__ == "__main__":
    main()
