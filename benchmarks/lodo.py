"""Leave-one-dataset-out (LODO): settings chosen without the set they are scored on.

Every default, threshold, selection rule and student setting that a benchmark compares is a
*configuration*. For each set, the configuration with the best mean score over the *other*
sets (sets of the same family — a stack and its parts, which share texts or votes — are left
out together) is chosen, and only its score on the left-out set is reported. The headline
tables hold these left-out scores per set and their mean, with the spread over seeds.

Ties in the mean over the other sets go to the configuration listed first (the library's
current default is listed first), so a tie never moves a default. The configuration that is
best over *all* sets is what the library ships; the left-out table says how much that
choice can be trusted on a set nobody tuned on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LeftOut", "leave_one_dataset_out", "overall_best"]

Scores = Mapping[str, Mapping[str, Sequence[float]]]
"""``scores[config][set]`` = the score of ``config`` on ``set``, one value per seed."""


@dataclass(frozen=True)
class LeftOut:
    set_name: str
    config: str
    """The configuration chosen on the other sets."""
    mean: float
    """Its score on the left-out set, mean over seeds."""
    spread: float
    """Standard deviation over seeds (0 with one seed)."""


def _mean_over(scores: Scores, config: str, sets: Sequence[str]) -> float:
    return float(np.mean([np.mean(scores[config][s]) for s in sets]))


def leave_one_dataset_out(
    scores: Scores, families: Mapping[str, str] | None = None
) -> list[LeftOut]:
    """The left-out score of every set (see the module docs).

    ``families`` maps a set to its family (default: every set its own family); the sets of
    the left-out set's family are excluded from the choice.
    """
    configs = list(scores)
    if not configs:
        raise ValueError("no configuration to choose from")
    sets = list(scores[configs[0]])
    for config in configs:
        if list(scores[config]) != sets:
            raise ValueError(f"configuration {config!r} is scored on other sets than {configs[0]!r}")
    family = dict(families or {})
    out = []
    for left_out in sets:
        own = family.get(left_out, left_out)
        others = [s for s in sets if family.get(s, s) != own]
        if not others:
            raise ValueError(f"no set outside the family of {left_out!r} to choose on")
        means = [_mean_over(scores, c, others) for c in configs]
        chosen = configs[int(np.argmax(means))]  # first of the best: ties keep the default
        values = np.asarray(scores[chosen][left_out], dtype=float)
        out.append(LeftOut(left_out, chosen, float(values.mean()), float(values.std())))
    return out


def overall_best(scores: Scores) -> str:
    """The configuration with the best mean over every set: what the library ships."""
    configs = list(scores)
    sets = list(scores[configs[0]])
    return configs[int(np.argmax([_mean_over(scores, c, sets) for c in configs]))]
