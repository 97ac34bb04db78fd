"""The app's write side: labels, LF suggestions accepted into a module, and the refit.

- Labels go to the ``LabelStore`` at once.
- Suggestions come from ``weaklabel.suggest.suggest_lfs`` on the labeled rows (valid
  gold and labels given in the app), aimed at the label model's error slices; the browser
  accepts or rejects one by its id. An accepted suggestion is appended to the LF module the
  user named on the command line, through ``weaklabel.suggest.append_suggestion``'s
  template: what the browser sends is an id, never code or a path.
- The refit fits the label model and a TF-IDF student again (``weaklabel.pipeline.fit_models``,
  the fit's own steps) on the run's votes plus the accepted LFs' votes, with the labels given
  in the app as dev labels, and reports what changed. It writes nothing to the run folder:
  ``python -m weaklabel.fit`` with the LF module listed makes it permanent.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._json import json_safe
from weaklabel.exceptions import ReviewError
from weaklabel.lf import ABSTAIN
from weaklabel.review.labels import LabelStore
from weaklabel.review.queries import describe_rows
from weaklabel.review.run_data import RunData
from weaklabel.review.views import ErrorSliceCache, labeled_mask, overview, sources_table
from weaklabel.run_result import Split
from weaklabel.run_summary import comparison_table

__all__ = ["ReviewSession"]

logger = logging.getLogger("weaklabel")
UNLABELED_SAMPLE = 20_000
"""Unlabeled rows the suggester measures coverage on (a seeded sample on larger runs)."""


class ReviewSession:
    """One run opened for review: its columns, its store, the suggestions and the last refit."""

    def __init__(self, data: RunData, lf_module: str | Path | None = None) -> None:
        self.data = data
        self.store = LabelStore(data.path)
        self.lf_module = Path(lf_module) if lf_module is not None else None
        self.slices = ErrorSliceCache(data)
        self._lock = threading.Lock()
        self.suggestions: dict[str, Any] = {}
        self.suggest_summary: dict[str, Any] | None = None
        self.last_refit: dict[str, Any] | None = None
        for (split, row_id), label in self.store.labels().items():
            try:
                data.set_review(data.position(split, row_id), label)
            except ReviewError:
                logger.warning("review: a stored label names row %r of %r, which this run lacks", row_id, split)
        self.warm = threading.Event()
        """Set once the pages' once-per-run numbers are computed (a background thread)."""
        threading.Thread(target=self._warm_up, name="weaklabel-review-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        """Compute the pages' once-per-run numbers in the background, so that the first
        visit of each page is as fast as the next."""
        try:
            overview(self.data)
            sources_table(self.data)
            self.data.text_index()
            self.slices.all()
        except Exception:  # a page shows its own error when visited; warming up is best effort
            logger.debug("review: warm-up failed", exc_info=True)
        finally:
            self.warm.set()

    # ------------------------------------------------------------ labels
    def label(self, split: str, row_id: str, label: str | None) -> dict[str, Any]:
        """Give (or with ``None`` remove) the label of one row, by class name; written at once."""
        data = self.data
        i = data.position(split, row_id)
        if split == "test":
            raise ReviewError("test rows cannot be labeled here: they keep the test scores honest")
        if label is None:
            self.store.remove_label(split, str(row_id))
            data.set_review(i, ABSTAIN)
        else:
            if label not in data.class_names:
                raise ReviewError(f"no class {label!r}; the classes are {data.class_names}")
            c = data.class_names.index(label)
            self.store.set_label(split, str(row_id), c, label)
            data.set_review(i, c)
        return {"split": split, "row_id": str(row_id), "label": label,
                "reviewed": int((data.review != ABSTAIN).sum())}

    # ------------------------------------------------------------ suggestions
    def compute_suggestions(self) -> dict[str, Any]:
        """Suggest LFs from the labeled rows, aimed at the label model's error slices."""
        from weaklabel.suggest import suggest_lfs

        data = self.data
        labeled, known = labeled_mask(data)
        positions = np.flatnonzero(labeled)
        if len(np.unique(known[positions])) < 2:
            raise ReviewError("suggestions need labeled rows of at least two classes: label some rows first")
        train = np.arange(data.n_rows)[data.split_slice(data.split_names[0])]
        train = train[data.review[train] == ABSTAIN]
        if len(train) > UNLABELED_SAMPLE:
            train = np.sort(np.random.default_rng(data.config.seed).choice(train, UNLABELED_SAMPLE, replace=False))
        frame = pd.DataFrame({"text": [data.text(int(i)) for i in positions]}, index=positions)
        unlabeled = pd.DataFrame({"text": [data.text(int(i)) for i in train]}, index=train)
        slices = next((s for s in self.slices.all() if s.source == "label_model"), None)
        started = time.perf_counter()
        result = suggest_lfs(
            frame, known[positions], unlabeled, cardinality=data.cardinality, class_names=data.class_names,
            L_labeled=data.votes[positions], L_unlabeled=data.votes[train], focus=slices,
            reserved_names=data.source_names,
        )
        decisions = self.store.decisions()
        with self._lock:
            self.suggestions = {s.id: s for s in result.suggestions}
            self.suggest_summary = {
                "n_labeled": result.n_labeled, "n_unlabeled": result.n_unlabeled,
                "n_candidates": result.n_candidates, "n_passed_gate": result.n_passed_gate,
                "accuracy_before": result.accuracy_before, "accuracy_after": result.accuracy_after,
                "seconds": round(time.perf_counter() - started, 2),
            }
        logger.info("review: %d suggestions from %d labeled rows", len(result.suggestions), result.n_labeled)
        return self.suggestions_json(decisions)

    def suggestions_json(self, decisions: dict[str, Any] | None = None) -> dict[str, Any]:
        from weaklabel.suggest import render_suggestion

        decisions = self.store.decisions() if decisions is None else decisions
        with self._lock:
            shown = dict(self.suggestions)
        items = []
        for sid, suggestion in shown.items():
            items.append({**suggestion.to_dict(), "code": render_suggestion(suggestion).strip(),
                          "decision": decisions.get(sid, (None,))[0]})
        decided = [{"id": sid, "decision": d, "name": rec.get("name")} for sid, (d, rec) in decisions.items()]
        return json_safe({
            "lf_module": str(self.lf_module) if self.lf_module else None,
            "summary": self.suggest_summary, "suggestions": items, "decided": decided,
        })

    def decide(self, suggestion_id: str, decision: str) -> dict[str, Any]:
        """Accept (append to the LF module) or reject one suggestion, named by its id."""
        from weaklabel.suggest import append_suggestion

        with self._lock:
            suggestion = self.suggestions.get(suggestion_id)
        if suggestion is None:
            raise ReviewError(f"no suggestion {suggestion_id!r}: compute the suggestions, then pick one of them")
        if decision not in ("accepted", "rejected"):
            raise ReviewError(f"decision must be 'accepted' or 'rejected', got {decision!r}")
        written = False
        if decision == "accepted":
            if self.lf_module is None:
                raise ReviewError("no LF module to write to: start the app with --lf-module path/to/module.py")
            try:
                written = append_suggestion(self.lf_module, suggestion, class_names=self.data.class_names)
            except OSError as exc:
                raise ReviewError(f"cannot write {self.lf_module}: {exc.strerror or exc}") from exc
        self.store.decide(suggestion_id, decision, suggestion.to_dict())
        return {"id": suggestion_id, "decision": decision, "written": written,
                "lf_module": str(self.lf_module) if self.lf_module else None}

    def accepted(self) -> list[Any]:
        from weaklabel.suggest import Suggestion

        return [Suggestion.from_dict(record) for decision, record in self.store.decisions().values()
                if decision == "accepted"]

    # ------------------------------------------------------------ refit
    def refit(self) -> dict[str, Any]:
        """Fit the label model and a TF-IDF student again with the labels given and the
        accepted LFs; the scores before and after and the rows whose class changed."""
        from weaklabel.apply import apply_lfs
        from weaklabel.pipeline import RunPlan, build_label_model, build_student, fit_models

        data, config = self.data, self.data.config
        started = time.perf_counter()
        accepted = self.accepted()
        taken = set(data.source_names)
        lfs = [s.to_lf() for s in accepted if s.name not in taken]
        splits: dict[str, Split] = {}
        for name, split in data.splits.items():
            votes = [L for L in split.votes]
            if lfs and votes:
                votes.append(apply_lfs(lfs, split.data, cardinality=data.cardinality,
                                       class_names=data.class_names, progress=False))
            splits[name] = Split(name, split.data, split.y, votes)
        options = config.student.options if config.student.kind == "tfidf" else {}
        plan = RunPlan(
            splits=splits, lfs=[], llm_labelers=[], cardinality=data.cardinality, class_names=data.class_names,
            label_model=build_label_model(config.label_model.kind, config.label_model.options, data.cardinality, config.seed),
            student=build_student("tfidf", options, config.seed), output_dir=data.path, cache_dir=data.path,
        )
        probs, _, metrics = fit_models(plan, config)
        new_predicted = np.concatenate([probs[name].argmax(axis=1) for name in data.split_names])
        changed = np.flatnonzero(new_predicted != data.predicted)
        before = comparison_table(data.metrics).set_index(["split", "method"])
        after = comparison_table(metrics).set_index(["split", "method"])
        scores = before.merge(after, left_index=True, right_index=True, how="outer", suffixes=("_before", "_after")).reset_index()
        changed_rows = describe_rows(data, changed[:20])
        for row, i in zip(changed_rows, changed[:20], strict=False):
            row["refit_predicted"] = data.class_names[int(new_predicted[i])]
        self.last_refit = json_safe({
            "seconds": round(time.perf_counter() - started, 2),
            "accepted_lfs": [s.name for s in accepted],
            "new_sources": [lf.name for lf in lfs],
            "labels_used": int(labeled_mask(data)[0].sum()),
            "estimator": getattr(plan.label_model, "estimator_", None),
            "scores": scores.to_dict(orient="records"),
            "changed": {name: int(np.isin(changed, np.arange(data.n_rows)[data.split_slice(name)]).sum())
                        for name in data.split_names},
            "changed_rows": changed_rows,
            "student_note": "the refit trains a TF-IDF student" + (
                f" (the run's student is {config.student.kind})" if config.student.kind != "tfidf" else ""),
            "command": self.fit_command(),
        })
        return self.last_refit

    def fit_command(self) -> str:
        """The command that makes the labels and accepted LFs permanent."""
        modules = list(self.data.config.lfs.modules)
        if self.lf_module is not None and str(self.lf_module) not in modules:
            modules.append(str(self.lf_module))
        listed = "[" + ", ".join(modules) + "]"
        return (f"python -m weaklabel.fit --config {self.data.path / 'config.json'} "
                f"--set 'lfs.modules={listed}'")
