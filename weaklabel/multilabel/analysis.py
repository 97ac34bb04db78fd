"""Per-label views of a multi-label matrix: how good is each source on its label, how well
is each label covered, and which labels come together.

The single-label tools apply per label: ``lf_summary`` is
``weaklabel.analysis.lf_summary`` run on each label's two-class matrix (so
``overlaps`` and ``conflicts`` are counted among the sources of the same label), with the
label added as a column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from weaklabel.analysis import lf_summary as _single_label_summary
from weaklabel.multilabel.matrix import MultiLabelMatrix
from weaklabel.multilabel.metrics import check_indicator, per_label_scores

__all__ = ["co_occurrence", "label_summary", "lf_summary", "plot_label_summary"]


def _gold(M: MultiLabelMatrix, Y: Any) -> np.ndarray | None:
    if Y is None:
        return None
    gold = check_indicator(Y, M.n_classes)
    if len(gold) != M.n_rows:
        raise ValueError(f"Y has {len(gold)} rows, the matrix {M.n_rows}")
    return gold


def lf_summary(M: MultiLabelMatrix, Y: Any = None) -> pd.DataFrame:
    """One row per source column: its ``label``, ``polarity`` (``present``/``absent``),
    ``coverage``, ``overlaps`` and ``conflicts`` with the other sources of its label and,
    with gold ``Y`` (``(n, k)`` 0/1), ``correct``, ``incorrect`` and ``emp_accuracy``
    (the precision of its votes on its label)."""
    gold = _gold(M, Y)
    tables = []
    for c, label in enumerate(M.classes):
        names = M.sources_of(c)
        if not names:
            continue
        y = None if gold is None else gold[:, c]
        table = _single_label_summary(M.label(c), y)
        table.insert(0, "label", label)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["label", "polarity", "coverage", "overlaps", "conflicts"])
    summary = pd.concat(tables).drop(columns="j").reindex(M.lf_names)
    return summary


def label_summary(M: MultiLabelMatrix, Y: Any = None, probs: Any = None, threshold: float = 0.5) -> pd.DataFrame:
    """One row per label: ``n_sources``, ``coverage`` (rows where one of them votes),
    ``present_votes`` (rows with a PRESENT vote) and ``predicted`` (share of rows predicted
    present: by ``probs`` > ``threshold`` when given, else by majority vote). With gold
    ``Y``: ``prevalence`` and the ``precision``, ``recall`` and ``f1`` of that prediction."""
    present, absent = M.vote_counts()
    pred = (present > absent) if probs is None else np.asarray(probs) > threshold
    n = max(M.n_rows, 1)
    table = pd.DataFrame(
        {
            "n_sources": [len(M.sources_of(c)) for c in range(M.n_classes)],
            "coverage": ((present + absent) > 0).sum(axis=0) / n,
            "present_votes": (present > 0).sum(axis=0) / n,
            "predicted": pred.sum(axis=0) / n,
        },
        index=pd.Index(M.classes, name="label"),
    )
    gold = _gold(M, Y)
    if gold is not None:
        known = (gold >= 0).all(axis=1)
        table["prevalence"] = gold[known].mean(axis=0) if known.any() else np.nan
        scores = per_label_scores(gold, pred.astype(np.int8), M.classes)
        table[["precision", "recall", "f1"]] = scores[["precision", "recall", "f1"]].to_numpy()
    return table


def co_occurrence(Y: Any, classes: list[str], *, normalize: bool = True) -> pd.DataFrame:
    """Which labels come together: ``table[a, b]`` = P(b present | a present) over the rows
    of ``Y`` (gold, or predictions), or the counts of rows with both with ``normalize=False``.
    The diagonal holds each label's row count (share of rows when normalised)."""
    Y = check_indicator(Y, len(classes))
    Y = Y[(Y >= 0).all(axis=1)].astype(np.int64)
    both = Y.T @ Y
    if not normalize:
        return pd.DataFrame(both, index=classes, columns=classes)
    counts = np.diag(both).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = np.where(counts[:, None] > 0, both / np.maximum(counts[:, None], 1), np.nan)
    np.fill_diagonal(table, counts / max(len(Y), 1))
    return pd.DataFrame(table, index=pd.Index(classes, name="given"), columns=classes)


def plot_label_summary(table: pd.DataFrame, ax: Any = None) -> Any:
    """Per label: coverage, prediction rate and (with gold) prevalence and F1, as bars."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * len(table) + 3, 3.8))
    columns = [c for c in ("coverage", "predicted", "prevalence", "f1") if c in table.columns]
    width = 0.8 / len(columns)
    x = np.arange(len(table))
    for i, column in enumerate(columns):
        ax.bar(x + i * width - 0.4 + width / 2, table[column].to_numpy(dtype=float), width, label=column)
    ax.set_xticks(x, table.index, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of rows / F1")
    ax.legend(loc="upper right", ncols=len(columns), fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return ax
