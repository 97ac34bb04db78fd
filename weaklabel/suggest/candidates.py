"""Candidate labeling functions read off labeled rows, and what each one is.

A ``Suggestion`` is one ``keyword_lf`` or ``regex_lf`` call: JSON-serialisable, with a
stable id (a hash of what it matches and votes), so a review app can show it, a person can
accept it, and the module writer can print it. The generators propose, from the labeled
rows, every

- word n-gram (1–3 words, whole-word keyword LFs),
- character n-gram inside words (4–6 characters: stems such as "subscri", symbols, ".com"),
- opening of the text (its first 1–3 words: "how many", "who"),
- named pattern (links, long numbers, money, capitals, ...) and word-count rule,

that occurs in at least ``min_support`` labeled rows, assigned to the class it is most often
right for there. A cheap precision pre-filter on the labeled rows keeps the best
``max_per_class`` per class and family; their exact votes are then computed with the LF
objects themselves, so every number later reported is what the written LF does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from weaklabel._json import json_safe
from weaklabel.lf import RegexLabelingFunction, keyword_lf, regex_lf
from weaklabel.text_patterns import (
    PATTERNS,
    TOKEN_PATTERN,
    TextPattern,
    ngram_matrix,
    word_count_pattern,
)

__all__ = ["FAMILIES", "Suggestion", "deduplicate", "generate_candidates", "wilson_lower_bound"]

FAMILIES = ("word", "char", "prefix", "pattern", "length")
_KINDS = ("keyword", "regex")


@dataclass
class Suggestion:
    """One suggested labeling function and what was measured about it.

    ``kind`` is ``"keyword"`` (``keyword_lf(name, keywords, label, whole_word=...)``) or
    ``"regex"`` (``regex_lf(name, pattern, label, flags=...)``); ``family`` says which
    generator proposed it (``word``, ``char``, ``prefix``, ``pattern``, ``length``, or
    ``llm`` for an LLM's proposal).
    """

    name: str
    kind: str
    label: int
    family: str
    description: str
    keywords: list[str] | None = None
    whole_word: bool = True
    pattern: str | None = None
    ignore_case: bool = True
    label_name: str | None = None
    origin: str = "labeled rows"
    stats: dict[str, Any] = field(default_factory=dict)
    """Measured numbers: support, precision, precision_lb, coverage, overlap, gain, ..."""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"suggestion {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "keyword" and not self.keywords:
            raise ValueError(f"suggestion {self.name!r}: a keyword suggestion needs keywords")
        if self.kind == "regex" and not self.pattern:
            raise ValueError(f"suggestion {self.name!r}: a regex suggestion needs a pattern")
        if not re.fullmatch(r"[A-Za-z_]\w*", self.name):
            raise ValueError(f"suggestion name {self.name!r} is not a Python identifier")

    @property
    def id(self) -> str:
        """Stable id: the same matcher voting the same class always gets the same id."""
        spec = json.dumps(
            [self.kind, sorted(self.keywords or []), self.whole_word, self.pattern, self.ignore_case, self.label]
        )
        return f"{self.kind[:2]}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def to_lf(self, column: str = "text") -> RegexLabelingFunction:
        """The labeling function this suggestion stands for (the same one the module defines)."""
        if self.kind == "keyword":
            assert self.keywords  # checked in __post_init__
            return keyword_lf(self.name, self.keywords, self.label, column, whole_word=self.whole_word)
        assert self.pattern  # checked in __post_init__
        return regex_lf(self.name, self.pattern, self.label, column, flags=re.IGNORECASE if self.ignore_case else 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, with the ``id``; ``from_dict`` reads it back."""
        return {"id": self.id, **json_safe(asdict(self))}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Suggestion:
        fields = {k: v for k, v in record.items() if k != "id"}
        suggestion = cls(**fields)
        if "id" in record and record["id"] != suggestion.id:
            raise ValueError(f"suggestion {suggestion.name!r}: id {record['id']!r} does not match its content")
        return suggestion


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, z: float) -> np.ndarray:
    """One-sided Wilson score lower bound of a proportion (0 where there are no trials)."""
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    n = np.maximum(trials, 1.0)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.where(trials > 0, (centre - spread) / (1 + z * z / n), 0.0)


# ---------------------------------------------------------------- naming
def slug(text: str, limit: int = 28) -> str:
    """A readable identifier fragment: lower-case letters, digits and ``_``."""
    out = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
    if not out:
        named = {"!": "bang", "?": "qmark", "$": "dollar", "£": "pound", "€": "euro", "%": "pct", "@": "at"}
        out = "_".join(named.get(ch, f"u{ord(ch):x}") for ch in text if not ch.isspace()) or "space"
    return out[:limit].strip("_") or "x"


def class_tag(label: int, class_names: Sequence[str] | None) -> str:
    return slug(class_names[label], 16) if class_names else f"c{label}"


# ---------------------------------------------------------------- generation
@dataclass
class _Pool:
    """Binary features of the labeled rows, one family at a time."""

    family: str
    X: sp.csc_matrix
    make: list[Any]
    """One callable per column: label -> Suggestion."""


def _keyword(gram: str, whole_word: bool, family: str, description: str):
    def make(label: int, tag: str) -> Suggestion:
        prefix = "kw" if whole_word else "ch"
        return Suggestion(
            name=f"{prefix}_{slug(gram)}_{tag}", kind="keyword", label=label, family=family,
            description=description, keywords=[gram], whole_word=whole_word,
        )

    return make


def _regex(pattern: TextPattern, family: str):
    def make(label: int, tag: str) -> Suggestion:
        return Suggestion(
            name=f"re_{slug(pattern.key)}_{tag}", kind="regex", label=label, family=family,
            description=pattern.description, pattern=pattern.pattern,
            ignore_case=bool(pattern.flags & re.IGNORECASE),
        )

    return make


def _openings(texts: Sequence[str], max_words: int) -> list[str]:
    """Per text, its first 1..max_words words joined by spaces, as one pseudo-document of phrases."""
    docs = []
    for text in texts:
        words = re.findall(TOKEN_PATTERN, text.lower())[:max_words]
        docs.append("\n".join(" ".join(words[:k]) for k in range(1, len(words) + 1)))
    return docs


def _opening_pattern(phrase: str) -> TextPattern:
    words = [re.escape(w) for w in phrase.split()]
    return TextPattern(
        f"starts_{phrase}", f'starts with "{phrase}"', r"^\W*" + r"\W+".join(words) + r"\b"
    )


def _pools(texts: list[str], families: Sequence[str], min_support: int) -> list[_Pool]:
    pools = []
    if "word" in families:
        X, grams = ngram_matrix(texts, ngram_range=(1, 3), min_df=min_support)
        pools.append(_Pool("word", X, [_keyword(g, True, "word", f'contains the word(s) "{g}"') for g in grams]))
    if "char" in families:
        X, grams = ngram_matrix(texts, ngram_range=(4, 6), min_df=min_support, analyzer="char_wb")
        words = set(ngram_matrix(texts, ngram_range=(1, 1), min_df=1)[1])
        keep = [i for i, g in enumerate(grams) if g.strip() == g and g.isprintable() and g not in words]
        pools.append(_Pool(
            "char", X[:, keep],
            [_keyword(grams[i], False, "char", f'contains "{grams[i]}" anywhere') for i in keep],
        ))
    if "prefix" in families:
        from sklearn.feature_extraction.text import CountVectorizer

        docs = _openings(texts, 3)
        vectorizer = CountVectorizer(
            tokenizer=lambda d: d.split("\n"), token_pattern=None, lowercase=False, binary=True,
            min_df=min(min_support, max(len(texts), 1)), dtype=np.int8,
        )
        try:
            X = sp.csc_matrix(vectorizer.fit_transform(docs))
            phrases = [p for p in vectorizer.get_feature_names_out().tolist()]
        except ValueError:
            X, phrases = sp.csc_matrix((len(texts), 0), dtype=np.int8), []
        keep = [i for i, p in enumerate(phrases) if p]
        pools.append(_Pool("prefix", X[:, keep], [_regex(_opening_pattern(phrases[i]), "prefix") for i in keep]))
    patterns: list[tuple[str, TextPattern]] = []
    if "pattern" in families:
        patterns += [("pattern", p) for p in PATTERNS]
    if "length" in families and texts:
        lengths = np.array([len(t.split()) for t in texts])
        for q in (0.1, 0.25):
            patterns.append(("length", word_count_pattern(at_most=max(int(np.quantile(lengths, q)), 1))))
        for q in (0.75, 0.9):
            patterns.append(("length", word_count_pattern(at_least=max(int(np.quantile(lengths, q)), 2))))
    seen: set[str] = set()
    for family in ("pattern", "length"):
        chosen = []
        for f, p in patterns:
            if f == family and p.key not in seen:
                seen.add(p.key)
                chosen.append(p)
        if chosen:
            X = sp.csc_matrix(np.column_stack([p.matches(texts) for p in chosen]).astype(np.int8))
            pools.append(_Pool(family, X, [_regex(p, family) for p in chosen]))
    return pools


def generate_candidates(
    texts: Sequence[str],
    y: np.ndarray,
    cardinality: int,
    *,
    class_names: Sequence[str] | None = None,
    families: Sequence[str] = FAMILIES,
    min_support: int = 3,
    max_per_class: int = 150,
    z: float = 1.2816,
) -> list[Suggestion]:
    """Candidates from labeled rows: every feature seen ``min_support`` times, voting its best class.

    A feature is kept for class ``c`` when its precision for ``c`` on the labeled rows is
    above ``c``'s share there; per family and class the ``max_per_class`` with the highest
    Wilson lower bound of precision (``z``) over that share survive.
    """
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown candidate families {unknown}; choose from {list(FAMILIES)}")
    values = [t if isinstance(t, str) else "" for t in texts]
    y = np.asarray(y, dtype=np.int64)
    onehot = np.zeros((len(values), cardinality))
    onehot[np.arange(len(values)), y] = 1.0
    prior = (onehot.sum(axis=0) + 1.0) / (len(values) + cardinality)
    out: list[Suggestion] = []
    for pool in _pools(values, families, min_support):
        if pool.X.shape[1] == 0:
            continue
        support = np.asarray(pool.X.sum(axis=0)).ravel().astype(np.float64)
        per_class = np.asarray(pool.X.T @ onehot).reshape(pool.X.shape[1], cardinality)
        best = per_class.argmax(axis=1)
        correct = per_class[np.arange(len(best)), best]
        lower = wilson_lower_bound(correct, support, z)
        lift = lower - prior[best]
        ok = (support >= min_support) & (correct / np.maximum(support, 1) > prior[best])
        for c in range(cardinality):
            idx = np.flatnonzero(ok & (best == c))
            idx = idx[np.argsort(-lift[idx], kind="stable")][:max_per_class]
            tag = class_tag(c, class_names)
            for i in idx:
                suggestion = pool.make[i](c, tag)
                suggestion.label_name = class_names[c] if class_names else None
                out.append(suggestion)
    return deduplicate(out)


def deduplicate(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Drop repeats (same id), then make names unique (``name_2``, ...), keeping the order."""
    seen: dict[str, int] = {}
    ids: set[str] = set()
    unique = []
    for s in suggestions:
        if s.id in ids:
            continue
        ids.add(s.id)
        count = seen.get(s.name, 0)
        seen[s.name] = count + 1
        if count:
            s.name = f"{s.name}_{count + 1}"
        unique.append(s)
    return unique
