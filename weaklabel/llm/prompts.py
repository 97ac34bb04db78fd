"""Prompt templates: zero-shot, few-shot, instruction variants and aspect prompts.

A ``PromptTemplate`` is a ``str.format`` template over a row's columns (``{text}``)
that renders to chat messages. It carries a content hash (template, system message and
few-shot examples), so the cache keys of one prompt change when, and only when, that
prompt is edited.

Write the instruction first and the row's fields last: everything before the first field
is the same for every row, and the local backend computes that shared prefix only once.

Examples
--------
>>> zero_shot = PromptTemplate("Is this YouTube comment spam or ham? Answer spam or ham.\\n\\n{text}")
>>> zero_shot.render({"text": "check out my channel"})[-1]["content"].splitlines()[-1]
'check out my channel'
>>> aspect = PromptTemplate.aspect("Does this comment ask people to visit a channel or a link?")
>>> aspect.fields
('text',)
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PromptTemplate"]

_FORMATTER = string.Formatter()


def _template_fields(template: str, what: str) -> tuple[str, ...]:
    """The ``{field}`` names of a template, in order of first use; rejects what we can't render."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid template ({exc}); write literal braces as {{{{ }}}}") from exc
    fields: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(
                f"{what}: field {{{field}}} must be a plain column name "
                "(no positional fields, attributes or indexing)"
            )
        if spec or conversion:
            raise ValueError(f"{what}: field {{{field}}} must not carry a format spec or conversion")
        if field not in fields:
            fields.append(field)
    return tuple(fields)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _as_text(value: Any) -> str:
    """A field as prompt text: missing is empty, and lone surrogates (text that is not valid
    Unicode, which no UTF-8 request can carry) become U+FFFD, as decoders do."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value)
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


class PromptTemplate:
    """A chat prompt over a row's columns, with optional few-shot examples.

    Parameters
    ----------
    template
        The user message, a ``str.format`` template over the row's columns, e.g.
        ``"Is this comment spam? Answer spam or ham.\\n\\nComment: {text}"``. Put the
        instruction first and the fields last (see the module docstring).
    system
        Optional system message.
    examples
        Few-shot examples as ``(fields, answer)`` pairs; each is rendered as a user turn
        (this template over ``fields``) followed by an assistant turn (``answer``). Prefer
        ``few_shot``, which draws them from labeled rows with a seed.
    name
        A short human label used in reports (defaults to the start of the template).
    """

    def __init__(
        self,
        template: str,
        *,
        system: str | None = None,
        examples: Sequence[tuple[Mapping[str, Any], str]] = (),
        name: str | None = None,
    ) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ValueError(f"a prompt template must be a non-empty string, got {template!r:.80}")
        self.fields = _template_fields(template, "prompt template")
        if not self.fields:
            raise ValueError(
                "the prompt template has no {field}: it would send the same prompt for every row; "
                f"add e.g. {{text}} (template: {template!r:.80})"
            )
        if system is not None and not isinstance(system, str):
            raise TypeError(f"system must be a string or None, got {type(system).__name__}")
        self.template = template
        self.system = system
        self.examples = tuple((dict(fields), str(answer)) for fields, answer in examples)
        for position, (fields, _) in enumerate(self.examples):
            missing = [field for field in self.fields if field not in fields]
            if missing:
                raise ValueError(f"few-shot example {position} lacks the field(s) {missing}")
        self.name = name or " ".join(template.split())[:40]
        payload = {
            "template": template,
            "system": system,
            "examples": [[{f: _as_text(v) for f, v in sorted(ex.items())}, ans] for ex, ans in self.examples],
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        self.hash = digest.hexdigest()[:16]
        """Content hash: part of every cache key, so editing this prompt re-asks only its rows."""

    def __repr__(self) -> str:
        shots = f", examples={len(self.examples)}" if self.examples else ""
        return f"PromptTemplate({self.template!r:.60}{shots}, hash={self.hash!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PromptTemplate) and other.hash == self.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    # ------------------------------------------------------------ rendering
    def format_user(self, row: Mapping[str, Any]) -> str:
        """The user message for one row (``row`` maps column names to values)."""
        try:
            return self.template.format_map({field: _as_text(row[field]) for field in self.fields})
        except KeyError as exc:
            raise KeyError(
                f"prompt {self.name!r} needs the column {exc.args[0]!r}, which the row lacks"
            ) from None

    def render(
        self, row: Mapping[str, Any], examples: Sequence[tuple[Mapping[str, Any], str]] | None = None
    ) -> list[dict[str, str]]:
        """Chat messages for one row: system, few-shot turns, then the row's user turn.

        ``examples`` replaces the template's own few-shot examples for this row (examples
        chosen per row, e.g. by similarity).
        """
        messages = [{"role": "system", "content": self.system}] if self.system else []
        for fields, answer in self.examples if examples is None else examples:
            messages.append({"role": "user", "content": self.format_user(fields)})
            messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": self.format_user(row)})
        return messages

    def render_frame(self, data: pd.DataFrame) -> list[list[dict[str, str]]]:
        """Messages for every row of ``data``; a missing column is reported once, by name."""
        missing = [field for field in self.fields if field not in data.columns]
        if missing:
            raise KeyError(
                f"prompt {self.name!r} needs the column(s) {missing}; the data has {list(data.columns)}"
            )
        columns = [data[field].tolist() for field in self.fields]
        return [self.render(dict(zip(self.fields, values, strict=True))) for values in zip(*columns, strict=True)]

    # ------------------------------------------------------------ builders
    @classmethod
    def few_shot(
        cls,
        template: str,
        data: pd.DataFrame,
        y: Sequence[int] | np.ndarray,
        labels: Mapping[str, int],
        *,
        k: int = 4,
        seed: int = 0,
        system: str | None = None,
        name: str | None = None,
    ) -> PromptTemplate:
        """A few-shot prompt whose ``k`` examples are drawn from labeled rows, fixed by ``seed``.

        Examples are drawn class by class in turn (so every class the answer words name is
        shown) and shuffled; each is answered with the first word of ``labels`` that maps
        to its class. Draw them from a dev split, never from the rows you will label.
        """
        y = np.asarray(y)
        if len(y) != len(data):
            raise ValueError(f"few_shot: {len(data)} rows but {len(y)} labels")
        if k < 1:
            raise ValueError(f"few_shot: k must be >= 1, got {k}")
        answer_of: dict[int, str] = {}
        for word, vote in labels.items():
            if vote >= 0:
                answer_of.setdefault(int(vote), word)
        rng = np.random.default_rng(seed)
        pools = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in sorted(answer_of)}
        if not any(pools.values()):
            raise ValueError(f"few_shot: no labeled row has a class among {sorted(answer_of)}")
        chosen: list[int] = []
        while len(chosen) < k and any(pools.values()):
            for pool in pools.values():
                if pool and len(chosen) < k:
                    chosen.append(int(pool.pop()))
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        fields = _template_fields(template, "prompt template")
        examples = [
            ({f: data[f].iloc[pos] for f in fields}, answer_of[int(y[pos])]) for pos in chosen
        ]
        return cls(template, system=system, examples=examples, name=name)

    @classmethod
    def aspect(
        cls,
        question: str,
        *,
        field: str = "text",
        subject: str = "Text",
        system: str | None = None,
        name: str | None = None,
    ) -> PromptTemplate:
        """A yes/no question about one aspect of the row, e.g. "Does this comment ask
        people to visit a channel or link?".

        Pair it with labels such as ``{"yes": SPAM, "no": ABSTAIN}``: an aspect prompt
        votes only when the aspect is present, and the label model learns how much to
        trust it.
        """
        if not question.strip():
            raise ValueError("an aspect prompt needs a question")
        safe = question.strip().replace("{", "{{").replace("}", "}}")
        template = f"{safe} Answer yes or no.\n\n{subject}: {{{field}}}"
        return cls(template, system=system, name=name or question.strip()[:40])
