"""What a run's votes and probabilities say, as tables both the report and the review app show.

Every function takes plain arrays (votes, predicted classes, gold labels, class names), so
the static report (from a ``RunResult`` in memory) and the review
app (from a run folder on disk) compute the same numbers the same way:

- ``comparison_table`` — accuracy and F1 per split and method;
- ``split_coverage`` — coverage and class balance per split, with a warning when they
  shift between splits (a split whose coverage falls from 0.52 to 0.30 is named);
- ``class_report`` — confusion matrix and per-class precision, recall and F1;
- ``source_examples`` — the rows where a source votes, disagrees with the label model,
  or is wrong on labeled rows;
- ``llm_quality`` — each LLM labeler's accuracy, coverage and F1 on the labeled dev rows,
  beside what its calibration recorded (threshold, score, AUC) when its report holds them.

Shift thresholds were fixed from what the numbers mean, not fitted to a data set: a coverage
change of 0.10 or more (absolute) and a total-variation distance of 0.10 or more between two
splits' predicted class shares each mean that a tenth of the rows behave differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.lf import ABSTAIN
from weaklabel.metrics import confusion_matrix

__all__ = [
    "BALANCE_SHIFT",
    "COVERAGE_SHIFT",
    "SplitVotes",
    "class_labels",
    "class_report",
    "comparison_table",
    "llm_quality",
    "llm_usage_table",
    "source_examples",
    "split_coverage",
]

COVERAGE_SHIFT = 0.10
"""Absolute change of coverage (share of rows with a vote) that earns a warning."""
BALANCE_SHIFT = 0.10
"""Total-variation distance between two splits' predicted class shares that earns a warning."""


@dataclass
class SplitVotes:
    """One split as the summaries see it: votes (rows x sources), the label model's predicted
    class per row, and gold labels (``-1`` unknown) when the split has any."""

    name: str
    votes: np.ndarray
    predicted: np.ndarray
    gold: np.ndarray | None = None


def class_labels(class_names: Sequence[str] | None, cardinality: int) -> list[str]:
    """The classes as every table and artifact names them: their names in the run's order,
    else their indices as text."""
    return [str(c) for c in class_names] if class_names else [str(c) for c in range(cardinality)]


def _shares(labels: np.ndarray, cardinality: int) -> np.ndarray:
    known = labels[labels >= 0]
    counts = np.bincount(known, minlength=cardinality)[:cardinality].astype(np.float64)
    return counts / max(counts.sum(), 1.0)


_USAGE = (
    "rows", "rows_in_budget", "cache_hits", "requests_sent", "retries", "errors", "refused",
    "refused_before", "unparsable", "malformed", "no_text", "abstains", "cost", "wall_time",
)
"""The LLM usage counts shown, in this order, where a labeler reports them."""
_PLURAL = {"retry_kinds": "retries", "refusal_kinds": "refusals"}


def llm_usage_table(reports: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per LLM labeler: rows, cache hits, requests, failures (and the failures by
    kind, ``refusals`` and ``retries`` as ``kind: count``), cost and time."""
    rows = {}
    for name, report in reports.items():
        row: dict[str, Any] = {key: report[key] for key in _USAGE if key in report}
        for key, value in report.items():
            if key.endswith("_kinds") and isinstance(value, Mapping):
                counts = ", ".join(f"{kind}: {count}" for kind, count in sorted(value.items()))
                row[f"{_PLURAL.get(key, key)} by kind"] = counts or "-"
        rows[name] = row
    return pd.DataFrame(rows).T


def comparison_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Accuracy and F1 of majority vote, the label model and the student on every gold split."""
    rows = []
    for split_name, scores in metrics.items():
        if not isinstance(scores, dict) or "label_model" not in scores:
            continue
        for method in ("majority_vote", "label_model", "student"):
            if method in scores:
                rows.append({"split": split_name, "method": method, **scores[method]})
    return pd.DataFrame(rows)


def split_coverage(splits: Sequence[SplitVotes], class_names: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Rows, coverage, votes per row and class shares (predicted, and gold where known) per
    split, and the warnings where a split departs from the first (train) by the thresholds
    above."""
    k = len(class_names)
    rows, predicted_shares, coverages = [], {}, {}
    for split in splits:
        voted = split.votes != ABSTAIN
        n = len(split.predicted)
        coverage = float(voted.any(axis=1).mean()) if n else float("nan")
        shares = _shares(split.predicted, k)
        row: dict[str, Any] = {
            "split": split.name, "rows": n, "coverage": coverage,
            "votes_per_row": float(voted.sum(axis=1).mean()) if n else float("nan"),
        }
        row.update({f"predicted {name}": share for name, share in zip(class_names, shares, strict=True)})
        if split.gold is not None and (split.gold >= 0).any():
            row.update({f"gold {name}": share for name, share in zip(class_names, _shares(split.gold, k), strict=True)})
        rows.append(row)
        if n:
            predicted_shares[split.name], coverages[split.name] = shares, coverage
    table = pd.DataFrame(rows).set_index("split") if rows else pd.DataFrame()
    warnings: list[str] = []
    if not coverages:
        return table, warnings
    base = next(iter(coverages))
    for name in list(coverages)[1:]:
        change = coverages[name] - coverages[base]
        if abs(change) >= COVERAGE_SHIFT:
            warnings.append(
                f"coverage shifts between splits: {coverages[base]:.2f} on {base}, {coverages[name]:.2f} on "
                f"{name} ({change:+.2f}); the sources fire {'less' if change < 0 else 'more'} often there, "
                f"so the label model's and the student's scores on {name} need not carry over"
            )
        distance = 0.5 * float(np.abs(predicted_shares[name] - predicted_shares[base]).sum())
        if distance >= BALANCE_SHIFT:
            moves = ", ".join(
                f"{c} {a:.2f}→{b:.2f}"
                for c, a, b in zip(class_names, predicted_shares[base], predicted_shares[name], strict=True)
            )
            warnings.append(
                f"class balance shifts between splits: predicted shares {base}→{name}: {moves} "
                f"(total variation {distance:.2f})"
            )
    return table, warnings


def class_report(gold: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confusion matrix (gold rows, predicted columns, by class name) and per-class
    precision, recall, F1 and support over the rows with a gold label."""
    keep = gold >= 0
    k = len(class_names)
    cm = confusion_matrix(gold[keep], predicted[keep], k)
    names = list(class_names)
    confusion = pd.DataFrame(cm, index=pd.Index(names, name="gold"), columns=pd.Index(names, name="predicted"))
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, tp / cm.sum(axis=0), np.nan)
        recall = np.where(cm.sum(axis=1) > 0, tp / cm.sum(axis=1), np.nan)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(axis=1)},
        index=pd.Index(names, name="class"),
    )
    return confusion, per_class


def source_examples(
    vote: np.ndarray, predicted: np.ndarray, gold: np.ndarray | None, limit: int = 5
) -> dict[str, np.ndarray]:
    """Positions (at most ``limit`` each) of the rows where a source votes, where its vote
    differs from the label model's predicted class, and where it is wrong on a gold row."""
    voted = vote != ABSTAIN
    found = {
        "votes": np.flatnonzero(voted)[:limit],
        "disagrees with the label model": np.flatnonzero(voted & (vote != predicted))[:limit],
    }
    if gold is not None:
        found["is wrong on labeled rows"] = np.flatnonzero(voted & (gold >= 0) & (vote != gold))[:limit]
    return found


def llm_quality(
    names: Sequence[str],
    lf_names: Sequence[str],
    votes: np.ndarray,
    gold: np.ndarray,
    reports: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per LLM labeler on the labeled dev rows: rows with gold, coverage, accuracy
    on the rows it voted on, accuracy counting abstains as wrong, macro F1; the calibrated
    ``threshold``, ``calibration_score`` and ``auc`` when its usage report records them."""
    reports = reports or {}
    keep = gold >= 0
    rows = []
    for name in names:
        if name not in lf_names:
            continue
        vote = votes[keep, list(lf_names).index(name)]
        y = gold[keep]
        voted = vote != ABSTAIN
        k = int(max(y.max(initial=0), vote.max(initial=0))) + 1
        f1s = []
        for c in range(k):
            tp = float(((vote == c) & (y == c)).sum())
            denominator = float((vote == c).sum() + (y == c).sum())
            if (y == c).any() or (vote == c).any():
                f1s.append(2 * tp / denominator if denominator else 0.0)
        row: dict[str, Any] = {
            "labeler": name, "dev_rows": int(keep.sum()),
            "coverage": float(voted.mean()) if len(vote) else float("nan"),
            "accuracy_on_voted": float((vote[voted] == y[voted]).mean()) if voted.any() else float("nan"),
            "accuracy": float((vote == y).mean()) if len(vote) else float("nan"),
            "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        }
        report = reports.get(name, {})
        for key in ("threshold", "calibration_score", "auc"):
            if report.get(key) is not None:
                row[key] = report[key]
        rows.append(row)
    return pd.DataFrame(rows).set_index("labeler") if rows else pd.DataFrame()
