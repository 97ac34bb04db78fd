"""Answer-word maps and labeled rows: checked once, with messages naming the labeler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from weaklabel.exceptions import ConfigError
from weaklabel.lf import ABSTAIN

__all__ = ["check_labels", "resolve_labels", "stratified_sample"]


def check_labels(name: str, labels: Any) -> dict[str, int | str]:
    """``labels`` as a dict of answer word -> vote (an int >= -1, or a class name)."""
    if not isinstance(labels, Mapping) or not labels:
        raise ConfigError(f"LLM labeler {name!r}: labels must map answer words to votes, e.g. {{'spam': 1, 'ham': 0}}")
    out: dict[str, int | str] = {}
    for word, vote in labels.items():
        if not isinstance(word, str) or not word.strip():
            raise ConfigError(f"LLM labeler {name!r}: answer words must be non-empty strings, got {word!r}")
        if isinstance(vote, str) and vote.strip():
            out[word] = vote
            continue
        if isinstance(vote, bool) or not isinstance(vote, int | np.integer):
            raise ConfigError(
                f"LLM labeler {name!r}: labels must map answer words to a class index or class name, "
                f"got {word!r}: {vote!r}"
            )
        if vote < ABSTAIN:
            raise ConfigError(f"LLM labeler {name!r}: vote {vote} for {word!r} is below ABSTAIN (-1)")
        out[word] = int(vote)
    if all(v == ABSTAIN for v in out.values()):
        raise ConfigError(f"LLM labeler {name!r}: every answer word maps to ABSTAIN, so it would never vote")
    return out


def resolve_labels(name: str, labels: Mapping[str, int | str], class_names: Sequence[str] | None) -> dict[str, int] | None:
    """Answer word -> class index; None while class names are used but not known yet."""
    named = {word: vote for word, vote in labels.items() if isinstance(vote, str)}
    if named and class_names is None:
        return None
    index = {str(c): i for i, c in enumerate(class_names or [])}
    unknown = sorted({v for v in named.values() if v not in index})
    if unknown:
        raise ConfigError(
            f"LLM labeler {name!r}: labels name {unknown}, which are not classes of this task "
            f"(classes: {list(index)})"
        )
    return {word: index[vote] if isinstance(vote, str) else int(vote) for word, vote in labels.items()}


def stratified_sample(y: np.ndarray, limit: int | None, seed: int | None) -> np.ndarray:
    """Sorted positions of at most ``limit`` rows, each class in proportion (at least one each).

    Rows without a gold label (``-1``) are never picked when a limit applies.
    """
    n = len(y)
    if limit is None or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y[y >= 0], return_counts=True)
    if not len(classes):
        return np.sort(rng.choice(n, size=limit, replace=False))
    share = counts / counts.sum() * limit
    take = np.minimum(np.maximum(np.floor(share).astype(int), 1), counts)
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    for i in order:  # largest remainders first, until the limit is reached
        if take.sum() >= limit:
            break
        if take[i] < counts[i]:
            take[i] += 1
    while take.sum() > limit:  # at least one per class may overshoot a tiny limit
        take[int(np.argmax(take))] -= 1
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))
