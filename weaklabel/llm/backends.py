"""Backends: who answers the prompts. One protocol, two implementations.

- ``OpenAIBackend``: any OpenAI-compatible endpoint, through
  ``ChatClient`` (concurrency, retries, deadlines, a cost budget).
- ``LocalBackend``: a causal LM in-process (``weaklabel.llm.local``), no key, no
  server; the default is SmolLM2-135M-Instruct.

A backend gets the jobs a labeler could not find in its cache (a cache key and the chat
messages each) and a ``Decoder`` saying what to ask for, and
reports every outcome to a ``Sink`` the moment it happens: answers are stored
before anything else can go wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from weaklabel.llm.client import ChatClient, ChatRequest, RunStats, run_sync
from weaklabel.llm.decoding import Decoder
from weaklabel.llm.report import CostBudget, cost_of
from weaklabel.llm.settings import LLMSettings

__all__ = ["Backend", "Job", "LocalBackend", "OpenAIBackend", "Sink", "make_backend"]


@dataclass(frozen=True)
class Job:
    """One row to ask about: its cache key and its chat messages."""

    key: str
    messages: list[dict[str, str]]


class Sink(Protocol):
    """Where a backend reports outcomes (the labeler's collector)."""

    def store(self, items: Sequence[tuple[str, dict[str, Any]]], model: str) -> None:
        """Answers arrived: cache them now."""

    def refuse(self, key: str, kind: str, message: str) -> None:
        """The endpoint refused this row for good."""

    def give_up(self, key: str, why: str) -> None:
        """Transient failures outlasted every retry."""

    def skip(self, key: str) -> None:
        """Outside the budget: never sent."""

    def progress(self, done: int, stats: RunStats | None = None) -> None:
        """``done`` more jobs settled; ``stats`` are the client's counters so far."""


class Backend(Protocol):
    """Answers jobs; identifies itself for cache keys."""

    name: str
    """Model identity in cache keys and reports."""
    endpoint: str
    """Where answers come from, in cache keys (``"local"`` in-process)."""

    def fetch(self, jobs: Sequence[Job], decoder: Decoder, sink: Sink, *, max_cost: float | None) -> None:
        """Answer ``jobs``, sending no more once ``max_cost`` dollars are spent or in flight."""

    def params(self, decoder: Decoder) -> dict[str, Any]:
        """Everything besides the messages that changes an answer (part of the cache key)."""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars these tokens cost (None: no price known for the model)."""


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint."""

    def __init__(self, settings: LLMSettings, labeler: str) -> None:
        self.settings = settings
        self.labeler = labeler
        self.name = str(settings.model)
        self.endpoint = ChatClient(settings, labeler=labeler).endpoint

    def params(self, decoder: Decoder) -> dict[str, Any]:
        return decoder.request_params()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return cost_of(self.settings.prices, self.name, prompt_tokens, completion_tokens)

    def fetch(self, jobs: Sequence[Job], decoder: Decoder, sink: Sink, *, max_cost: float | None) -> None:
        params = decoder.request_params()
        max_tokens = params["max_tokens"]
        requests = [
            ChatRequest(job.key, {"messages": job.messages, **params},
                        sum(len(m["content"]) for m in job.messages) // 4 + 8 + max_tokens)
            for job in jobs
        ]
        settings = self.settings
        cost = CostBudget(max_cost, settings.prices, self.name) if max_cost is not None else None
        events = _Events(requests, sink, cost, self.name, max_tokens)
        client = ChatClient(settings, labeler=self.labeler, random_state=settings.seed)
        try:
            run_sync(lambda: client.run(requests, events))
        finally:
            sink.progress(0, client.stats)


class _Events:
    """Adapts the client's per-position events to the sink, with the cost budget."""

    def __init__(self, requests: list[ChatRequest], sink: Sink, cost: CostBudget | None, model: str, max_tokens: int) -> None:
        self.requests, self.sink, self.cost, self.model, self.max_tokens = requests, sink, cost, model, max_tokens
        self.reserved: dict[int, float] = {}

    def allow(self, pos: int) -> bool:
        if self.cost is None:
            return True
        estimate = self.cost.estimate(self.requests[pos].est_tokens - self.max_tokens, self.max_tokens)
        if not self.cost.try_reserve(estimate):
            self.sink.skip(self.requests[pos].key)
            return False
        self.reserved[pos] = estimate
        return True

    def answered(self, pos: int, record: dict[str, Any]) -> None:
        self.sink.store([(self.requests[pos].key, record)], self.model)
        if self.cost is not None:
            spent = self.cost.estimate(record["prompt_tokens"], record["completion_tokens"])
            self.cost.settle(self.reserved.pop(pos, 0.0), spent)

    def refused(self, pos: int, kind: str, message: str) -> None:
        self.sink.refuse(self.requests[pos].key, kind, message)

    def gave_up(self, pos: int, why: str) -> None:
        self.sink.give_up(self.requests[pos].key, why)

    def settled(self, pos: int, stats: RunStats) -> None:
        if self.cost is not None and pos in self.reserved:  # not answered: release its reservation
            self.cost.settle(self.reserved.pop(pos), 0.0)
        self.sink.progress(1, stats)


class LocalBackend:
    """A causal LM run in-process with transformers (see ``weaklabel.llm.local``)."""

    endpoint = "local"

    def __init__(self, settings: LLMSettings, prompt: Any) -> None:
        from weaklabel.llm.local import local_model_id, resolve_dtype

        self.settings = settings
        self.prompt = prompt
        self.dtype = resolve_dtype(settings.dtype)
        self.name = local_model_id(settings.model, self.dtype)  # without loading the model

    def params(self, decoder: Decoder) -> dict[str, Any]:
        return decoder.local_params()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return 0.0  # in-process: no bill

    def fetch(self, jobs: Sequence[Job], decoder: Decoder, sink: Sink, *, max_cost: float | None) -> None:
        from weaklabel.llm.local import LocalModel

        model = LocalModel.load(self.settings.model, dtype=self.dtype)
        prefix, suffixes = model.split_prompts(self.prompt, [job.messages for job in jobs])

        def on_batch(positions: np.ndarray, values: Any) -> None:
            items = []
            for j, pos in enumerate(positions.tolist()):
                tokens = len(prefix) + len(suffixes[pos])
                items.append((jobs[pos].key, decoder.local_record(values[j], tokens)))
            sink.store(items, model.name)
            sink.progress(len(items))

        decoder.run_local(model, prefix, suffixes, on_batch)


def make_backend(settings: LLMSettings, labeler: str, prompt: Any) -> OpenAIBackend | LocalBackend:
    """The backend ``settings.backend`` names."""
    if settings.backend == "local":
        return LocalBackend(settings, prompt)
    return OpenAIBackend(settings, labeler)
