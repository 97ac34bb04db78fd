"""Two choices of the LLM labeler measured with the local model (SmolLM2-135M-Instruct, in-process).

Part of ``benchmarks/llm_labelers.py`` (``--parts bias fewshot``); the helpers live here
to keep that script short.

**Bias correction without labels** (``bias``): the raw argmax of the label words'
log-probabilities, the content-free correction (the default), batch calibration, and —
as the reference that needs labeled rows — offsets calibrated on the valid split. YouTube
and SMS (2 classes) and TREC (6 classes), test split; one set of scores per dataset, so
the rules differ only in how they read it.

**Few-shot examples** (``fewshot``, 150 test rows per dataset): k = 4 examples per prompt from the same labeled pool
(half of the valid split), chosen once at random, class by class (``"random"``), per row
as the nearest pool rows by MiniLM similarity (``"nearest"``), or per row by max-marginal
relevance (``"mmr"``); zero-shot beside them. Every variant is calibrated on 60 rows of the
other half of the valid split, so the comparison is on the same budget of labeled rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

from benchmarks._results import SHARED_DATA
from weaklabel.data import load_wrench
from weaklabel.lf import ABSTAIN
from weaklabel.llm import LLMLabeler
from weaklabel.llm.calibration import (
    CONTENT_FREE_INPUTS,
    VoteRule,
    batch_offsets,
    content_free_offsets,
)

__all__ = ["TASKS", "bias_rows", "fewshot_rows", "load_task"]

TASKS = {
    "youtube": {
        "prompt": "Classify this YouTube comment as spam or ham. Spam promotes a channel, product or link; "
        "ham is a reaction to the video. Answer with one word: spam or ham.\n\nComment: {text}",
        "labels": {"spam": 1, "ham": 0},
        "rows": (250, 120),
    },
    "sms": {
        "prompt": "Classify this SMS message as spam or ham. Spam advertises prizes, offers or services to "
        "call or text; ham is a personal message. Answer with one word: spam or ham.\n\nMessage: {text}",
        "labels": {"spam": 1, "ham": 0},
        "rows": (200, 200),
    },
    "trec": {
        "prompt": "What kind of answer does this question ask for? Answer with one word: description, "
        "entity, human, abbreviation, location or number.\n\nQuestion: {text}",
        "labels": {"description": 0, "entity": 1, "human": 2, "abbreviation": 3, "location": 4, "number": 5},
        "rows": (200, 200),
    },
}


def load_task(name: str, seed: int = 0, n_test: int | None = None) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """Test rows and valid rows (seeded samples of the sizes in :data:`TASKS`, or ``n_test`` test rows)."""
    default_test, n_dev = TASKS[name]["rows"]
    n_test = n_test or default_test
    test, _, y = load_wrench(SHARED_DATA / name, "test")
    dev, _, y_dev = load_wrench(SHARED_DATA / name, "valid")
    rng = np.random.default_rng(seed)
    t = np.sort(rng.choice(len(test), min(n_test, len(test)), replace=False))
    d = np.sort(rng.choice(len(dev), min(n_dev, len(dev)), replace=False))
    return test.iloc[t], y[t], dev.iloc[d], y_dev[d]


def _scores(votes: np.ndarray, y: np.ndarray, classes: list[int]) -> dict[str, float]:
    return {
        "accuracy": float((votes == y).mean()),
        "macro-F1": float(f1_score(y, votes, labels=classes, average="macro", zero_division=0)),
        "top class share": float(np.bincount(votes[votes != ABSTAIN] - min(classes)).max() / len(votes)),
    }


def bias_rows(name: str, cache: Path) -> list[dict]:
    """One row per vote rule on one dataset."""
    task = TASKS[name]
    test, y, dev, y_dev = load_task(name)
    labeler = LLMLabeler(name, task["prompt"], task["labels"], backend="local", cache_path=cache, bias="none")
    scores = labeler.group_scores(test, progress=False)
    content_free = labeler.group_scores(pd.DataFrame({"text": list(CONTENT_FREE_INPUTS)}), progress=False)
    groups = labeler.vote_groups
    rules = {
        "raw argmax (bias='none')": VoteRule(groups),
        "content-free (default)": VoteRule(groups, offsets=content_free_offsets(content_free)),
        "batch": VoteRule(groups, offsets=batch_offsets(scores)),
        "calibrated on valid (labels)": VoteRule(groups).calibrate(labeler.group_scores(dev, progress=False), y_dev, "f1"),
    }
    rows = []
    for rule_name, rule in rules.items():
        row = {"dataset": name, "vote rule": rule_name, **_scores(rule.votes(scores), y, sorted(groups)),
               "n test": len(y)}
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows


def fewshot_rows(name: str, cache: Path, k: int = 4, n_test: int = 150) -> list[dict]:
    """One row per few-shot selection on one dataset (``n_test`` test rows: every row's
    prompt carries its own examples, about five times the work of a zero-shot row)."""
    task = TASKS[name]
    test, y, dev, y_dev = load_task(name, n_test=n_test)
    half = np.arange(len(dev)) % 2 == 0
    pool, y_pool, calib, y_calib = dev[half], y_dev[half], dev[~half], y_dev[~half]
    variants = {"zero-shot": {}, **{f"{k}-shot {m}": {"few_shot": k, "few_shot_selection": m} for m in ("random", "nearest", "mmr")}}
    rows = []
    for variant, options in variants.items():
        labeler = LLMLabeler(f"{name}-{variant}", task["prompt"], task["labels"], backend="local", cache_path=cache,
                             examples=(pool, y_pool) if options else None, calibration_rows=60, **options)
        labeler.calibrate(calib, y_calib, progress=False)
        start = time.perf_counter()
        votes = labeler.apply_batch(test, progress=False)
        seconds = time.perf_counter() - start
        row = {"dataset": name, "examples": variant, **_scores(votes, y, sorted(labeler.vote_groups)),
               "rows/s": len(test) / seconds, "n test": len(y), "n pool": len(pool), "n calibration": len(calib)}
        if len(labeler.vote_groups) == 2:
            row["AUC"] = float(roc_auc_score(y, labeler.score(test, progress=False)))
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows
