"""The HTML report of a multi-label run: scores, then one view per label.

Sections: micro/macro F1 of majority vote, the label model and the student on every gold
split; per-label precision, recall and F1 of each (the label whose F1 lags is where the
next LF goes); the labels' coverage and prevalence as bars; the sources per label; the
co-occurrence of the gold labels; a few test rows with their gold and predicted labels,
the student's mistakes first; LLM usage and timings. Images are embedded.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.multilabel.analysis import co_occurrence, plot_label_summary
from weaklabel.report import _SORT_SCRIPT, _STYLE, _figure_tag, _table
from weaklabel.run_result import RunResult
from weaklabel.run_summary import comparison_table, llm_usage_table

__all__ = ["render_report"]

_EXAMPLES = 25


def _per_label_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Rows: labels; columns: precision/recall/F1 of each method, on one split."""
    tables = {method: pd.DataFrame(table).T for method, table in metrics["per_label"].items()}
    joined = pd.DataFrame({"support": next(iter(tables.values()))["support"]})
    for method, table in tables.items():
        for column in ("precision", "recall", "f1"):
            joined[f"{method} {column}"] = table[column]
    return joined


def _examples(result: RunResult, split_name: str, classes: list[str], student_probs: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows of a gold split with their gold, label-model and student label sets; rows the
    student gets wrong first."""
    split = result.splits[split_name]
    gold = split.gold
    lm = result.probs[split_name] > 0.5
    names = lambda row: ", ".join(classes[c] for c in np.flatnonzero(row)) or "-"  # noqa: E731
    frame = pd.DataFrame(
        {"text": split.data["text"].astype(str).str.slice(0, 160).to_numpy(),
         "gold": [names(r > 0) for r in gold],
         "label model": [names(r) for r in lm]},
    )
    if split_name in student_probs:
        student = student_probs[split_name] > result.student.thresholds_[None, :]
        frame["student"] = [names(r) for r in student]
        wrong = (student != (gold > 0)).sum(axis=1)
        frame = frame.iloc[np.argsort(-wrong, kind="stable")]
    return frame.head(_EXAMPLES)


def render_report(
    result: RunResult,
    classes: list[str],
    summary: pd.DataFrame,
    labels: pd.DataFrame,
    student_probs: dict[str, np.ndarray],
) -> str:
    """The multi-label run as one self-contained HTML page."""
    config = result.config
    parts = [
        f"<h1>weaklabel report: {html.escape(config.name)} (multi-label)</h1>",
        f"<p class='muted'>{len(classes)} labels · label model: {html.escape(config.label_model.kind)} · "
        f"student: {html.escape(config.student.kind)} · seed {config.seed} · "
        + ", ".join(f"{s.name}: {len(s.data)} rows" for s in result.splits.values())
        + "</p>",
        "<h2>Scores</h2>",
    ]
    comparison = comparison_table(result.metrics)
    if len(comparison):
        columns = ["split", "method", "micro_f1", "macro_f1", "micro_precision", "micro_recall", "subset_accuracy"]
        parts.append(_table(comparison[columns], index=False))
    else:
        parts.append("<p>No split has gold labels.</p>")
    gold_split = next((s for s in ("test", "valid", "train") if s in result.metrics), None)
    if gold_split is not None:
        parts += [f"<h2>Per label ({gold_split})</h2>", _table(_per_label_table(result.metrics[gold_split]))]
    parts += [
        "<h2>Labels (train split)</h2>",
        "<p class='muted'>coverage: rows where a source of the label votes; predicted: rows the "
        "label model says have it; prevalence and F1 with gold labels.</p>",
        _table(labels),
        _figure_tag(plot_label_summary(labels).figure, "coverage, predictions and F1 per label"),
        "<h2>Sources per label (train split)</h2>",
        _table(summary),
    ]
    train = result.splits["train"]
    if train.has_gold:
        parts += ["<h2>Label co-occurrence (train gold: P(column | row))</h2>",
                  _table(co_occurrence(train.y, classes))]
    if gold_split is not None and gold_split != "train":
        parts += [f"<h2>Examples ({gold_split}, the student's mistakes first)</h2>",
                  _table(_examples(result, gold_split, classes, student_probs), index=False)]
    reports = result.metrics.get("llm_labelers") or {}
    if reports:
        parts += ["<h2>LLM labelers</h2>", _table(llm_usage_table(reports))]
    parts += ["<h2>Timings</h2>", _table(pd.DataFrame({"seconds": result.timings}))]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>weaklabel: {html.escape(config.name)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}<script>{_SORT_SCRIPT}</script></body></html>"
    )
