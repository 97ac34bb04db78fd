"""Telling a secret from a name: one rule for the config loader and the LLM settings.

A key pasted where an environment-variable name belongs must be refused without being
echoed, and a config value that looks like a key must never be written out; both places
ask ``looks_like_secret``.
"""

from __future__ import annotations

import re

__all__ = ["looks_like_secret"]

_KEY_PREFIXES = (
    "sk-", "sk_", "pk-", "pk_", "rk_", "hf_", "gsk_", "ghp_", "gho_", "ghs_", "github_pat_",
    "xoxb-", "xoxp-", "AKIA", "AIza", "Bearer ",
)


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` looks like a key or token rather than a name: a provider's key
    prefix (``sk-``, ``hf_``, ``AKIA``...), or a long random-looking string."""
    value = value.strip()
    if value.startswith(_KEY_PREFIXES):
        return True
    if len(value) < 32 or re.fullmatch(r"[A-Z0-9_]+", value) or re.search(r"[\s/\\.]", value):
        return False  # short, an UPPER_CASE name, or text, a path, a URL
    kinds = sum(bool(re.search(pattern, value)) for pattern in ("[a-z]", "[A-Z]", "[0-9]"))
    return kinds >= 2 and sum(c.isdigit() for c in value) >= 4
