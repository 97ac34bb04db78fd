"""From labeled rows to a short list of checked labeling functions.

``suggest_lfs`` generates candidates from the labeled rows (``candidates``), computes
their exact votes with the LF objects, passes them through the validation gate (support,
and a lower confidence bound on precision above ``min_precision`` and above the class's
share), selects greedily by held-out gain with the existing sources already in the vote
(``selection``), and measures what each kept LF does on the unlabeled rows: coverage,
overlap and conflict with the sources before it, and the rows it is the first to cover.

Rows to fix first — the labeled rows inside error slices, and those no existing source
votes on — count ``focus_weight`` times in the gain, so the first picks aim at them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from weaklabel.apply import apply_lfs, as_frame
from weaklabel.lf import ABSTAIN, BaseLabelingFunction
from weaklabel.matrix import LabelMatrix
from weaklabel.suggest.candidates import (
    FAMILIES,
    Suggestion,
    deduplicate,
    generate_candidates,
    wilson_lower_bound,
)
from weaklabel.suggest.selection import LeaveOneOutVote, greedy_select
from weaklabel.suggest.writer import free_name

__all__ = ["SuggestSettings", "SuggestionResult", "gate", "suggest_lfs"]


class SuggestSettings(BaseModel):
    """The suggester's knobs. The defaults were fixed before ``benchmarks/suggest.py`` first
    ran and never tuned on the data sets it scores (see ``docs/how-to/suggest-lfs.md``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_lfs: int = Field(30, ge=1, description="Budget: most LFs kept.")
    min_support: int = Field(3, ge=1, description="Fewest labeled rows an LF must fire on.")
    min_precision: float = Field(
        0.6, ge=0, le=1, description="Lowest accepted lower confidence bound of an LF's precision."
    )
    confidence: float = Field(0.9, gt=0.5, lt=1, description="One-sided level of that bound (Wilson).")
    min_gain: float = Field(
        1.0, ge=0, description="Least held-out log-likelihood gain (nats over the labeled rows) to keep an LF."
    )
    focus_weight: float = Field(
        2.0, ge=1, description="Weight of the labeled rows in error slices or uncovered by existing sources."
    )
    prior_strength: float = Field(
        2.0, gt=0, description="Pseudo-rows shrinking each LF's precision toward the class share."
    )
    families: tuple[str, ...] = Field(FAMILIES, description="Candidate generators to run.")
    max_per_class: int = Field(150, ge=1, description="Candidates kept per generator and class before scoring.")

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown or not families:
            raise ValueError(f"families must be a non-empty subset of {list(FAMILIES)}; unknown: {unknown}")
        return families

    @property
    def z(self) -> float:
        from scipy.stats import norm

        return float(norm.ppf(self.confidence))


@dataclass
class SuggestionResult:
    """The kept suggestions, in the order they were picked, and the numbers behind them."""

    suggestions: list[Suggestion]
    settings: SuggestSettings
    n_labeled: int
    n_unlabeled: int
    n_candidates: int
    n_passed_gate: int
    coverage_by_class: pd.DataFrame
    accuracy_before: float
    accuracy_after: float
    class_names: list[str] | None = None
    existing_sources: list[str] = field(default_factory=list)
    python: list[Any] = field(default_factory=list)
    """LLM-written Python LFs, run in the sandbox and gated; written commented out for review."""
    rejected: list[dict[str, Any]] = field(default_factory=list)
    """LLM proposals that could not be used, with the reason."""
    n_requests: int = 0
    """LLM requests sent for proposals (cached answers cost none)."""

    def __len__(self) -> int:
        return len(self.suggestions)

    def lfs(self, column: str = "text") -> list[BaseLabelingFunction]:
        """The kept suggestions as labeling functions."""
        return [s.to_lf(column) for s in self.suggestions]

    def table(self) -> pd.DataFrame:
        """One row per kept LF: what it matches, its class, and what was measured."""
        rows = []
        for s in self.suggestions:
            match = ", ".join(s.keywords or []) if s.kind == "keyword" else s.pattern
            rows.append({"name": s.name, "votes": s.label_name or s.label, "family": s.family,
                         "matches": match, **s.stats})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestions": [s.to_dict() for s in self.suggestions],
            "settings": self.settings.model_dump(mode="json"),
            "n_labeled": self.n_labeled, "n_unlabeled": self.n_unlabeled,
            "n_candidates": self.n_candidates, "n_passed_gate": self.n_passed_gate,
            "accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
            "coverage_by_class": self.coverage_by_class.reset_index().to_dict(orient="records"),
            "class_names": self.class_names, "existing_sources": self.existing_sources,
            "python": [p.to_dict() for p in self.python], "rejected": self.rejected, "n_requests": self.n_requests,
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def write(self, path: str | Path, **options: Any) -> Path:
        """Write the kept LFs as a reviewable module (see ``weaklabel.suggest.write_lf_module``)."""
        from weaklabel.suggest.writer import write_lf_module

        return write_lf_module(path, self.suggestions, class_names=self.class_names,
                               n_labeled=self.n_labeled, python=self.python, **options)


# ---------------------------------------------------------------- inputs
def _votes_of(
    lfs: Sequence[BaseLabelingFunction], frame: pd.DataFrame, cardinality: int
) -> np.ndarray:
    if not lfs or not len(frame):
        return np.full((len(frame), len(lfs)), ABSTAIN, dtype=np.int64)
    return apply_lfs(lfs, frame, cardinality=cardinality, progress=False).to_numpy()


def _check_existing(L: Any, n_rows: int, what: str, cardinality: int) -> np.ndarray | None:
    if L is None:
        return None
    votes = L.to_numpy() if isinstance(L, LabelMatrix) else np.asarray(L)
    if votes.ndim != 2 or votes.shape[0] != n_rows:
        raise ValueError(f"{what} has shape {votes.shape}, expected ({n_rows}, n_sources): one row per {what.split('_')[1]} row")
    if votes.size and (votes.min() < ABSTAIN or votes.max() >= cardinality):
        raise ValueError(f"{what} holds votes outside [-1, {cardinality - 1}]")
    return votes.astype(np.int64)


def _focus_mask(focus: Any, labeled: pd.DataFrame) -> np.ndarray:
    """Labeled rows to fix first: error slices' rows, row ids, or a boolean mask."""
    n = len(labeled)
    if focus is None:
        return np.zeros(n, dtype=bool)
    if hasattr(focus, "rows") and callable(focus.rows):  # ErrorSlices
        wanted = set().union(*(set(s.rows) for s in focus.slices)) if focus.slices else set()
        return labeled.index.isin(list(wanted))
    arr = np.asarray(focus)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"focus mask has shape {arr.shape}, expected ({n},), one per labeled row")
        return arr
    return labeled.index.isin(list(focus))


_FAMILY_ORDER = {"llm": 0, "word": 1, "prefix": 2, "pattern": 3, "length": 4, "char": 5}


def _distinct(pool: list[Suggestion], fires: np.ndarray) -> tuple[list[Suggestion], np.ndarray]:
    """One candidate per (class, rows fired on): the labeled rows cannot tell such twins apart,
    so keep the most readable — a word over a pattern over a character n-gram, then the
    longest (most specific) match."""
    def rank(j: int) -> tuple[int, int]:
        s = pool[j]
        size = len(" ".join(s.keywords)) if s.keywords else len(s.pattern or "")
        return _FAMILY_ORDER.get(s.family, 9), -size

    best: dict[tuple[int, bytes], int] = {}
    for j in sorted(range(len(pool)), key=rank):
        best.setdefault((pool[j].label, np.packbits(fires[:, j]).tobytes()), j)
    keep = sorted(best.values())
    return [pool[j] for j in keep], fires[:, keep]


# ---------------------------------------------------------------- gate
def gate(
    suggestions: Sequence[Suggestion], fires: np.ndarray, y: np.ndarray, prior: np.ndarray,
    settings: SuggestSettings,
) -> np.ndarray:
    """Which suggestions pass the validation gate on the labeled rows; records their numbers.

    Gate: fires on at least ``min_support`` labeled rows, and the Wilson lower bound of its
    precision is at least ``min_precision`` and above its class's share of the labeled rows.
    """
    labels = np.array([s.label for s in suggestions], dtype=np.int64)
    support = fires.sum(axis=0)
    correct = (fires & (y[:, None] == labels[None, :])).sum(axis=0)
    lower = wilson_lower_bound(correct, support, settings.z)
    passed = (support >= settings.min_support) & (lower >= settings.min_precision) & (lower > prior[labels])
    for s, n, k, lb in zip(suggestions, support, correct, lower, strict=True):
        s.stats.update(support=int(n), precision=round(float(k / n), 4) if n else None,
                       precision_lb=round(float(lb), 4))
    return passed


def _unlabeled_stats(
    chosen: list[Suggestion], fires_u: np.ndarray, existing_u: np.ndarray | None
) -> None:
    """Coverage, overlap, conflict and first-time coverage of each kept LF, in pick order."""
    n = fires_u.shape[0]
    before = existing_u if existing_u is not None else np.full((n, 0), ABSTAIN)
    for j, s in enumerate(chosen):
        fires = fires_u[:, j]
        others = before != ABSTAIN
        covered = others.any(axis=1)
        conflict = (others & (before != s.label)).any(axis=1)
        hits = max(int(fires.sum()), 1)
        s.stats.update(
            coverage=round(float(fires.mean()) if n else 0.0, 4),
            overlap=round(float((fires & covered).sum() / hits), 4),
            conflict=round(float((fires & conflict).sum() / hits), 4),
            new_rows=int((fires & ~covered).sum()),
        )
        before = np.column_stack([before, np.where(fires, s.label, ABSTAIN)])


def _coverage_by_class(existing_u: np.ndarray | None, fires_u: np.ndarray, labels: np.ndarray,
                       cardinality: int, class_names: list[str] | None) -> pd.DataFrame:
    n = max(fires_u.shape[0], 1)
    rows = []
    for c in range(cardinality):
        old = (existing_u == c).any(axis=1) if existing_u is not None and existing_u.size else np.zeros(fires_u.shape[0], bool)
        new = old | fires_u[:, labels == c].any(axis=1)
        rows.append({"class": class_names[c] if class_names else c, "existing": old.sum() / n, "with_suggestions": new.sum() / n})
    return pd.DataFrame(rows).set_index("class")


# ---------------------------------------------------------------- entry point
class _Rows(NamedTuple):
    """``suggest_lfs``'s inputs, checked: the labeled rows with gold only, their texts, the
    existing sources' votes on both sides, and the focus mask over the labeled rows."""

    frame_l: pd.DataFrame
    frame_u: pd.DataFrame
    texts: list[str]
    gold: np.ndarray
    k: int
    class_names: list[str] | None
    existing: list[BaseLabelingFunction]
    old_l: np.ndarray | None
    old_u: np.ndarray | None
    focus_l: np.ndarray


def _rows(
    labeled: Any, y: Any, unlabeled: Any, cardinality: int | None, class_names: Sequence[str] | None,
    existing: Sequence[BaseLabelingFunction] | None, L_labeled: Any, L_unlabeled: Any, focus: Any,
) -> _Rows:
    from weaklabel._validation import check_gold

    frame_l = as_frame(labeled)
    frame_u = as_frame(unlabeled) if unlabeled is not None else frame_l.iloc[:0]
    for name, frame in (("labeled", frame_l), ("unlabeled", frame_u)):
        if "text" not in frame.columns:
            raise KeyError(f"the {name} rows have no 'text' column; columns are {list(frame.columns)}")
    gold = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
    k = cardinality or (len(class_names) if class_names else (int(gold.max()) + 1 if gold.size else 2))
    gold = check_gold(gold, len(frame_l), max(k, 2), "gold labels")
    k = max(k, 2)
    keep = gold != ABSTAIN
    if keep.sum() < 2:
        raise ValueError(f"need at least 2 labeled rows with a gold label, got {int(keep.sum())}")
    existing = list(existing or [])
    old_l = _check_existing(L_labeled, len(frame_l), "L_labeled", k)
    old_u = _check_existing(L_unlabeled, len(frame_u), "L_unlabeled", k)
    if existing:
        old_l = np.column_stack([x for x in (old_l, _votes_of(existing, frame_l, k)) if x is not None])
        old_u = np.column_stack([x for x in (old_u, _votes_of(existing, frame_u, k)) if x is not None])
    focus_l = _focus_mask(focus, frame_l)[keep]
    frame_l = frame_l[keep]
    return _Rows(
        frame_l, frame_u, frame_l["text"].fillna("").astype(str).tolist(), gold[keep], k,
        list(class_names) if class_names else None, existing,
        None if old_l is None else old_l[keep], old_u, focus_l,
    )


def _gate_and_select(
    pool: list[Suggestion], rows: _Rows, vote: Any, settings: SuggestSettings
) -> tuple[list[Suggestion], int]:
    """The candidates that pass the gate on the labeled rows, then chosen greedily by their
    gain over ``vote`` (updated in place); and how many passed the gate."""
    fires_l = _votes_of([s.to_lf() for s in pool], rows.frame_l, rows.k) != ABSTAIN
    pool, fires_l = _distinct(pool, fires_l)
    passed = gate(pool, fires_l, rows.gold, vote.prior, settings) if pool else np.zeros(0, bool)
    gated = [s for s, ok in zip(pool, passed, strict=True) if ok]
    labels = np.array([s.label for s in gated], dtype=np.int64)
    steps = greedy_select(vote, fires_l[:, passed], labels, budget=settings.max_lfs, min_gain=settings.min_gain)
    chosen = []
    for step in steps:
        s = gated[step.column]
        s.stats.update(gain=round(step.gain, 3), accuracy_before=round(step.accuracy_before, 4),
                       accuracy_after=round(step.accuracy_after, 4))
        chosen.append(s)
    return chosen, len(gated)


def suggest_lfs(
    labeled: Any,
    y: Any,
    unlabeled: Any = None,
    *,
    cardinality: int | None = None,
    class_names: Sequence[str] | None = None,
    existing: Sequence[BaseLabelingFunction] | None = None,
    L_labeled: Any = None,
    L_unlabeled: Any = None,
    focus: Any = None,
    candidates: Sequence[Suggestion] | None = None,
    reserved_names: Sequence[str] = (),
    settings: SuggestSettings | None = None,
    **overrides: Any,
) -> SuggestionResult:
    """Suggest labeling functions from labeled rows, checked on them and measured on the rest.

    Parameters
    ----------
    labeled, y
        The labeled rows (a DataFrame with a ``text`` column, or a list of texts) and their
        gold class indices.
    unlabeled
        The rows to label (where coverage, overlap and conflict are measured); may be None.
    cardinality, class_names
        The classes (default: from ``class_names``, else the largest label + 1).
    existing
        LFs already written: their votes join the vote the candidates must improve on.
    L_labeled, L_unlabeled
        Or the existing sources' votes directly (e.g. LLM labelers, WRENCH votes), one row
        per labeled / unlabeled row.
    focus
        Labeled rows to fix first: an ``ErrorSlices`` (its
        slices' rows), row ids, or a boolean mask over the labeled rows.
    candidates
        Candidates to consider instead of generating them (e.g. an LLM's proposals); they
        pass the same gate and selection.
    reserved_names
        Source names already taken (the LFs of other modules): kept LFs are renamed around them.
    settings, overrides
        A ``SuggestSettings``, and/or its fields as keywords.
    """
    settings = SuggestSettings.model_validate({**(settings or SuggestSettings()).model_dump(), **overrides})
    rows = _rows(labeled, y, unlabeled, cardinality, class_names, existing, L_labeled, L_unlabeled, focus)
    k, names, existing = rows.k, rows.class_names, rows.existing
    pool = deduplicate(list(candidates)) if candidates is not None else generate_candidates(
        rows.texts, rows.gold, k, class_names=names, families=settings.families,
        min_support=settings.min_support, max_per_class=settings.max_per_class, z=settings.z,
    )
    n_candidates = len(pool)
    vote = _vote_with_existing(rows.gold, k, settings, rows.old_l, rows.focus_l)
    accuracy_before = vote.accuracy()
    chosen, n_gated = _gate_and_select(pool, rows, vote, settings)
    taken = {*reserved_names, *(lf.name for lf in existing)}
    for s in chosen:
        s.name = free_name(s.name, taken)
    chosen_labels = np.array([s.label for s in chosen], dtype=np.int64)
    fires_u = _votes_of([s.to_lf() for s in chosen], rows.frame_u, k) != ABSTAIN
    _unlabeled_stats(chosen, fires_u, rows.old_u)
    return SuggestionResult(
        suggestions=chosen, settings=settings, n_labeled=len(rows.frame_l), n_unlabeled=len(rows.frame_u),
        n_candidates=n_candidates, n_passed_gate=n_gated,
        coverage_by_class=_coverage_by_class(rows.old_u, fires_u, chosen_labels, k, names),
        accuracy_before=accuracy_before, accuracy_after=vote.accuracy(), class_names=names,
        existing_sources=[lf.name for lf in existing],
    )


def _vote_with_existing(
    gold: np.ndarray, k: int, settings: SuggestSettings, old_l: np.ndarray | None, focus: np.ndarray
) -> LeaveOneOutVote:
    """The held-out vote over the labeled rows with every existing source (per class it votes) in."""
    # with no existing source every row is uncovered alike: only the focus rows stand out then
    uncovered = np.zeros(len(gold), dtype=bool) if old_l is None else ~(old_l != ABSTAIN).any(axis=1)
    weight = np.where(focus | uncovered, settings.focus_weight, 1.0)
    weight /= weight.mean()  # priorities shift the gain between rows, never its scale
    vote = LeaveOneOutVote(gold, k, settings.prior_strength, weight)
    if old_l is not None and old_l.size:
        columns, labels = [], []
        for j in range(old_l.shape[1]):
            for c in np.unique(old_l[:, j][old_l[:, j] != ABSTAIN]):
                columns.append(old_l[:, j] == c)
                labels.append(c)
        if columns:
            vote.add(np.column_stack(columns), np.array(labels, dtype=np.int64))
    return vote
