"""LLMLabeler: a prompt as a labeling function, with its votes in the same label matrix.

An :class:`LLMLabeler` is a :class:`~weaklabel.lf.BatchLabelingFunction`, so
``apply_lfs([*lfs, labeler], df)`` runs it next to hand-written LFs. Several prompts are
several labelers; the label model then learns how good each prompt is.

Decoding modes (``decoding=``):

- ``"logprobs"`` (default): score the answer words by their log-probability at the
  answer position — from ``top_logprobs`` on an OpenAI-compatible endpoint, or computed
  exactly in-process with the local backend. With two classes the vote is the class whose
  word wins by more than a threshold calibrated on labeled dev rows
  (:meth:`LLMLabeler.calibrate`; ``0`` before calibration); answers without usable
  log-probabilities fall back to parsing their text.
- ``"json"``: structured output (``response_format`` with a JSON schema built from a
  pydantic model whose ``label`` is one of the answer words), then parsing.
- ``"text"``: free generation, parsed tolerantly (:mod:`weaklabel.llm.parsing`).

Rows whose answer names no class (refusals, empty or off-label answers), rows that failed
every retry, rows outside the budget (``max_rows``, ``max_cost``) and rows with no value in
any prompt field (never sent: there is nothing to ask about) vote ABSTAIN; the per-labeler
:attr:`LLMLabeler.report_` counts each kind.

Examples
--------
Any OpenAI-compatible server (see :mod:`weaklabel.llm.client` for vLLM, Ollama, llama.cpp)::

    spam = LLMLabeler(
        "llm_spam", "Is this comment spam or ham? Answer spam or ham.\\n\\n{text}",
        {"spam": 1, "ham": 0}, model="gpt-4o-mini",
    )
    L = apply_lfs([*hand_written_lfs, spam], df)

The local model, no key and no internet, calibrated on labeled dev rows::

    spam = LLMLabeler("smol_spam", prompt, {"spam": 1, "ham": 0}, backend="local",
                      calibration=(dev_df, y_dev), max_rows=300)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from weaklabel.lf import ABSTAIN, BatchLabelingFunction
from weaklabel.llm.cache import LLMCache, cache_key
from weaklabel.llm.calibration import Metric, best_threshold
from weaklabel.llm.client import (
    ChatClient,
    ChatRequest,
    LLMStatusError,
    LLMTransportError,
    run_sync,
)
from weaklabel.llm.parsing import AnswerParser, normalize_answer
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.report import CostBudget, LLMReport, cost_of

__all__ = ["LLMLabeler"]

logger = logging.getLogger("weaklabel.llm")

Decoding = Literal["logprobs", "text", "json"]
_KEY_VERSION = 1  # bump when the meaning of a cached record changes
_DEFAULT_MAX_TOKENS = {"logprobs": 5, "text": 10, "json": 30}
_UNSUPPORTED = re.compile(r"logprob|response_format|json_schema|structured", re.IGNORECASE)


class _Settings(BaseModel):
    """Validation of the labeler's settings: one place, one message shape."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    backend: Literal["openai", "local"]
    model: str | None
    decoding: Decoding | None
    api_key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_concurrency: int = Field(ge=1, le=4096)
    temperature: float = Field(ge=0.0, le=2.0)
    max_tokens: int | None = Field(ge=1)
    top_logprobs: int = Field(ge=1, le=20)
    seed: int | None
    max_rows: int | None = Field(ge=0)
    max_cost: float | None = Field(ge=0.0)
    requests_per_minute: float | None = Field(gt=0)
    tokens_per_minute: float | None = Field(gt=0)
    timeout: float = Field(gt=0)
    max_retries: int = Field(ge=0, le=100)
    backoff_base: float = Field(gt=0)
    backoff_max: float = Field(gt=0)
    on_failure: Literal["abstain", "raise"]
    calibration_metric: Literal["f1", "accuracy"]
    threshold: float | None
    batch_size: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)
    dtype: Literal["float32", "bfloat16", "float16"]
    num_threads: int | None = Field(ge=1)


def _check_labels(name: str, labels: Any) -> dict[str, int]:
    if not isinstance(labels, Mapping) or not labels:
        raise ValueError(f"LLM labeler {name!r}: labels must map answer words to votes, e.g. {{'spam': 1, 'ham': 0}}")
    out = {}
    for word, vote in labels.items():
        if not isinstance(word, str) or isinstance(vote, bool) or not isinstance(vote, int | np.integer):
            raise ValueError(f"LLM labeler {name!r}: labels must map strings to int votes, got {word!r}: {vote!r}")
        if vote < ABSTAIN:
            raise ValueError(f"LLM labeler {name!r}: vote {vote} for {word!r} is below ABSTAIN (-1)")
        out[word] = int(vote)
    if all(v == ABSTAIN for v in out.values()):
        raise ValueError(f"LLM labeler {name!r}: every answer word maps to ABSTAIN, so it would never vote")
    return out


class LLMLabeler(BatchLabelingFunction):
    """A prompt over each row, answered by an LLM, mapped to a vote.

    Parameters
    ----------
    name
        Unique name of the source (its column in the label matrix).
    prompt
        A :class:`PromptTemplate` or a template string over the row's columns (``{text}``).
    labels
        Answer word -> vote, e.g. ``{"spam": 1, "ham": 0}``, or ``{"yes": 1, "no": ABSTAIN}``
        for an aspect prompt. Several words may share a vote (synonyms).
    model
        Model name at the endpoint (required for ``backend="openai"``); for
        ``backend="local"`` a Hugging Face folder or ``.gguf`` file (default: SmolLM2-135M).
    backend
        ``"openai"``: any OpenAI-compatible endpoint. ``"local"``: in-process transformers.
    base_url, api_key_env
        Endpoint and the environment variable holding its key (see :mod:`weaklabel.llm.client`).
    decoding
        ``"logprobs"`` (default), ``"json"`` (endpoints only) or ``"text"``; see the module docstring.
    max_concurrency, requests_per_minute, tokens_per_minute, timeout, max_retries, backoff_base, backoff_max
        Client limits and retry policy (see :class:`~weaklabel.llm.client.ChatClient`).
    cache_path
        The SQLite answer cache (default ``$WEAKLABEL_CACHE_DIR`` or ``./.weaklabel_cache``).
        ``use_cache=False`` neither reads nor writes it.
    temperature, max_tokens, top_logprobs, seed
        Sampling parameters (part of the cache key). ``seed`` also fixes the ``max_rows`` sample.
    max_rows
        Label at most this many rows per call, a random sample fixed by ``seed``; the
        other rows vote ABSTAIN.
    max_cost
        Stop sending requests once this many dollars are spent or in flight (needs
        ``prices``); the unsent rows vote ABSTAIN. Cached answers cost nothing.
    prices
        ``{model: (dollars per million input tokens, per million output tokens)}``.
    on_failure
        Rows that fail every retry vote ABSTAIN (``"abstain"``, logged) or, once the
        other answers are stored, raise :class:`~weaklabel.llm.client.LLMTransportError`.
    calibration, calibration_metric
        Labeled dev rows ``(data, y)`` to calibrate the threshold on before the first
        labeling run, and the metric to maximise (``"f1"``: macro-F1 of the voted classes).
    threshold
        A fixed threshold for two-class log-prob scoring (instead of calibrating).
    batch_size, max_new_tokens, dtype, num_threads
        Local backend: rows per forward pass, tokens generated in ``"text"`` decoding,
        torch dtype (``"bfloat16"`` ranks rows the same and is faster only on CPUs with
        native bf16 — AMX or AVX512-BF16; on AVX2 it was 5x slower here), torch threads
        (default: the cores this process may use that other processes leave idle).

    Attributes
    ----------
    threshold_ : float
        The calibrated threshold (after :meth:`calibrate`).
    calibration_score_ : float
        The calibration metric on the dev rows at that threshold.
    report_ : LLMReport
        Usage of the last labeling or calibration run.
    """

    def __init__(
        self,
        name: str,
        prompt: PromptTemplate | str,
        labels: Mapping[str, int],
        *,
        model: str | Path | None = None,
        backend: Literal["openai", "local"] = "openai",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        decoding: Decoding | None = None,
        max_concurrency: int = 8,
        cache_path: str | Path | None = None,
        use_cache: bool = True,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        top_logprobs: int = 20,
        seed: int | None = 0,
        max_rows: int | None = None,
        max_cost: float | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        on_failure: Literal["abstain", "raise"] = "abstain",
        calibration: tuple[pd.DataFrame, Sequence[int] | np.ndarray] | None = None,
        calibration_metric: Metric = "f1",
        threshold: float | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 4,
        dtype: Literal["float32", "bfloat16", "float16"] = "float32",
        num_threads: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"an LLM labeler needs a non-empty string name, got {name!r}")
        self.name = name
        try:
            _Settings(
                backend=backend, model=None if model is None else str(model), decoding=decoding,
                api_key_env=api_key_env, max_concurrency=max_concurrency, temperature=temperature,
                max_tokens=max_tokens, top_logprobs=top_logprobs, seed=seed, max_rows=max_rows,
                max_cost=max_cost, requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute, timeout=timeout, max_retries=max_retries,
                backoff_base=backoff_base, backoff_max=backoff_max, on_failure=on_failure,
                calibration_metric=calibration_metric, threshold=threshold, batch_size=batch_size,
                max_new_tokens=max_new_tokens, dtype=dtype, num_threads=num_threads,
            )
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(
                f"LLM labeler {name!r}: parameter {'.'.join(map(str, err['loc']))}: {err['msg']} "
                f"(got {err.get('input')!r})"
            ) from None
        if backend == "openai" and model is None:
            raise ValueError(f"LLM labeler {name!r}: backend='openai' needs model= (the model name at the endpoint)")
        if backend == "local" and decoding == "json":
            raise ValueError(f"LLM labeler {name!r}: the local backend decodes 'logprobs' or 'text', not 'json'")
        if max_cost is not None and backend == "openai":
            CostBudget(max_cost, prices or {}, str(model))  # fails now if the model has no price
        self.prompt = prompt if isinstance(prompt, PromptTemplate) else PromptTemplate(prompt)
        self.labels = _check_labels(name, labels)
        self.model = model
        self.backend = backend
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.decoding = decoding
        self.max_concurrency = max_concurrency
        self.cache_path = cache_path
        self.use_cache = use_cache
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_logprobs = top_logprobs
        self.seed = seed
        self.max_rows = max_rows
        self.max_cost = max_cost
        self.prices = dict(prices or {})
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_failure = on_failure
        self.calibration = calibration
        self.calibration_metric = calibration_metric
        self.threshold = threshold
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.dtype = dtype
        self.num_threads = num_threads

        self.parser = AnswerParser(self.labels)
        self.decoding_: Decoding = decoding or "logprobs"
        self._words = list(self.labels)
        # Answer words grouped by vote, highest vote first (ABSTAIN last): a two-group
        # labeler votes the first group above the threshold.
        self._group_votes = sorted(set(self.labels.values()), reverse=True)
        self._cache: LLMCache | None = None

    def __repr__(self) -> str:
        where = self.base_url or ("local" if self.backend == "local" else "OpenAI")
        return f"LLMLabeler(name={self.name!r}, model={self.model!r}, at={where!r}, decoding={self.decoding_!r})"

    # ------------------------------------------------------------ construction helpers
    @classmethod
    def aspect(
        cls, name: str, question: str, *, yes: int, no: int = ABSTAIN, field: str = "text", **kwargs: Any
    ) -> LLMLabeler:
        """A labeler asking one yes/no question about an aspect of the row.

        ``LLMLabeler.aspect("asks_visit", "Does this comment ask people to visit a channel
        or link?", yes=SPAM, model=...)`` votes SPAM on "yes" and abstains on "no".
        """
        return cls(name, PromptTemplate.aspect(question, field=field), {"yes": yes, "no": no}, **kwargs)

    # ------------------------------------------------------------ keys and requests
    @property
    def cache(self) -> LLMCache:
        if self._cache is None:
            self._cache = LLMCache(self.cache_path)
        return self._cache

    def _client(self) -> ChatClient:
        return ChatClient(
            labeler=self.name, model=str(self.model), base_url=self.base_url, api_key_env=self.api_key_env,
            max_concurrency=self.max_concurrency, requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute, timeout=self.timeout, max_retries=self.max_retries,
            backoff_base=self.backoff_base, backoff_max=self.backoff_max, random_state=self.seed,
        )

    def _model_id(self) -> str:
        if self.backend == "local":
            from weaklabel.llm.local import local_model_id

            return local_model_id(self.model, self.dtype)
        return str(self.model)

    def _params(self) -> dict[str, Any]:
        """Everything besides the messages that changes an answer (and so the cache key)."""
        if self.backend == "local":
            if self.decoding_ == "logprobs":
                return {"words": self._words, "algorithm": "capitalised-word-logprob"}
            return {"max_new_tokens": self.max_new_tokens, "algorithm": "greedy"}
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens or _DEFAULT_MAX_TOKENS[self.decoding_],
        }
        if self.seed is not None:
            params["seed"] = self.seed
        if self.decoding_ == "logprobs":
            params.update(logprobs=True, top_logprobs=self.top_logprobs)
        elif self.decoding_ == "json":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "label", "strict": True, "schema": self._answer_schema()},
            }
        return params

    def _answer_model(self) -> type[BaseModel]:
        choices = Literal[tuple(self._words)]  # type: ignore[valid-type]
        return pydantic.create_model("LabelAnswer", label=(choices, ...))

    def _answer_schema(self) -> dict[str, Any]:
        schema = self._answer_model().model_json_schema()
        schema["additionalProperties"] = False
        return schema

    def _requests(self, data: pd.DataFrame) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
        """Cache key per row, and the messages of each distinct key."""
        rendered = self.prompt.render_frame(data)
        endpoint = "local" if self.backend == "local" else self._client().endpoint
        common = {
            "v": _KEY_VERSION,
            "endpoint": endpoint,
            "model": self._model_id(),
            "prompt": self.prompt.hash,
            "params": self._params(),
            "decoding": self.decoding_,
        }
        keys = [cache_key(**common, messages=messages) for messages in rendered]
        return keys, dict(zip(keys, rendered, strict=True))

    # ------------------------------------------------------------ fetching answers
    def _fetch(self, data: pd.DataFrame, report: LLMReport, *, progress: bool, budget: bool) -> list[dict | None]:
        """One record per row (None: failed or outside the budget), from cache or model."""
        n = len(data)
        rng = np.random.default_rng(self.seed)
        positions = np.arange(n)
        if budget and self.max_rows is not None and self.max_rows < n:
            positions = np.sort(rng.choice(n, size=self.max_rows, replace=False))
        blank = self._blank_rows(data)[positions]
        report.no_text = int(blank.sum())
        positions = positions[~blank]
        keys, messages = self._requests(data.iloc[positions])
        found = self.cache.get_many(keys) if self.use_cache else {}
        report.cache_hits = sum(key in found for key in keys)
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if budget and self.max_cost is not None:
            # Under a cost budget the unsent rows must be a random sample, not the tail.
            missing = [missing[i] for i in rng.permutation(len(missing))]
        fresh: dict[str, dict[str, Any]] = {}
        skipped: set[str] = set()
        failed: dict[str, str] = {}
        if missing:
            with tqdm(total=len(missing), desc=f"LLM {self.name}", unit="rows", disable=not progress) as bar:
                if self.backend == "local":
                    self._fetch_local(missing, messages, fresh, report, bar)
                else:
                    self._fetch_openai(missing, messages, fresh, skipped, failed, report, bar, budget)
        records: list[dict | None] = [None] * n
        for pos, key in zip(positions.tolist(), keys, strict=True):
            records[pos] = found.get(key) or fresh.get(key)
        report.rows = n
        report.rows_in_budget = sum(key not in skipped for key in keys)
        report.errors = sum(key in failed for key in keys)
        if failed:
            reasons = sorted(set(failed.values()))
            message = (
                f"LLM labeler {self.name!r}: {report.errors} rows failed every retry ({'; '.join(reasons[:3])}); "
                "they vote ABSTAIN here, were not cached, and will be asked again on the next run"
            )
            if self.on_failure == "raise":
                raise LLMTransportError(message, self.name)
            logger.warning(message)
        return records

    def _blank_rows(self, data: pd.DataFrame) -> np.ndarray:
        """Rows whose every prompt field is missing (None, NaN): asking about them would pay
        for an answer about an empty text."""
        fields = [field for field in self.prompt.fields if field in data.columns]
        if not fields:  # a prompt without fields (or columns the renderer will report)
            return np.zeros(len(data), dtype=bool)
        return data[fields].isna().all(axis=1).to_numpy(dtype=bool)

    def _fetch_openai(
        self,
        missing: list[str],
        messages: dict[str, list[dict[str, str]]],
        fresh: dict[str, dict[str, Any]],
        skipped: set[str],
        failed: dict[str, str],
        report: LLMReport,
        bar: tqdm,
        budget: bool,
    ) -> None:
        """Ask the endpoint for the missing answers, storing each as it arrives."""
        client = self._client()
        params = self._params()
        max_tokens = params["max_tokens"]
        requests = []
        for key in missing:
            chars = sum(len(m["content"]) for m in messages[key])
            requests.append(ChatRequest(key, {"messages": messages[key], **params}, chars // 4 + 8 + max_tokens))
        cost = CostBudget(self.max_cost, self.prices, str(self.model)) if budget and self.max_cost is not None else None
        reserved: dict[int, float] = {}

        def allow(pos: int) -> bool:
            if cost is None:
                return True
            estimate = cost.estimate(requests[pos].est_tokens - max_tokens, max_tokens)
            if not cost.try_reserve(estimate):
                skipped.add(requests[pos].key)
                return False
            reserved[pos] = estimate
            return True

        def on_answer(pos: int, record: dict[str, Any]) -> None:
            key = requests[pos].key
            if self.use_cache:
                self.cache.put(key, record, labeler=self.name, model=str(self.model))
            fresh[key] = record
            report.prompt_tokens += record["prompt_tokens"]
            report.completion_tokens += record["completion_tokens"]
            if cost is not None:
                spent = cost_of(self.prices, str(self.model), record["prompt_tokens"], record["completion_tokens"])
                cost.settle(reserved.pop(pos, 0.0), spent or 0.0)

        def on_done(pos: int) -> None:
            if cost is not None and pos in reserved:  # failed: release its reservation
                cost.settle(reserved.pop(pos), 0.0)
            bar.update(1)

        try:
            outcome = run_sync(lambda: client.run(requests, on_answer, allow=allow, on_done=on_done))
        finally:
            report.requests_sent += client.stats.requests_sent
            report.retries += client.stats.retries
            for kind, count in client.stats.retry_kinds.items():
                report.retry_kinds[kind] = report.retry_kinds.get(kind, 0) + count
        failed.update((requests[pos].key, why) for pos, why in outcome.items())

    def _fetch_local(
        self,
        missing: list[str],
        messages: dict[str, list[dict[str, str]]],
        fresh: dict[str, dict[str, Any]],
        report: LLMReport,
        bar: tqdm,
    ) -> None:
        """Score or generate the missing rows in-process, committing each batch."""
        from weaklabel.llm.local import LocalModel

        lm = LocalModel.load(self.model, dtype=self.dtype)
        prefix, suffixes = lm.split_prompts(self.prompt, [messages[key] for key in missing])
        kwargs = {"batch_size": self.batch_size, "num_threads": self.num_threads}

        def store(positions: np.ndarray, values: Any) -> None:
            items = []
            for j, pos in enumerate(positions.tolist()):
                tokens = len(prefix) + len(suffixes[pos])
                if self.decoding_ == "logprobs":
                    record = {"word_logprobs": [float(v) for v in values[j]], "prompt_tokens": tokens}
                else:
                    record = {"text": values[j], "prompt_tokens": tokens}
                items.append((missing[pos], record))
                fresh[missing[pos]] = record
                report.prompt_tokens += tokens
            if self.use_cache:
                self.cache.put_many(items, labeler=self.name, model=lm.name)
            report.requests_sent += len(items)
            bar.update(len(items))

        if self.decoding_ == "logprobs":
            lm.score_words(prefix, suffixes, self._words, on_batch=store, **kwargs)
        else:
            lm.generate(prefix, suffixes, max_new_tokens=self.max_new_tokens, on_batch=store, **kwargs)

    # ------------------------------------------------------------ answers -> votes
    def _word_logprobs(self, record: dict[str, Any]) -> np.ndarray | None:
        """Log-probability of each answer word in a record (None: not available)."""
        if "word_logprobs" in record:
            return np.asarray(record["word_logprobs"], dtype=np.float64)
        top = record.get("top_logprobs")
        if not top:
            return None
        norms = [normalize_answer(word) for word in self._words]
        found = np.full(len(self._words), -np.inf)
        for token, logprob in top:
            token_norm = normalize_answer(token)
            if not token_norm:
                continue
            hits = [i for i, word in enumerate(norms) if word.startswith(token_norm)]
            if len(hits) == 1:  # a token that starts two answer words says nothing
                found[hits[0]] = np.logaddexp(found[hits[0]], logprob)
        if np.isneginf(found).all():
            return None
        # A word absent from the top-k is at most as likely as the least likely listed token.
        floor = min(logprob for _, logprob in top)
        return np.where(np.isneginf(found), floor, found)

    def _group_scores(self, records: Sequence[dict | None]) -> np.ndarray:
        """Log-probability per vote group and row (NaN rows have none), shape (rows, groups)."""
        out = np.full((len(records), len(self._group_votes)), np.nan)
        if self.decoding_ != "logprobs":
            return out
        members = [[i for i, w in enumerate(self._words) if self.labels[w] == v] for v in self._group_votes]
        for row, record in enumerate(records):
            if record is None:
                continue
            word_lp = self._word_logprobs(record)
            if word_lp is not None:
                out[row] = [np.logaddexp.reduce(word_lp[idx]) for idx in members]
        return out

    def _score_of(self, groups: np.ndarray) -> np.ndarray:
        if groups.shape[1] != 2:
            raise ValueError(
                f"LLM labeler {self.name!r}: a score needs answer words for exactly two votes, "
                f"these map to {self._group_votes}"
            )
        return groups[:, 0] - groups[:, 1]

    def _votes(self, records: Sequence[dict | None], report: LLMReport | None = None) -> np.ndarray:
        groups = self._group_scores(records)
        scored = ~np.isnan(groups).any(axis=1)
        votes = np.full(len(records), ABSTAIN, dtype=np.int64)
        if scored.any():
            if groups.shape[1] == 2:
                threshold = getattr(self, "threshold_", self.threshold if self.threshold is not None else 0.0)
                above = self._score_of(groups[scored]) > threshold
                votes[scored] = np.where(above, self._group_votes[0], self._group_votes[1])
            else:
                votes[scored] = np.asarray(self._group_votes)[groups[scored].argmax(axis=1)]
        unparsable = 0
        schema = self._answer_model() if self.decoding_ == "json" else None
        for row in np.flatnonzero(~scored).tolist():
            record = records[row]
            if record is None:
                continue
            word = self._parse(record.get("text"), schema)
            if word is None:
                unparsable += 1
            else:
                votes[row] = self.labels[word]
        if report is not None:
            report.unparsable = unparsable
            report.abstains = int((votes == ABSTAIN).sum())
        return votes

    def _parse(self, text: str | None, schema: type[BaseModel] | None) -> str | None:
        if schema is not None and text:
            try:
                return schema.model_validate_json(text).label  # type: ignore[attr-defined]
            except pydantic.ValidationError:
                pass
        return self.parser.match(text)

    # ------------------------------------------------------------ public API
    def _new_report(self) -> LLMReport:
        model = str(self.model) if self.backend == "openai" else self._model_id()
        return LLMReport(self.name, model, self.backend, self.decoding_)

    def _run(self, data: pd.DataFrame, *, progress: bool, budget: bool) -> tuple[list[dict | None], LLMReport]:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"LLM labeler {self.name!r} labels a DataFrame, got {type(data).__name__}")
        start = time.perf_counter()
        report = self._new_report()
        try:
            records = self._fetch(data, report, progress=progress, budget=budget)
        except LLMStatusError as exc:
            if not (exc.status_code == 400 and self.decoding_ != "text" and _UNSUPPORTED.search(exc.server_message)):
                raise
            logger.warning(
                "LLM labeler %r: the endpoint rejects decoding=%r; falling back to parsing text",
                self.name,
                self.decoding_,
            )
            self.decoding_ = "text"
            return self._run(data, progress=progress, budget=budget)
        report.wall_time = time.perf_counter() - start
        if self.backend == "local":
            report.cost = 0.0  # in-process: no bill
        else:  # None when the price table does not list the model
            report.cost = cost_of(self.prices, report.model, report.prompt_tokens, report.completion_tokens)
        self.report_ = report
        return records, report

    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        """One vote per row of ``data`` (ABSTAIN where unparsable, failed or outside the budget)."""
        if self.calibration is not None and not hasattr(self, "threshold_"):
            self.calibrate(*self.calibration, progress=progress)
        records, report = self._run(data, progress=progress, budget=True)
        votes = self._votes(records, report)
        logger.info("%s", report)
        return votes

    def score(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        """The two-way score per row: log P(first vote's words) - log P(second's); NaN where
        no log-probabilities came back. Not limited by ``max_rows`` or ``max_cost``."""
        if self.decoding_ != "logprobs":
            raise ValueError(f"LLM labeler {self.name!r}: scores need decoding='logprobs', not {self.decoding_!r}")
        records, _ = self._run(data, progress=progress, budget=False)
        return self._score_of(self._group_scores(records))

    def calibrate(
        self,
        data: pd.DataFrame,
        y: Sequence[int] | np.ndarray,
        *,
        metric: Metric | None = None,
        progress: bool = True,
    ) -> LLMLabeler:
        """Set :attr:`threshold_` to the score threshold that maximises ``metric`` on
        labeled dev rows. Use dev rows, never the rows you will label."""
        y = np.asarray(y)
        if len(y) != len(data):
            raise ValueError(f"LLM labeler {self.name!r}: calibration got {len(data)} rows but {len(y)} labels")
        scores = self.score(data, progress=progress)
        if self.decoding_ != "logprobs" or not np.isfinite(scores).any():
            raise ValueError(
                f"LLM labeler {self.name!r}: the endpoint returned no log-probabilities of the answer "
                "words for the dev rows; calibration needs an endpoint that returns logprobs "
                "(or backend='local')"
            )
        metric = metric or self.calibration_metric
        self.threshold_, self.calibration_score_ = best_threshold(
            scores, y, self._group_votes[0], self._group_votes[1], metric
        )
        logger.info(
            "LLM labeler %r: threshold %.3f gives %s %.3f on %d dev rows",
            self.name, self.threshold_, metric, self.calibration_score_, len(y),
        )
        return self
