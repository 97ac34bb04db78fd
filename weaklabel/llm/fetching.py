"""From rows to answer records: budget, cache keys, cache lookup, the backend, collecting.

``AnswerFetcher`` does one labeling (or calibration) pass for a labeler: it picks the
rows inside the budget, renders their prompts, looks their keys up in the cache (answers,
and refusals recorded by earlier runs), sends the rest to the backend, and collects every
outcome through a ``Collector``, which stores each answer the moment it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from weaklabel.exceptions import LLMResponseError, LLMStatusError, LLMTransportError
from weaklabel.llm.backends import Backend, Job
from weaklabel.llm.cache import LLMCache, cache_key
from weaklabel.llm.client import RunStats
from weaklabel.llm.decoding import Decoder
from weaklabel.llm.report import LLMReport
from weaklabel.llm.settings import LLMSettings

__all__ = ["AnswerFetcher", "Collector", "Records"]

logger = logging.getLogger("weaklabel.llm")
_KEY_VERSION = 1  # bump when the meaning of a cached record changes
Records = list[dict[str, Any] | None]
Renderer = Callable[[pd.DataFrame], list[list[dict[str, str]]]]


class Collector:
    """Receives a backend's outcomes: stores answers at once, counts the rest."""

    def __init__(self, name: str, cache: LLMCache | None, report: LLMReport, bar: tqdm, retrying: bool = False) -> None:
        self.name, self.cache, self.report, self.bar = name, cache, report, bar
        self.retrying = retrying  # refusals recorded earlier are being asked again: clear them on an answer
        self.fresh: dict[str, dict[str, Any]] = {}
        self.refused: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.skipped: set[str] = set()

    def store(self, items: Sequence[tuple[str, dict[str, Any]]], model: str) -> None:
        if self.cache is not None:
            if len(items) == 1:
                self.cache.put(items[0][0], items[0][1], labeler=self.name, model=model, clear_failure=self.retrying)
            else:
                self.cache.put_many(items, labeler=self.name, model=model)
        for key, record in items:
            self.fresh[key] = record
            self.report.prompt_tokens += int(record.get("prompt_tokens") or 0)
            self.report.completion_tokens += int(record.get("completion_tokens") or 0)

    def refuse(self, key: str, kind: str, message: str) -> None:
        self.refused[key] = kind
        if self.cache is not None:
            self.cache.put_failure(key, kind, message, labeler=self.name, model=self.report.model)
        logger.debug("LLM labeler %r: a row was refused (%s): %s", self.name, kind, message)

    def give_up(self, key: str, why: str) -> None:
        self.failed[key] = why

    def skip(self, key: str) -> None:
        self.skipped.add(key)

    def progress(self, done: int, stats: RunStats | None = None) -> None:
        if stats is not None:
            self.report.requests_sent = stats.requests_sent
            self.report.retries = stats.retries
            self.report.retry_kinds = dict(stats.retry_kinds)
            self.bar.set_postfix(retries=stats.retries, refused=len(self.refused), failed=len(self.failed), refresh=False)
        else:
            self.report.requests_sent += done
        if done:
            self.bar.update(done)


class AnswerFetcher:
    """One labeler's way from rows to records; see the module docstring."""

    def __init__(self, name: str, settings: LLMSettings, backend: Backend, render: Renderer, fields: Sequence[str], prompt_hash: str) -> None:
        self.name, self.settings, self.backend, self.render = name, settings, backend, render
        self.fields, self.prompt_hash = list(fields), prompt_hash
        self.reasons: list[str] = []  # why rows of the last pass failed every retry
        self._cache: LLMCache | None = None

    @property
    def cache(self) -> LLMCache | None:
        if not self.settings.use_cache:
            return None
        if self._cache is None:
            self._cache = LLMCache(self.settings.cache_path)
        return self._cache

    def keys(self, data: pd.DataFrame, decoder: Decoder) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
        """Cache key per row, and the messages of each distinct key."""
        rendered = self.render(data)
        common = {
            "v": _KEY_VERSION,
            "endpoint": self.backend.endpoint,
            "model": self.backend.name,
            "prompt": self.prompt_hash,
            "params": self.backend.params(decoder),
            "decoding": decoder.mode,
        }
        keys = [cache_key(**common, messages=messages) for messages in rendered]
        return keys, dict(zip(keys, rendered, strict=True))

    def in_budget(self, data: pd.DataFrame, sample: bool) -> np.ndarray:
        """Positions of the rows to label: all, or (``sample``) a seeded sample of ``max_rows``."""
        n = len(data)
        positions = np.arange(n)
        if sample and self.settings.max_rows is not None and self.settings.max_rows < n:
            rng = np.random.default_rng(self.settings.seed)
            positions = np.sort(rng.choice(n, size=self.settings.max_rows, replace=False))
        return positions

    def blank(self, data: pd.DataFrame) -> np.ndarray:
        """Rows whose every prompt field is missing (None, NaN): asking about them would pay
        for an answer about an empty text."""
        fields = [field for field in self.fields if field in data.columns]
        if not fields:  # columns the renderer will report
            return np.zeros(len(data), dtype=bool)
        return data[fields].isna().all(axis=1).to_numpy(dtype=bool)

    def fetch(
        self, data: pd.DataFrame, decoder: Decoder, report: LLMReport, *, sample: bool, max_cost: float | None,
        progress: bool,
    ) -> Records:
        """One record per row of ``data`` (None: failed, refused, blank or outside the budget).

        ``sample``: label only the ``max_rows`` sample; ``max_cost``: stop sending once this
        many dollars are spent or in flight.
        """
        positions = self.in_budget(data, sample)
        blank = self.blank(data)[positions]
        report.no_text = int(blank.sum())
        positions = positions[~blank]
        keys, messages = self.keys(data.iloc[positions], decoder)
        cache = self.cache
        found = cache.get_many(keys) if cache is not None else {}
        refused_before = {} if cache is None or self.settings.retry_failed else cache.get_failures(keys)
        missing = [key for key in dict.fromkeys(keys) if key not in found and key not in refused_before]
        if max_cost is not None:  # the unsent rows must be a random sample, not the tail
            rng = np.random.default_rng(self.settings.seed)
            missing = [missing[i] for i in rng.permutation(len(missing))]
        with tqdm(total=len(missing), desc=f"LLM {self.name}", unit="rows", disable=not progress or not missing) as bar:
            collector = Collector(self.name, cache, report, bar, retrying=self.settings.retry_failed)
            if missing:
                jobs = [Job(key, messages[key]) for key in missing]
                self.backend.fetch(jobs, decoder, collector, max_cost=max_cost)
        records: Records = [None] * len(data)
        for pos, key in zip(positions.tolist(), keys, strict=True):
            records[pos] = found.get(key) or collector.fresh.get(key)
        self._count(report, keys, found, refused_before, collector, len(data))
        self.reasons = sorted(set(collector.failed.values()))
        return records

    @staticmethod
    def _count(report: LLMReport, keys: list[str], found: dict, before: dict, collector: Collector, n: int) -> None:
        report.rows = n
        report.cache_hits = sum(key in found for key in keys)
        report.rows_in_budget = sum(key not in collector.skipped for key in keys)
        report.errors = sum(key in collector.failed for key in keys)
        report.refused = sum(key in collector.refused for key in keys)
        report.refused_before = sum(key in before for key in keys)
        kinds: dict[str, int] = {}
        for key in keys:
            kind = collector.refused.get(key) or (before[key][0] if key in before else None)
            if kind is not None:
                kinds[kind] = kinds.get(kind, 0) + 1
        report.refusal_kinds = kinds

    def check_failures(self, report: LLMReport) -> None:
        """Log (or, with ``on_failure="raise"``, raise) what the last pass could not label."""
        strict = self.settings.on_failure == "raise"
        if report.errors:
            message = (
                f"LLM labeler {self.name!r}: {report.errors} rows failed every retry"
                f"{' (' + '; '.join(self.reasons[:3]) + ')' if self.reasons else ''}; they vote "
                "ABSTAIN here, were not cached, and will be asked again on the next run"
            )
            if strict:
                raise LLMTransportError(message, self.name)
            logger.warning(message)
        refused = report.refused + report.refused_before
        if refused:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(report.refusal_kinds.items()))
            message = (
                f"LLM labeler {self.name!r}: the endpoint refused {refused} rows for good ({kinds}); they vote "
                "ABSTAIN and are not asked again unless retry_failed=True"
            )
            if strict:
                raise LLMStatusError(message, self.name, 400)
            logger.warning(message)
        if report.malformed and strict:
            raise LLMResponseError(
                f"LLM labeler {self.name!r}: {report.malformed} answers did not fit a chat completion "
                "(they are cached and vote ABSTAIN)", self.name,
            )
