"""Filter, order and page the rows of a run, and describe a page of them.

A query is a validated ``RowQuery`` (unknown fields and bad values are refused with the
field named). Every filter is one vectorised pass over a column of ``RunData``; the
text search asks the run's trigram index (``text_search``) and scans only the rows it
names; orders are precomputed permutations. So a page
costs a few passes over the columns and a gather of ``limit`` rows, whatever the run's size.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from weaklabel.exceptions import ReviewError
from weaklabel.lf import ABSTAIN
from weaklabel.review.run_data import RunData

__all__ = ["RowQuery", "describe_rows", "find_rows"]

MAX_PAGE = 200


class RowQuery(BaseModel):
    """What the Rows and Label pages ask for."""

    model_config = ConfigDict(extra="forbid")

    split: str | None = None
    predicted: str | None = Field(None, description="Class name the label model predicts.")
    min_confidence: float = Field(0.0, ge=0, le=1)
    max_confidence: float = Field(1.0, ge=0, le=1)
    disagreement: Literal["conflict", "overruled", "wrong"] | None = Field(
        None,
        description="conflict: the sources vote different classes; overruled: the label model's "
        "class is not the sources' strict majority; wrong: the label model's class differs from "
        "the gold or reviewed label.",
    )
    source: str | None = None
    source_filter: Literal["votes", "abstains", "disagrees", "wrong"] = "votes"
    slice: str | None = Field(None, description="An error slice id from /api/slices.")
    text: str | None = Field(None, max_length=500)
    reviewed: Literal["yes", "no"] | None = None
    coverage: Literal["covered", "uncovered"] | None = None
    order: Literal["row", "uncertain", "confident"] = "row"
    offset: int = Field(0, ge=0)
    limit: int = Field(25, ge=1, le=MAX_PAGE)


def _class_index(data: RunData, name: str) -> int:
    if name not in data.class_names:
        raise ReviewError(f"no class {name!r}; the classes are {data.class_names}")
    return data.class_names.index(name)


def _known_label(data: RunData) -> np.ndarray:
    """The reviewed label where one was given, else gold (``-1`` where neither)."""
    return np.where(data.review != ABSTAIN, data.review, data.gold)


def _source_mask(data: RunData, query: RowQuery) -> np.ndarray:
    if query.source not in data.source_names:
        raise ReviewError(f"no source {query.source!r}; the sources are {data.source_names}")
    vote = data.votes[:, data.source_names.index(query.source)]
    if query.source_filter == "abstains":
        return vote == ABSTAIN
    if query.source_filter == "disagrees":
        return (vote != ABSTAIN) & (vote != data.predicted)
    if query.source_filter == "wrong":
        known = _known_label(data)
        return (vote != ABSTAIN) & (known != ABSTAIN) & (vote != known)
    return vote != ABSTAIN


def _mask(data: RunData, query: RowQuery, slice_rows: np.ndarray | None) -> np.ndarray:
    mask = np.ones(data.n_rows, dtype=bool)
    if query.split is not None:
        if query.split not in data.split_names:
            raise ReviewError(f"no split {query.split!r}; the run has {data.split_names}")
        mask &= data.split_of == data.split_names.index(query.split)
    if query.predicted is not None:
        mask &= data.predicted == _class_index(data, query.predicted)
    if query.min_confidence > 0 or query.max_confidence < 1:
        mask &= (data.confidence >= query.min_confidence) & (data.confidence <= query.max_confidence)
    if query.disagreement == "conflict":
        mask &= data.n_classes_voted > 1
    elif query.disagreement == "overruled":
        mask &= (data.n_votes > 0) & (data.predicted != data.majority)
    elif query.disagreement == "wrong":
        known = _known_label(data)
        mask &= (known != ABSTAIN) & (data.predicted != known)
    if query.coverage is not None:
        mask &= (data.n_votes > 0) == (query.coverage == "covered")
    if query.reviewed is not None:
        mask &= (data.review != ABSTAIN) == (query.reviewed == "yes")
    if query.source is not None:
        mask &= _source_mask(data, query)
    if slice_rows is not None:
        inside = np.zeros(data.n_rows, dtype=bool)
        inside[slice_rows] = True
        mask &= inside
    if query.text:
        mask &= data.text_index().search(query.text)
    return mask


def find_rows(data: RunData, query: RowQuery, slice_rows: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Positions of the page of rows ``query`` asks for, and how many rows match in all."""
    mask = _mask(data, query, slice_rows)
    total = int(mask.sum())
    if query.order == "row":
        positions = np.flatnonzero(mask)
    else:
        order = data.by_confidence if query.order == "uncertain" else data.by_confidence[::-1]
        positions = order[mask[order]]
    return positions[query.offset: query.offset + query.limit], total


def _name(data: RunData, label: int) -> str | None:
    return None if label == ABSTAIN else data.class_names[label]


def describe_rows(data: RunData, positions: np.ndarray) -> list[dict[str, Any]]:
    """Everything the app shows about each row: full text, split and id, gold and reviewed
    labels, every source's vote by class name, the label model's probabilities and class,
    the sources' majority, and the student's class and probabilities."""
    positions = np.asarray(positions, dtype=np.int64)
    student = data.student_probs(positions)
    rows = []
    for n, i in enumerate(positions):
        votes = data.votes[i]
        record: dict[str, Any] = {
            "position": int(i),
            "split": data.split_names[int(data.split_of[i])],
            "row_id": str(data.row_ids[i]),
            "text": data.text(int(i)),
            "gold": _name(data, int(data.gold[i])),
            "reviewed": _name(data, int(data.review[i])),
            "probs": {c: round(float(p), 4) for c, p in zip(data.class_names, data.probs[i], strict=True)},
            "predicted": data.class_names[int(data.predicted[i])],
            "confidence": round(float(data.confidence[i]), 4),
            "majority": _name(data, int(data.majority[i])),
            "votes": [
                {"source": s, "vote": data.class_names[int(v)]}
                for s, v in zip(data.source_names, votes, strict=True) if v != ABSTAIN
            ],
            "n_abstains": int((votes == ABSTAIN).sum()),
        }
        if student is not None:
            record["student"] = data.class_names[int(student[n].argmax())]
            record["student_probs"] = {
                c: round(float(p), 4) for c, p in zip(data.class_names, student[n], strict=True)
            }
        rows.append(record)
    return rows
