"""What every prompt-based source shares: a name, settings, a prompt, the fetcher, one run.

``PromptSource`` is the base of ``LLMLabeler`` (one vote per
row) and ``LLMLabelSetLabeler`` (a set of labels per row). A run
asks the backend for the rows the cache lacks, falls back to parsing text when the
endpoint rejects the decoding asked for, and keeps the usage in ``report_``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from weaklabel.exceptions import ConfigError, LLMUnsupportedError
from weaklabel.llm.backends import make_backend
from weaklabel.llm.cache import LLMCache
from weaklabel.llm.decoding import Decoder
from weaklabel.llm.fetching import AnswerFetcher, Records
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.report import LLMReport
from weaklabel.llm.settings import Decoding, LLMSettings

__all__ = ["PromptSource"]

logger = logging.getLogger("weaklabel.llm")


class PromptSource:
    """Settings, prompt and fetcher of a prompt-based source; subclasses add the decoder."""

    name: str
    settings: LLMSettings
    prompt: PromptTemplate
    decoding_: Decoding
    report_: LLMReport

    def _setup(self, name: str, prompt: PromptTemplate | str, settings: LLMSettings | None, options: dict[str, Any]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"an LLM labeler needs a non-empty string name, got {name!r}")
        self.name = name
        self.settings = LLMSettings.build(name, settings, **options)
        self.prompt = prompt if isinstance(prompt, PromptTemplate) else PromptTemplate(prompt)
        self.decoding_ = self.settings.decoding_mode
        self._fetcher_: AnswerFetcher | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Copies (pickled to Dask workers) leave the live fetcher behind — connections and
        the open cache — and make their own on first use."""
        return {**self.__dict__, "_fetcher_": None}

    def __getattr__(self, name: str) -> Any:
        # ``labeler.model``, ``labeler.max_rows``...: the settings, read as they used to be
        if name != "settings" and name in LLMSettings.model_fields and "settings" in self.__dict__:
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        s = self.settings
        where = s.base_url or ("local" if s.backend == "local" else "OpenAI")
        return f"{type(self).__name__}(name={self.name!r}, model={s.model!r}, at={where!r}, decoding={self.decoding_!r})"

    @property
    def cache(self) -> LLMCache | None:
        """The answer cache (opened, and checked, on first use); None with ``use_cache=False``."""
        return self._fetcher.cache

    @property
    def cache_path(self) -> Path | None:
        return self.settings.cache_path

    @property
    def use_cache(self) -> bool:
        return self.settings.use_cache

    def decoder(self) -> Decoder:
        """The decoder of the current decoding mode."""
        raise NotImplementedError

    def _render(self, data: pd.DataFrame) -> list[list[dict[str, str]]]:
        return self.prompt.render_frame(data)

    @property
    def _fetcher(self) -> AnswerFetcher:
        if self._fetcher_ is None:
            backend = make_backend(self.settings, self.name, self.prompt)
            self._fetcher_ = AnswerFetcher(self.name, self.settings, backend, self._render, self.prompt.fields, self.prompt.hash)
        return self._fetcher_

    def _run(self, data: pd.DataFrame, *, sample: bool = False, max_cost: float | None = None,
             progress: bool = True) -> tuple[Records, LLMReport]:
        """Records for every row of ``data``; the usage goes to ``report_``."""
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"LLM labeler {self.name!r} labels a DataFrame, got {type(data).__name__}")
        start = time.perf_counter()
        fetcher = self._fetcher
        report = LLMReport(self.name, fetcher.backend.name, self.settings.backend, self.decoding_)
        try:
            records = fetcher.fetch(data, self.decoder(), report, sample=sample, max_cost=max_cost, progress=progress)
        except LLMUnsupportedError:
            if self.decoding_ == "text":
                raise
            logger.warning("LLM labeler %r: the endpoint rejects decoding=%r; falling back to parsing text", self.name, self.decoding_)
            self.decoding_ = "text"
            return self._run(data, sample=sample, max_cost=max_cost, progress=progress)
        report.wall_time = time.perf_counter() - start
        report.cost = fetcher.backend.cost(report.prompt_tokens, report.completion_tokens)
        self.report_ = report
        return records, report
