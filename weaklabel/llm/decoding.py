"""Decoders: one per decoding mode, each saying what to ask a backend and how to read its answers.

- ``LogprobDecoder`` (``"logprobs"``): the log-probability of every answer word at the
  answer position — from ``top_logprobs`` on an endpoint, computed exactly in-process by
  the local backend. Answers without usable log-probabilities fall back to their text.
- ``JsonDecoder`` (``"json"``): structured output (``response_format`` with a JSON
  schema whose ``label`` must be an answer word), then the object's label.
- ``TextDecoder`` (``"text"``): free generation, parsed tolerantly
  (``weaklabel.llm.parsing``).

A decoder reads *records*, the parts of an answer the cache keeps (``text``,
``top_logprobs`` or ``word_logprobs``, token counts). Its request parameters are part of
every cache key, so changing the decoding never reuses another mode's answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pydantic
from pydantic import BaseModel

from weaklabel.llm.parsing import AnswerParser, normalize_answer
from weaklabel.llm.settings import Decoding, LLMSettings

__all__ = ["Decoder", "JsonDecoder", "LogprobDecoder", "SetDecoder", "TextDecoder", "make_decoder"]

OnBatch = Callable[[np.ndarray, Any], None]


class Decoder:
    """What to ask for and how to read it; subclasses fix ``mode``."""

    mode: ClassVar[Decoding]
    default_max_tokens: ClassVar[int]

    def __init__(self, labels: Mapping[str, int], settings: LLMSettings) -> None:
        self.words = list(labels)
        self.settings = settings
        self.parser = AnswerParser(labels)

    def request_params(self) -> dict[str, Any]:
        """The chat-completion body besides the messages (and part of the cache key)."""
        params: dict[str, Any] = {
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens or self.default_max_tokens,
        }
        if self.settings.seed is not None:
            params["seed"] = self.settings.seed
        return params

    @property
    def new_tokens(self) -> int:
        """Tokens to generate in-process (free generation)."""
        return self.settings.max_new_tokens

    def local_params(self) -> dict[str, Any]:
        """What identifies the local computation (part of the cache key)."""
        return {"max_new_tokens": self.new_tokens, "algorithm": "greedy"}

    def run_local(self, model: Any, prefix: list[int], suffixes: list[list[int]], on_batch: OnBatch) -> None:
        """Compute every row in-process, handing each finished batch to ``on_batch``."""
        model.generate(
            prefix, suffixes, max_new_tokens=self.new_tokens, on_batch=on_batch,
            batch_size=self.settings.batch_size, num_threads=self.settings.num_threads,
        )

    def local_record(self, value: Any, tokens: int) -> dict[str, Any]:
        """The cached record of one row computed in-process."""
        return {"text": value, "prompt_tokens": tokens}

    def word_logprobs(self, record: Mapping[str, Any]) -> np.ndarray | None:
        """Log-probability of each answer word (None: this record has none)."""
        return None

    def answer_word(self, record: Mapping[str, Any]) -> str | None:
        """The answer word the record's text names (None: unparsable)."""
        return self.parser.match(record.get("text"))


class TextDecoder(Decoder):
    """Free generation, parsed tolerantly."""

    mode = "text"
    default_max_tokens = 10


class JsonDecoder(Decoder):
    """Structured output: a JSON object whose ``label`` is one of the answer words."""

    mode = "json"
    default_max_tokens = 30

    def __init__(self, labels: Mapping[str, int], settings: LLMSettings) -> None:
        super().__init__(labels, settings)
        choices: Any = Literal[tuple(self.words)]  # a Literal built at run time
        self.schema_model: type[BaseModel] = pydantic.create_model("LabelAnswer", label=(choices, ...))

    def request_params(self) -> dict[str, Any]:
        schema = self.schema_model.model_json_schema()
        schema["additionalProperties"] = False
        return {
            **super().request_params(),
            "response_format": {"type": "json_schema", "json_schema": {"name": "label", "strict": True, "schema": schema}},
        }

    def answer_word(self, record: Mapping[str, Any]) -> str | None:
        text = record.get("text")
        if isinstance(text, str) and text:
            try:
                return self.schema_model.model_validate_json(text).label  # type: ignore[attr-defined]
            except pydantic.ValidationError:
                pass
        return super().answer_word(record)


class LogprobDecoder(Decoder):
    """Label-word log-probabilities at the answer position."""

    mode = "logprobs"
    default_max_tokens = 5

    def request_params(self) -> dict[str, Any]:
        return {**super().request_params(), "logprobs": True, "top_logprobs": self.settings.top_logprobs}

    def local_params(self) -> dict[str, Any]:
        return {"words": self.words, "algorithm": "capitalised-word-logprob"}

    def run_local(self, model: Any, prefix: list[int], suffixes: list[list[int]], on_batch: OnBatch) -> None:
        model.score_words(
            prefix, suffixes, self.words, on_batch=on_batch,
            batch_size=self.settings.batch_size, num_threads=self.settings.num_threads,
        )

    def local_record(self, value: Any, tokens: int) -> dict[str, Any]:
        return {"word_logprobs": [float(v) for v in value], "prompt_tokens": tokens}

    def word_logprobs(self, record: Mapping[str, Any]) -> np.ndarray | None:
        computed = record.get("word_logprobs")
        if isinstance(computed, list) and len(computed) == len(self.words):
            return np.asarray(computed, dtype=np.float64)
        top = record.get("top_logprobs")
        return _from_top_logprobs(top, self.words) if isinstance(top, list) and top else None


def _from_top_logprobs(top: Sequence[Any], words: Sequence[str]) -> np.ndarray | None:
    """Each answer word's log-probability from the first token's top alternatives.

    A token counts for the word it starts (a token that starts two words says nothing);
    a word absent from the top-k is at most as likely as the least likely listed token.
    """
    norms = [normalize_answer(word) for word in words]
    found = np.full(len(words), -np.inf)
    listed = []
    for item in top:
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
            continue
        token, logprob = item
        if not isinstance(logprob, int | float) or not np.isfinite(logprob):
            continue
        listed.append(float(logprob))
        token_norm = normalize_answer(token)
        if not token_norm:
            continue
        hits = [i for i, word in enumerate(norms) if word.startswith(token_norm)]
        if len(hits) == 1:
            found[hits[0]] = np.logaddexp(found[hits[0]], logprob)
    if not listed or np.isneginf(found).all():
        return None
    return np.where(np.isneginf(found), min(listed), found)


class SetDecoder(Decoder):
    """Answers naming a set of labels (multi-label prompts), as text or as JSON.

    ``"json"`` asks for ``{"labels": [...]}`` with every item one of the labels; either way
    the answer is read by a ``LabelSetParser``.
    """

    default_max_tokens = 40

    def __init__(self, parser: Any, mode: Decoding, settings: LLMSettings) -> None:
        self.words = list(parser.labels)
        self.settings = settings
        self.set_parser = parser
        self.mode = mode  # type: ignore[misc]

    def request_params(self) -> dict[str, Any]:
        params = super().request_params()
        if self.mode == "json":
            schema = {
                "type": "object",
                "properties": {"labels": {"type": "array", "items": {"type": "string", "enum": self.words}}},
                "required": ["labels"],
                "additionalProperties": False,
            }
            params["response_format"] = {"type": "json_schema", "json_schema": {"name": "labels", "strict": True, "schema": schema}}
        return params

    @property
    def new_tokens(self) -> int:
        return max(self.settings.max_new_tokens, 24)  # a list of labels, not one word

    def local_params(self) -> dict[str, Any]:
        return {**super().local_params(), "labels": self.words}

    def answer_word(self, record: Mapping[str, Any]) -> str | None:
        raise TypeError("a set decoder reads sets: use answer_set()")

    def answer_set(self, record: Mapping[str, Any]) -> list[str] | None:
        """The labels the record's text names ([] for "none"; None: unparsable)."""
        return self.set_parser.parse(record.get("text"))


_DECODERS: dict[str, type[Decoder]] = {"text": TextDecoder, "json": JsonDecoder, "logprobs": LogprobDecoder}


def make_decoder(mode: Decoding, labels: Mapping[str, int], settings: LLMSettings) -> Decoder:
    """The decoder of ``mode``."""
    return _DECODERS[mode](labels, settings)
