"""Readable text features shared by error slices and LF suggestions: named regex patterns,
word-count rules and word n-grams.

Why one module: a slice described as "contains a link" and a suggested LF
``regex_lf("link", ...)`` must mean exactly the same rows, so both are computed here, the
patterns through ``weaklabel.lf.regex_lf`` (the votes the written LF will cast).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from weaklabel.lf import ABSTAIN, regex_lf

__all__ = ["PATTERNS", "TextPattern", "char_length_pattern", "ngram_matrix", "word_count_pattern"]

TOKEN_PATTERN = r"(?u)\b\w+\b"
"""Words as ``weaklabel.lf.keyword_lf`` sees them: runs of letters, digits and ``_``."""


@dataclass(frozen=True)
class TextPattern:
    """A named regular expression with a sentence saying what it finds."""

    key: str
    description: str
    pattern: str
    flags: int = re.IGNORECASE

    def matches(self, texts: pd.Series | Sequence[str]) -> np.ndarray:
        """Boolean mask of the texts the pattern is found in (missing texts never match)."""
        frame = pd.DataFrame({"text": pd.Series(list(texts) if not isinstance(texts, pd.Series) else texts.values)})
        votes = regex_lf(self.key, self.pattern, 0, flags=self.flags)(frame)
        return np.asarray(votes) != ABSTAIN


PATTERNS: tuple[TextPattern, ...] = (
    TextPattern("link", "contains a link", r"https?://|www\.|\.(?:com|net|org|ly)\b"),
    TextPattern("email", "contains an e-mail address", r"[\w.+-]+@[\w-]+\.[a-z]{2,}"),
    TextPattern("long_number", "contains a number of 5+ digits", r"\d{5,}"),
    TextPattern("phone_number", "contains a phone-like number (10+ digits)", r"\d(?:[ .-]?\d){9,}"),
    TextPattern("money", "mentions an amount of money", r"[$£€]\s?\d|\d\s?(?:p|pence|dollars?|euros?|pounds?)\b"),
    TextPattern("percent", "contains a percentage", r"\d\s?%"),
    TextPattern("many_digits", "holds 8+ digits in all", r"(?:\d\D*){8}"),
    TextPattern("caps_word", "has an all-capitals word (4+ letters)", r"\b[A-Z]{4,}\b", 0),
    TextPattern("exclamation", "has an exclamation mark", r"!"),
    TextPattern("exclamations", "has repeated exclamation marks", r"!{2,}"),
    TextPattern("question", "has a question mark", r"\?"),
    TextPattern("emoticon", "has an emoticon", r"[:;=]-?[()DPp]|<3", 0),
    TextPattern("non_ascii", "has a non-ASCII character", r"[^\x00-\x7f]", 0),
    TextPattern("repeated_letter", "has a letter repeated 4+ times", r"([a-z])\1{3,}"),
)
"""The fixed pattern library (a named ``regex_lf`` each when suggested)."""


def word_count_pattern(*, at_most: int | None = None, at_least: int | None = None) -> TextPattern:
    """Texts of at most / at least so many whitespace-separated words, as a linear-time regex.

    ``\\S+`` and ``\\s+`` never overlap, so the pattern cannot backtrack exponentially.
    """
    if (at_most is None) == (at_least is None):
        raise ValueError("give exactly one of at_most and at_least")
    if at_most is not None:
        if at_most < 1:
            raise ValueError(f"at_most must be >= 1, got {at_most}")
        return TextPattern(
            f"at_most_{at_most}_words", f"has at most {at_most} words",
            rf"^\s*\S+(?:\s+\S+){{0,{at_most - 1}}}\s*$", 0,
        )
    assert at_least is not None  # exactly one of the two is given
    if at_least < 2:
        raise ValueError(f"at_least must be >= 2, got {at_least}")
    return TextPattern(
        f"at_least_{at_least}_words", f"has at least {at_least} words",
        rf"^\s*(?:\S+\s+){{{at_least - 1}}}\S", 0,
    )


def char_length_pattern(*, at_most: int | None = None, at_least: int | None = None) -> TextPattern:
    """Texts of at most / at least so many characters."""
    if (at_most is None) == (at_least is None):
        raise ValueError("give exactly one of at_most and at_least")
    if at_most is not None:
        return TextPattern(f"at_most_{at_most}_chars", f"has at most {at_most} characters", rf"^[\s\S]{{0,{at_most}}}$", 0)
    return TextPattern(f"at_least_{at_least}_chars", f"has at least {at_least} characters", rf"[\s\S]{{{at_least}}}", 0)


def ngram_matrix(
    texts: Sequence[str],
    *,
    ngram_range: tuple[int, int] = (1, 3),
    min_df: int = 2,
    analyzer: str = "word",
    vocabulary: Sequence[str] | None = None,
    stop_unigrams: bool = False,
) -> tuple[sp.csc_matrix, list[str]]:
    """Binary (texts x n-grams) matrix, lower-cased, and the n-grams in column order.

    ``analyzer="char"`` gives character n-grams (spaces included). With ``vocabulary`` the
    columns are exactly those n-grams (``min_df`` is ignored). ``stop_unigrams`` drops
    single English stop words ("the", "to"), which explain nothing on their own.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    values = [t if isinstance(t, str) else "" for t in texts]
    options = dict(binary=True, lowercase=True, ngram_range=ngram_range, dtype=np.int8)
    if analyzer == "word":
        options["token_pattern"] = TOKEN_PATTERN
    else:
        options["analyzer"] = analyzer
    if vocabulary is not None:
        vectorizer = CountVectorizer(vocabulary=list(vocabulary), **options)
    else:
        vectorizer = CountVectorizer(min_df=min(min_df, max(len(values), 1)), **options)
    try:
        X = vectorizer.fit_transform(values)
    except ValueError:  # empty vocabulary: no text has an n-gram often enough
        return sp.csc_matrix((len(values), 0), dtype=np.int8), []
    names = vectorizer.get_feature_names_out().tolist()
    if stop_unigrams:
        keep = np.array([n not in ENGLISH_STOP_WORDS for n in names], dtype=bool)
        X, names = X[:, keep], [n for n, k in zip(names, keep, strict=True) if k]
    return sp.csc_matrix(X), names
