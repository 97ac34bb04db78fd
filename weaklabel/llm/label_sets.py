"""Answers that name a *set* of labels: parsed tolerantly into per-label votes.

Multi-label prompts ("which of these aspects does the review mention?") are answered
with a list: ``"food, service"``, ``'["food", "price"]'``, ``{"labels": ["staff"]}``, a
bulleted or numbered list, option codes (``"AJ, T, AH"`` for a multiple-choice prompt),
a sentence naming the labels, or ``"none"``. ``LabelSetParser`` maps each answer to
the labels it names (an empty list for an explicit "none"), or to ``None`` when it names
nothing it knows — an unparsable answer, which becomes ABSTAIN on every label rather
than "absent everywhere". Items it does not know (a truncated ``"GADG"``) are dropped,
and counted.

``set_votes`` turns parsed sets into the ``(rows, labels)`` PRESENT/ABSENT/ABSTAIN
matrix the multi-label label models read; ``LLMLabelSetLabeler``
asks the prompt and returns the parsed sets.

Examples
--------
>>> parser = LabelSetParser(["food", "service", "price"], aliases={"staff": "service"})
>>> [parser.parse(a) for a in ["Food, staff.", '["price"]', "None of them", "I cannot tell"]]
[['food', 'service'], ['price'], [], None]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from weaklabel.lf import ABSTAIN
from weaklabel.llm.parsing import normalize_answer

__all__ = ["ABSENT", "PRESENT", "LabelSetParser", "ParsedSet", "option_codes", "set_votes"]

PRESENT, ABSENT = 1, 0
_SPLIT = re.compile(r"\s*(?:[,;|\n]|\s/\s)\s*")
_AND = re.compile(r"\s+(?:and|&)\s+", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,2}[.)]|\(?[a-z][.)](?=\s))\s*", re.IGNORECASE)
_LEAD_IN = re.compile(
    r"^\s*(?:the\s+)?(?:answers?|labels?|aspects?|categories|tropes?|classes|options?|output)\s*(?:is|are)?\s*[:=\-]\s*",
    re.IGNORECASE,
)
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")  # quotes, brackets, markdown, retry markers ("&&&Q")
_NONE = frozenset({"none", "no", "n a", "na", "nothing", "no labels", "no aspects", "none of them", "none of the above", "empty"})
_JSON_KEYS = ("labels", "label", "answer", "answers", "aspects", "categories", "classes")


def option_codes(n: int) -> list[str]:
    """Spreadsheet-style option letters of a multiple-choice prompt: A..Z, AA..AZ, BA..."""
    codes = []
    for i in range(n):
        code, j = "", i
        while True:
            code = chr(ord("A") + j % 26) + code
            j = j // 26 - 1
            if j < 0:
                break
        codes.append(code)
    return codes


@dataclass(frozen=True)
class ParsedSet:
    """One answer read: the labels it names (None: unparsable) and the items it did not know."""

    labels: list[str] | None
    unknown: list[str]


class LabelSetParser:
    """Read answers naming several labels; see the module docstring.

    Parameters
    ----------
    labels
        The label names, in class order.
    aliases
        Other words for a label (``{"staff": "service", "waiter": "service"}``).
    codes
        Option codes of a multiple-choice prompt (``{"A": "Absent Minded Professor"}``),
        matched when an item is exactly the code (case-insensitive).
    """

    def __init__(self, labels: Sequence[str], *, aliases: Mapping[str, str] | None = None,
                 codes: Mapping[str, str] | None = None) -> None:
        self.labels = [str(label) for label in labels]
        known = set(self.labels)
        self._names: dict[str, str] = {}
        for word, label in [*((label, label) for label in self.labels), *(aliases or {}).items()]:
            if label not in known:
                raise ValueError(f"alias {word!r} points to {label!r}, which is not a label ({self.labels})")
            norm = normalize_answer(word)
            if not norm:
                raise ValueError(f"label or alias {word!r} has no letters or digits")
            if self._names.get(norm, label) != label:
                raise ValueError(f"{word!r} reads the same as a word of another label ({self._names[norm]!r})")
            self._names[norm] = label
        self._codes = {str(code).strip().upper(): label for code, label in (codes or {}).items()}
        bad = sorted(set(self._codes.values()) - known)
        if bad:
            raise ValueError(f"codes point to {bad}, which are not labels ({self.labels})")
        alternatives = sorted(self._names, key=len, reverse=True)
        self._scan = re.compile(r"\b(?:" + "|".join(map(re.escape, alternatives)) + r")\b")

    def parse(self, answer: Any) -> list[str] | None:
        """The labels ``answer`` names, in the order named; [] for "none"; None when unparsable."""
        return self.read(answer).labels

    def read(self, answer: Any) -> ParsedSet:
        """Like ``parse``, also returning the items that named no label."""
        if not isinstance(answer, str) or not answer.strip():
            return ParsedSet(None, [])
        items = _json_items(answer.strip())
        if items == []:
            return ParsedSet([], [])
        if items is None:
            items = [_BULLET.sub("", part) for part in _SPLIT.split(_LEAD_IN.sub("", answer.strip(), count=1))]
        found, unknown = [], []
        for item in (_EDGES.sub("", i) for i in items):
            labels = self._item(item)
            if labels:
                found += labels
            elif item:
                unknown.append(item)
        if not found and any(normalize_answer(item) in _NONE for item in unknown):
            return ParsedSet([], [])
        return ParsedSet(list(dict.fromkeys(found)) or None, unknown)

    def _item(self, item: str) -> list[str]:
        """The labels one list item names: an option code, a label word, or label words in a phrase."""
        if self._codes:
            # "AJ", "AJ and T", or an echoed option letter before the code ("A: C")
            codes = [part.strip().upper() for part in _AND.split(item.rsplit(":", 1)[-1])]
            if all(code in self._codes for code in codes):
                return [self._codes[code] for code in codes]
        norm = normalize_answer(item)
        if norm in self._names:
            return [self._names[norm]]
        return [self._names[m.group(0)] for m in self._scan.finditer(norm)]


def _json_items(text: str) -> list[str] | None:
    """The items of a JSON list, or of a list/string under a usual key of a JSON object."""
    if not text.startswith(("[", "{")):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict):
        value = next((value[key] for key in _JSON_KEYS if key in value), None)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return None


def set_votes(sets: Iterable[Sequence[str] | None], labels: Sequence[str], *,
              unnamed: Literal["absent", "abstain"] = "absent") -> np.ndarray:
    """``(rows, labels)`` int8 votes: PRESENT where a row's set names the label, else ABSENT
    (``unnamed="absent"``: the source claims the others are not there) or ABSTAIN;
    ABSTAIN throughout for an unparsable row (``None``)."""
    index = {label: i for i, label in enumerate(labels)}
    rows = list(sets)
    votes = np.full((len(rows), len(index)), ABSENT if unnamed == "absent" else ABSTAIN, dtype=np.int8)
    for r, named in enumerate(rows):
        if named is None:
            votes[r] = ABSTAIN
            continue
        for label in named:
            votes[r, index[label]] = PRESENT
    return votes
