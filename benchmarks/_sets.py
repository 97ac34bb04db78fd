"""The visible benchmark sets: every WRENCH-format label matrix in the shared data folder.

One registry for the label-model, student and protocol benchmarks. A set is either
*inductive* (train / valid / test: label models fit on train votes and are scored on test;
valid is the labeled dev split) or *transductive* (the ``llms_for_css`` tasks: one split,
fitted and scored on the same rows, as label models are usually evaluated; dev rows, where a
protocol needs them, are drawn from that split and left out of its score).

The DataSculpt sets replace the hand-written LFs of youtube and sms by the keyword LFs
GPT-3.5-turbo and GPT-4-turbo wrote for them (real LLM-generated label matrices).

Metric per set, fixed by the set's kind and not by any result: spam F1 on the spam sets
(positive-class F1, as the weak-supervision literature reports them), accuracy on TREC and
on the ``llms_for_css`` tasks (classes balanced by construction).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from benchmarks._results import SHARED_DATA
from weaklabel.data import load_llm_votes, load_wrench_stack
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions

__all__ = ["SETS", "BenchmarkSet", "Split", "load_set", "primary_score", "text_sets"]

LLMS_FOR_CSS = (
    "emotion",
    "semeval_stance",
    "ibc",
    "discourse",
    "wiki_politeness",
    "conv_go_awry",
    "reddit_humor",
)


@dataclass(frozen=True)
class BenchmarkSet:
    name: str
    folders: tuple[str, ...]
    """Folders under the shared data whose votes are stacked side by side."""
    metric: str
    """``"f1"`` (positive-class F1) or ``"accuracy"``."""
    transductive: bool = False
    family: str = ""
    """Sets that share texts or votes (a stack and its parts): kept together when a protocol
    leaves one out, so no neighbour of the left-out set helps choose its settings."""
    datasculpt: str | None = None
    """An LLM whose DataSculpt keyword LFs replace the folder's votes (applied as written)."""


SETS: dict[str, BenchmarkSet] = {
    s.name: s
    for s in [
        BenchmarkSet("youtube", ("youtube",), "f1", family="youtube"),
        BenchmarkSet("sms", ("sms",), "f1", family="sms"),
        BenchmarkSet("trec", ("trec",), "accuracy", family="trec"),
        BenchmarkSet(
            "youtube_prompted", ("youtube_prompted_original",), "f1", family="youtube"
        ),
        BenchmarkSet("sms_prompted", ("sms_prompted_original",), "f1", family="sms"),
        BenchmarkSet(
            "youtube+prompted", ("youtube", "youtube_prompted_original"), "f1", family="youtube"
        ),
        BenchmarkSet("sms+prompted", ("sms", "sms_prompted_original"), "f1", family="sms"),
        *[
            BenchmarkSet(
                f"{data}/{llm}-lfs", (data,), "f1", family=data, datasculpt=llm
            )
            for data in ("youtube", "sms")
            for llm in ("gpt-3.5-turbo", "gpt-4-turbo")
        ],
        *[
            BenchmarkSet(
                f"css/{task}",
                (f"llms_for_css/{task}",),
                "accuracy",
                transductive=True,
                family=f"css/{task}",
            )
            for task in LLMS_FOR_CSS
        ],
    ]
}


@dataclass(frozen=True)
class Split:
    L: LabelMatrix
    y: np.ndarray
    texts: list[str]


def text_sets() -> list[str]:
    """Sets with a train split of texts: the ones a student can be trained on."""
    return [name for name, s in SETS.items() if not s.transductive]


@cache
def load_set(name: str) -> dict[str, Split]:
    """``{"train", "valid", "test"}`` splits; a transductive set has one, ``"test"``."""
    spec = SETS[name]
    if spec.transductive:
        data, L, y = load_llm_votes(SHARED_DATA / spec.folders[0])
        return {"test": Split(L, y, data["text"].astype(str).tolist())}
    out = {}
    for split in ("train", "valid", "test"):
        data, L, y = load_wrench_stack([SHARED_DATA / f for f in spec.folders], split)
        texts = data["text"].astype(str).tolist()
        if spec.datasculpt:
            L = _datasculpt_votes(spec.folders[0], spec.datasculpt, texts, L.class_names)
        out[split] = Split(L, y, texts)
    return out


def _datasculpt_votes(dataset: str, llm: str, texts: list[str], class_names: list[str] | None) -> LabelMatrix:
    """The keyword LFs an LLM wrote for ``dataset`` (DataSculpt), applied as DataSculpt does
    (Porter-stemmed tokens; ``benchmarks.suggest`` holds the matcher; needs ``nltk``)."""
    from benchmarks.suggest import _stemmed, datasculpt_lfs, datasculpt_votes

    lfs = datasculpt_lfs(dataset, llm)
    votes = datasculpt_votes(_stemmed(texts), lfs)
    names = [f"{llm}:{keyword}->{label}#{j}" for j, (keyword, label) in enumerate(lfs)]
    return LabelMatrix(votes, names, cardinality=len(class_names or [0, 1]), class_names=class_names)


def primary_score(pred: np.ndarray, y: np.ndarray, metric: str) -> float:
    """The set's metric in points; an abstained prediction (-1) is a miss."""
    if metric == "f1":
        return 100 * score_predictions(y, np.where(pred < 0, 0, pred), ("f1",))["f1"]
    return 100 * float(np.mean(pred == y))
