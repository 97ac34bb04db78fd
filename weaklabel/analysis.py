"""How good is each source? Coverage, overlaps, conflicts and (with gold) accuracy per LF,
and the error-analysis helpers of the case-study loop: where does a source err, and what
did the other sources say there?
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# Error slices live in their own module; re-exported here with the other error-analysis helpers.
from weaklabel._validation import ABSTAIN, check_gold
from weaklabel.error_slices import error_slices, plot_error_slices
from weaklabel.label_models._posterior import vote_counts
from weaklabel.matrix import LabelMatrix, as_vote_array

__all__ = [
    "agreement_matrix",
    "disagreements",
    "error_slices",
    "lf_summary",
    "matrix_summary",
    "plot_error_slices",
    "plot_lf_summary",
]


def _names_and_votes(L: Any, lf_names: list[str] | None) -> tuple[list[str], np.ndarray]:
    votes = as_vote_array(L)
    if lf_names is None:
        lf_names = (
            L.lf_names if isinstance(L, LabelMatrix) else [f"lf_{j}" for j in range(votes.shape[1])]
        )
    if len(lf_names) != votes.shape[1]:
        raise ValueError(f"{len(lf_names)} lf_names for {votes.shape[1]} columns")
    return list(lf_names), votes


def _cardinality(L: Any, votes: np.ndarray) -> int:
    return max(
        int(votes.max()) + 1 if votes.size else 0,
        L.cardinality if isinstance(L, LabelMatrix) else 0,
        2,
    )


def _gold(L: Any, y: Any, n_rows: int) -> np.ndarray:
    """Gold labels (class indices or names, ``-1``/``None`` = unknown) as class indices."""
    matrix = isinstance(L, LabelMatrix)
    return check_gold(
        y,
        n_rows,
        L.cardinality if matrix else None,
        "y (gold labels)",
        L.class_names if matrix else None,
    )


def _class_name(L: Any) -> Any:
    """Class index -> what the tables show: its name when the matrix has names."""
    names = L.class_names if isinstance(L, LabelMatrix) else None
    return (lambda c: names[c]) if names else (lambda c: c)


def lf_summary(L: Any, y: Any = None, *, lf_names: list[str] | None = None) -> pd.DataFrame:
    """One row per source: what it votes, how often, and how it relates to the others.

    Columns: ``polarity`` (the classes it votes, by name when the LabelMatrix has class
    names), ``coverage`` (share of rows it votes on),
    ``overlaps`` (share of rows where it and another source vote), ``conflicts`` (share of
    rows where another source votes a different class), ``errors`` (rows it raised on,
    when known). With gold ``y`` (``-1`` = unknown, ignored): ``correct``, ``incorrect``,
    ``emp_accuracy`` over the rows it votes on that have gold.
    """
    names, votes = _names_and_votes(L, lf_names)
    n, m = votes.shape
    voted = votes != ABSTAIN
    cardinality = _cardinality(L, votes)
    counts = vote_counts(votes, cardinality)
    total = counts.sum(axis=1, keepdims=True)
    same = np.take_along_axis(counts, np.clip(votes, 0, None), axis=1)
    denominator = max(n, 1)
    shown = _class_name(L)
    summary = pd.DataFrame(
        {
            "j": np.arange(m),
            "polarity": [
                [shown(c) for c in sorted(np.unique(votes[voted[:, j], j]).tolist())]
                for j in range(m)
            ],
            "coverage": voted.sum(axis=0) / denominator,
            "overlaps": (voted & (total > 1)).sum(axis=0) / denominator,
            "conflicts": (voted & (total - same > 0)).sum(axis=0) / denominator,
        },
        index=pd.Index(names, name="lf"),
    )
    if isinstance(L, LabelMatrix) and any(L.error_counts.values()):
        summary["errors"] = [L.error_counts[name] for name in names]
    if y is not None:
        gold = _gold(L, y, n)
        known = voted & (gold[:, None] != ABSTAIN)
        correct = (known & (votes == gold[:, None])).sum(axis=0)
        incorrect = known.sum(axis=0) - correct
        summary["correct"] = correct
        summary["incorrect"] = incorrect
        with np.errstate(invalid="ignore", divide="ignore"):
            summary["emp_accuracy"] = np.where(
                correct + incorrect > 0, correct / np.maximum(correct + incorrect, 1), np.nan
            )
    return summary


def matrix_summary(L: Any) -> dict[str, float]:
    """Share of rows with at least one vote (``coverage``), at least two (``overlap``), and
    two votes for different classes (``conflict``): Snorkel's ``label_coverage``,
    ``label_overlap`` and ``label_conflict``."""
    votes = as_vote_array(L)
    n = max(votes.shape[0], 1)
    counts = vote_counts(votes, _cardinality(L, votes))
    return {
        "coverage": float((counts.sum(axis=1) > 0).sum() / n),
        "overlap": float((counts.sum(axis=1) > 1).sum() / n),
        "conflict": float(((counts > 0).sum(axis=1) > 1).sum() / n),
    }


def plot_lf_summary(
    summary: pd.DataFrame, ax: Any = None, *, annotate: bool = True, n_classes: int | None = None
) -> Any:
    """Coverage against empirical accuracy per source (coverage alone without gold).

    The dotted line is chance, ``1 / n_classes`` (default: the number of classes the
    sources vote, at least 2). Returns the matplotlib Axes, so notebooks show it and
    reports can save it.
    """
    import matplotlib.pyplot as plt

    if "coverage" not in summary:
        raise KeyError(
            f"plot_lf_summary needs the output of lf_summary; got columns {list(summary.columns)}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    if "emp_accuracy" in summary:
        ax.scatter(summary["coverage"], summary["emp_accuracy"], s=40, alpha=0.8, color="tab:blue")
        k = n_classes or max(2, len({c for pol in summary.get("polarity", []) for c in pol}))
        ax.axhline(1.0 / k, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            f"chance (1/{k})", (1.0, 1.0 / k), xycoords=("axes fraction", "data"),
            fontsize=7, color="grey", ha="right", va="bottom",
        )
        ax.set_ylabel("empirical accuracy (on gold rows)")
        ax.set_ylim(-0.02, 1.02)
        if annotate:
            for name, row in summary.iterrows():
                if np.isfinite(row["emp_accuracy"]):
                    ax.annotate(
                        str(name),
                        (row["coverage"], row["emp_accuracy"]),
                        fontsize=7,
                        xytext=(3, 3),
                        textcoords="offset points",
                    )
    else:
        order = summary.sort_values("coverage")
        ax.barh(order.index.astype(str), order["coverage"], color="tab:blue")
        ax.set_ylabel("source")
    ax.set_xlabel("coverage (share of rows voted on)")
    ax.set_title("Labeling sources: coverage vs accuracy")
    ax.grid(alpha=0.3)
    return ax


def agreement_matrix(L: Any, *, lf_names: list[str] | None = None) -> pd.DataFrame:
    """Pairwise agreement rate of sources on the rows both vote on (NaN where they never overlap).

    Near-1 off-diagonal entries with high overlap flag duplicated or strongly correlated
    sources, which a label model assuming independence would count twice.
    """
    names, votes = _names_and_votes(L, lf_names)
    voted = (votes != ABSTAIN).astype(np.float64)
    both = voted.T @ voted
    cardinality = _cardinality(L, votes)
    agree = np.zeros_like(both)
    for c in range(cardinality):
        is_c = (votes == c).astype(np.float64)
        agree += is_c.T @ is_c
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(both > 0, agree / np.maximum(both, 1), np.nan)
    return pd.DataFrame(rate, index=names, columns=names)


def _rows_of(data: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """The rows of ``data`` for these row ids, matched by id, never by position."""
    if data.index.equals(index):
        return data
    positions = data.index.get_indexer(index) if data.index.is_unique else None
    if positions is None or (positions < 0).any():
        absent = "duplicated ids" if positions is None else repr(index[positions < 0][0])
        raise ValueError(
            f"data's row ids do not match the label matrix's ({absent}); pass the data the "
            "matrix was computed on, or data.set_axis(L.index) if they are in the same order"
        )
    return data.iloc[positions].set_axis(index)


def disagreements(
    L: Any,
    y: Any,
    source: str,
    *,
    data: pd.DataFrame | None = None,
    include_abstains: bool = False,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Rows where ``source`` votes against the gold label, with what the others said.

    The case-study loop: find where the LLM errs, read those rows, and write targeted LFs.
    Returns one row per error with ``gold``, the source's vote, one column per other
    source, ``others_agree_with_gold`` (how many other sources voted the gold class) and,
    given ``data`` (matched to the matrix by row id), its ``columns`` (default: ``text``).
    When the matrix has class names, ``gold_name`` follows ``gold`` and the votes are shown
    by name (``None`` = abstained). With ``include_abstains`` rows where the source
    abstained are listed too.
    """
    if not isinstance(L, LabelMatrix):
        raise TypeError("disagreements needs a LabelMatrix (it looks sources up by name)")
    if source not in L.lf_names:
        raise KeyError(f"no source named {source!r}; sources are {L.lf_names}")
    gold = _gold(L, y, L.n_rows)
    votes = L.to_dataframe()
    vote = votes[source].to_numpy()
    wrong = (gold != ABSTAIN) & (vote != gold) & ((vote != ABSTAIN) | include_abstains)
    others = votes.drop(columns=source)
    result = pd.DataFrame({"gold": gold, source: vote}, index=L.index)
    result["others_agree_with_gold"] = (others.to_numpy() == gold[:, None]).sum(axis=1)
    if L.class_names:
        result[source] = L.to_dataframe(as_names=True)[source]
        others = L.to_dataframe(as_names=True).drop(columns=source)
    result = result.join(others)
    if data is not None:
        wanted = columns or [c for c in ("text",) if c in data.columns]
        missing = [c for c in wanted if c not in data.columns]
        if missing:
            raise KeyError(f"data has no column {missing}; columns are {list(data.columns)}")
        result = pd.concat([_rows_of(data, L.index)[wanted], result], axis=1)
    if L.class_names:
        names = dict(enumerate(L.class_names))
        at = int(result.columns.get_loc("gold"))
        result.insert(at + 1, "gold_name", result["gold"].map(names))
    return result[wrong]
