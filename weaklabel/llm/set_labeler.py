"""LLMLabelSetLabeler: one prompt that names the set of labels a row has (multi-label tasks).

The other way to ask an LLM about several labels is one aspect prompt per label
(``LLMLabeler.aspect(..., yes=PRESENT, no=ABSENT)``): precise, but one request per label
and row. A set prompt asks once per row ("Which of these aspects does the review
mention: food, service, price...?") and its answer is parsed into the labels it names
(``LabelSetParser``). Answers are cached, retried and
budgeted like every LLM labeler's.

``LLMLabelSetLabeler.apply_batch`` returns one entry per row — the list of labels
named, or None when the answer named nothing known — which is what a multi-label set
source consumes; ``set_votes`` turns the entries into
per-label PRESENT/ABSENT/ABSTAIN votes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from weaklabel.exceptions import ConfigError
from weaklabel.llm.decoding import SetDecoder
from weaklabel.llm.label_sets import LabelSetParser
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.settings import LLMSettings
from weaklabel.llm.source import PromptSource

__all__ = ["LLMLabelSetLabeler"]

logger = logging.getLogger("weaklabel.llm")


class LLMLabelSetLabeler(PromptSource):
    """A prompt whose answer names several labels per row; see the module docstring.

    Parameters
    ----------
    name
        Unique source name.
    prompt
        A ``PromptTemplate`` or template string listing the labels to choose from.
    labels
        The label names the answer may name, in class order.
    settings, options
        As for ``LLMLabeler``; ``decoding`` is ``"text"`` (default)
        or ``"json"`` (structured output: ``{"labels": [...]}``).
    aliases, codes
        Other words for a label, and option codes of a multiple-choice prompt
        (``{"A": "food"}``), see ``LabelSetParser``.
    """

    def __init__(
        self,
        name: str,
        prompt: PromptTemplate | str,
        labels: Sequence[str],
        settings: LLMSettings | None = None,
        *,
        aliases: Mapping[str, str] | None = None,
        codes: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("decoding", (settings.decoding if settings else None) or "text")
        self._setup(name, prompt, settings, options)
        if self.decoding_ == "logprobs":
            raise ConfigError(f"LLM labeler {name!r}: a set of labels is read from text or JSON, not decoding='logprobs'")
        if self.settings.backend == "local" and self.decoding_ == "json":
            raise ConfigError(f"LLM labeler {name!r}: the local backend generates text; use decoding='text'")
        try:
            self.parser = LabelSetParser(labels, aliases=aliases, codes=codes)
        except ValueError as exc:
            raise ConfigError(f"LLM labeler {name!r}: {exc}") from None
        self.labels = self.parser.labels

    def decoder(self) -> SetDecoder:
        return SetDecoder(self.parser, self.decoding_, self.settings)

    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> list[list[str] | None]:
        """The labels each row's answer names ([] for "none"; None: unparsable, failed or outside the budget)."""
        records, report = self._run(data, sample=True, max_cost=self.settings.max_cost, progress=progress)
        decoder = self.decoder()
        sets: list[list[str] | None] = []
        for record in records:
            named = decoder.answer_set(record) if record is not None else None
            if record is not None:
                report.malformed += "schema_error" in record
                report.unparsable += named is None
            sets.append(named)
        report.abstains = sum(named is None for named in sets)
        self._fetcher.check_failures(report)
        logger.info("%s", report)
        return sets
