"""Map an LLM's answer to a vote, tolerantly but never wrongly.

Accepted: the answer words of ``labels`` in any case, surrounded by whitespace, quotes,
markdown or punctuation, after a leading ``Answer:``/``Label:``, followed by an
explanation that names no other answer word, or as a JSON object such as
``{"label": "spam"}``. Everything else — refusals, empty answers, answers naming two
classes, answers that start with something else — maps to no answer word, so the labeler
abstains and counts the row as unparsable instead of guessing a class.

Examples
--------
>>> parser = AnswerParser({"spam": 1, "ham": 0})
>>> [parser.vote(a) for a in ["Spam", " answer: **HAM**.", "spam - it links a channel", "I cannot"]]
[1, 0, 1, -1]
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping

from weaklabel.lf import ABSTAIN

__all__ = ["AnswerParser", "normalize_answer"]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_LEAD_IN = re.compile(
    r"^[\W_]*(?:(?:the\s+)?(?:final\s+)?(?:answer|label|class|category|classification|prediction|output)"
    r"(?:\s+is)?\s*[:=\-]\s*|(?:the\s+)?(?:final\s+)?(?:answer|label|class|category)\s+is\s+)",
    re.IGNORECASE,
)
_JSON_KEYS = ("label", "answer", "class", "category")


def normalize_answer(text: str) -> str:
    """Lower-case, Unicode-normalised, punctuation turned into single spaces, stripped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


class AnswerParser:
    """Map free-text or JSON answers to votes through ``labels`` (answer word -> vote).

    Votes are class indices or ``-1`` (ABSTAIN, e.g. ``{"yes": 1, "no": -1}`` for an
    aspect prompt). ``match`` tells which answer word an answer names (``None`` when
    it names none, i.e. it is unparsable); ``vote`` maps that to the vote.
    """

    def __init__(self, labels: Mapping[str, int]) -> None:
        self.labels = dict(labels)
        self._by_norm: dict[str, str] = {}
        for word in self.labels:
            norm = normalize_answer(word)
            if not norm:
                raise ValueError(f"answer word {word!r} has no letters or digits")
            if norm in self._by_norm:
                raise ValueError(f"answer words {self._by_norm[norm]!r} and {word!r} read the same")
            self._by_norm[norm] = word
        # Longest first, so that "not spam" is found before "spam".
        alternatives = sorted(self._by_norm, key=len, reverse=True)
        self._pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, alternatives)) + r")\b")

    def match(self, answer: str | None) -> str | None:
        """The answer word named by ``answer``, or ``None`` when it names none unambiguously."""
        if not isinstance(answer, str) or not answer.strip():
            return None
        stripped = answer.strip()
        if stripped.startswith("{"):
            inner = _json_answer(stripped)
            if inner is not None:
                return self.match(inner)
        for candidate in (stripped, _LEAD_IN.sub("", stripped, count=1)):
            word = self._match_normalized(normalize_answer(candidate))
            if word is not None:
                return word
        return None

    def _match_normalized(self, text: str) -> str | None:
        found = list(self._pattern.finditer(text))
        if not found or found[0].start() != 0:
            return None
        named = {m.group(0) for m in found}
        if len(named) != 1:
            return None
        return self._by_norm[named.pop()]

    def vote(self, answer: str | None) -> int:
        """The vote for ``answer``: its class, or ABSTAIN (-1) when unparsable."""
        word = self.match(answer)
        return ABSTAIN if word is None else self.labels[word]


def _json_answer(text: str) -> str | None:
    """The answer held by a JSON object (``{"label": ...}`` or a single string value)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    for key in _JSON_KEYS:
        if isinstance(obj.get(key), str):
            return obj[key]
    values = [v for v in obj.values() if isinstance(v, str)]
    return values[0] if len(values) == 1 else None
