"""The numbers behind the Overview and Sources pages, and the error slices, as JSON-ready dicts.

"Labeled rows" here are the rows whose class a person gave: the valid split's gold labels
and the labels given in the app (on train and valid rows). Test rows never count, so the
test scores stay an honest estimate however long an expert works in the app.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._json import json_safe
from weaklabel.analysis import lf_summary
from weaklabel.exceptions import ReviewError
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.review.queries import describe_rows
from weaklabel.review.run_data import RunData
from weaklabel.run_summary import (
    SplitVotes,
    class_report,
    comparison_table,
    llm_quality,
    source_examples,
    split_coverage,
)

__all__ = ["SLICE_ROWS", "ErrorSliceCache", "labeled_mask", "overview", "source_detail", "sources_table"]

SLICE_ROWS = 5_000
"""Labeled rows the error slices are looked for in (a seeded sample on larger runs)."""


def _records(frame: pd.DataFrame, index_name: str) -> list[dict[str, Any]]:
    return json_safe(frame.reset_index().rename(columns={"index": index_name}).to_dict(orient="records"))


def labeled_mask(data: RunData) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a label a person gave (valid gold, or given in the app; never test), and
    that label per row (``-1`` elsewhere)."""
    valid = data.split_of == data.split_names.index("valid") if "valid" in data.split_names else np.zeros(data.n_rows, bool)
    not_test = data.split_of != data.split_names.index("test") if "test" in data.split_names else np.ones(data.n_rows, bool)
    known = np.where(data.review != ABSTAIN, data.review, np.where(valid, data.gold, ABSTAIN))
    known = np.where(not_test, known, ABSTAIN)
    return known != ABSTAIN, known


def _label_model_warnings(data: RunData) -> list[str]:
    fitted = data.label_model.get("fitted", {})
    diagnostics = fitted.get("diagnostics_") or {}
    out = []
    if diagnostics.get("degenerate"):
        out.append("the label model's fit is degenerate (it predicts nearly one class); read its probabilities with care")
    for group in diagnostics.get("duplicate_groups") or []:
        out.append(f"sources that vote almost alike count as one: {', '.join(map(str, group))}")
    unvoted = diagnostics.get("unvoted_classes") or []
    if unvoted:
        names = [data.class_names[c] if isinstance(c, int) and c < data.cardinality else str(c) for c in unvoted]
        out.append(f"no source votes {', '.join(names)}: the label model learns those classes from the class balance only")
    misfit, limit = diagnostics.get("misfit"), fitted.get("max_misfit") or data.label_model.get("params", {}).get("max_misfit")
    if misfit is not None and limit is not None and misfit > limit:
        out.append(f"the votes depart from the generative model's independence assumption (misfit {misfit:.2f} > {limit}); "
                   f"the label model chose the {fitted.get('estimator_', '?')} estimator")
    return out


def overview(data: RunData) -> dict[str, Any]:
    """Scores per split and method, coverage and class balance per split with shift
    warnings, the label model's estimator and warnings, and its per-class quality (computed
    once per run; the count of labels given and the student's state are read each time)."""
    if data._overview is None:
        data._overview = _run_overview(data)
    cached = data._overview
    return {**cached, "reviewed": int((data.review != ABSTAIN).sum()),
            "warnings": cached["warnings"] + ([data.student_error] if data.student_error else [])}


def _run_overview(data: RunData) -> dict[str, Any]:
    splits = [
        SplitVotes(name, data.votes[data.split_slice(name)], data.predicted[data.split_slice(name)],
                   data.gold[data.split_slice(name)] if data.splits[name].has_gold else None)
        for name in data.split_names
    ]
    coverage, shift_warnings = split_coverage(splits, data.class_names)
    fitted = data.label_model.get("fitted", {})
    result: dict[str, Any] = {
        "name": data.config.name,
        "path": str(data.path),
        "classes": data.class_names,
        "sources": len(data.source_names),
        "splits": {name: len(data.splits[name].data) for name in data.split_names},
        "label_model": {
            "kind": data.config.label_model.kind,
            "estimator": fitted.get("estimator_"),
            "class_balance": dict(zip(data.class_names, fitted.get("class_balance_") or [], strict=False)),
            "dev_scores": (fitted.get("diagnostics_") or {}).get("dev_scores"),
        },
        "student": data.config.student.kind,
        "scores": _records(comparison_table(data.metrics), "i") if data.metrics else [],
        "coverage": _records(coverage, "split"),
        "warnings": shift_warnings + _label_model_warnings(data),
    }
    gold_split = next((s for s in ("test", "valid") if s in data.split_names and data.splits[s].has_gold), None)
    if gold_split is not None:
        part = data.split_slice(gold_split)
        confusion, per_class = class_report(data.gold[part], data.predicted[part], data.class_names)
        result["class_report"] = {
            "split": gold_split,
            "confusion": _records(confusion, "gold"),
            "per_class": _records(per_class, "class"),
        }
    return json_safe(result)


def _source_kind(data: RunData, name: str) -> str:
    if name in data.llm_names:
        return "LLM labeler"
    return "LF"


def _train_summary(data: RunData) -> pd.DataFrame:
    """Polarity, coverage, overlaps, conflicts and disagreement with the label model on the
    train split: computed once per run (labels given in the app do not change them)."""
    cached = getattr(data, "_train_summary", None)
    if cached is not None:
        return cached
    train = data.split_slice(data.split_names[0])
    L_train = LabelMatrix(data.votes[train], data.source_names, cardinality=data.cardinality,
                          class_names=data.class_names)
    summary = lf_summary(L_train)
    votes, predicted = data.votes[train], data.predicted[train]
    voted = votes != ABSTAIN
    summary["disagrees_with_label_model"] = (voted & (votes != predicted[:, None])).sum(axis=0) / np.maximum(voted.sum(axis=0), 1)
    data._train_summary = summary
    return summary


def sources_table(data: RunData) -> list[dict[str, Any]]:
    """One row per source: polarity by class name, coverage, overlaps and conflicts on the
    train split, how often it differs from the label model there, and its accuracy on the
    labeled rows."""
    summary = _train_summary(data)
    labeled, known = labeled_mask(data)
    votes, gold = data.votes[labeled], known[labeled]
    voted = votes != ABSTAIN
    correct = (voted & (votes == gold[:, None])).sum(axis=0)
    incorrect = voted.sum(axis=0) - correct
    rows = []
    for j, name in enumerate(data.source_names):
        row = {
            "source": name,
            "kind": _source_kind(data, name),
            "polarity": [str(p) for p in summary.loc[name, "polarity"]],
            **{key: float(summary.loc[name, key]) for key in ("coverage", "overlaps", "conflicts", "disagrees_with_label_model")},
        }
        if labeled.any():
            n = int(correct[j] + incorrect[j])
            row.update(labeled_correct=int(correct[j]), labeled_incorrect=int(incorrect[j]),
                       labeled_accuracy=float(correct[j] / n) if n else None)
        rows.append(row)
    return json_safe(rows)


def source_detail(data: RunData, name: str, limit: int = 5) -> dict[str, Any]:
    """A source's example rows (where it votes, where it differs from the label model,
    where it is wrong on labeled rows) and, for an LLM labeler, its answers by class,
    its quality on the labeled rows and its usage report."""
    if name not in data.source_names:
        raise ReviewError(f"no source {name!r}; the sources are {data.source_names}")
    j = data.source_names.index(name)
    _, known = labeled_mask(data)
    found = source_examples(data.votes[:, j], data.predicted, known, limit=limit)
    result: dict[str, Any] = {
        "source": name,
        "kind": _source_kind(data, name),
        "examples": {kind: describe_rows(data, positions) for kind, positions in found.items()},
    }
    if name in data.llm_names:
        vote = data.votes[:, j]
        answers = {c: int((vote == k).sum()) for k, c in enumerate(data.class_names)}
        answers["(abstain)"] = int((vote == ABSTAIN).sum())
        labeled = known != ABSTAIN
        quality = llm_quality([name], data.source_names, data.votes[labeled], known[labeled],
                              data.metrics.get("llm_labelers") or {})
        result["llm"] = {
            "answers": answers,
            "quality": _records(quality, "labeler")[0] if len(quality) else None,
            "usage": (data.metrics.get("llm_labelers") or {}).get(name),
            "config": next(spec.model_dump(mode="json", exclude={"api_key_env"})
                           for spec in data.config.llm_labelers if spec.name == name),
        }
    return json_safe(result)


class ErrorSliceCache:
    """Error slices of the label model and each LLM labeler on the labeled rows, recomputed
    only when the labels change. Slice ids are ``<source>|<slice id>``."""

    def __init__(self, data: RunData) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._version: int | None = None
        self._slices: list[Any] = []

    def _compute(self) -> list[Any]:
        from weaklabel.error_slices import error_slices

        data = self.data
        labeled, known = labeled_mask(data)
        positions = np.flatnonzero(labeled)
        if len(positions) < 5:
            return []
        if len(positions) > SLICE_ROWS:  # slices are patterns: a seeded sample finds them
            positions = np.sort(np.random.default_rng(data.config.seed).choice(positions, SLICE_ROWS, replace=False))
        L = LabelMatrix(data.votes[positions], data.source_names, cardinality=data.cardinality,
                        class_names=data.class_names, index=positions)
        frame = pd.DataFrame({"text": [data.text(int(i)) for i in positions]}, index=positions)
        sources: list[tuple[str, Any]] = [("label_model", data.predicted[positions])]
        sources += [(name, name) for name in data.llm_names]
        found = []
        for label, source in sources:
            slices = error_slices(L, source, frame, known[positions], name=label, kinds=("ngram", "pattern"),
                                  min_size=3, max_slices=5)
            found.append(slices)
        return found

    def all(self) -> list[Any]:
        with self._lock:
            if self.data.review_version != self._version:
                self._version = self.data.review_version
                self._slices = self._compute()
            return self._slices

    def rows(self, slice_id: str) -> np.ndarray:
        source, _, sid = slice_id.partition("|")
        for slices in self.all():
            if slices.source == source:
                for s in slices:
                    if s.id == sid:
                        return np.asarray(s.rows, dtype=np.int64)
        raise ReviewError(f"no error slice {slice_id!r}; ask /api/slices for the current ones")

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for slices in self.all():
            entry = slices.to_dict()
            entry.pop("error_rows", None)
            for s in entry["slices"]:
                s["id"] = f"{slices.source}|{s['id']}"
                s.pop("rows", None)
            out.append(entry)
        return json_safe(out)
