"""Every setting of an LLM labeler in one typed, validated object: ``LLMSettings``.

Why one object: the labeler, its HTTP client and its local model read the same settings,
and a fit config's ``llm_labelers`` entry maps onto them key for key. Validated once, at
construction, so a typo or an out-of-range value fails before any request is sent, with
one message shape: which setting, what is allowed, what was given.

The API key itself is never a setting: ``api_key_env`` names the environment variable
that holds it, read only when a run starts. A value that looks like a key where that name
belongs is refused without being echoed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weaklabel._secrets import looks_like_secret
from weaklabel.exceptions import ConfigError

__all__ = ["Decoding", "LLMSettings", "settings_error"]

Decoding = Literal["logprobs", "text", "json"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_FIELDS = ("api_key_env",)


class LLMSettings(BaseModel):
    """How an ``LLMLabeler`` asks, reads, retries, budgets and caches.

    Groups of settings (all optional; the defaults suit a hosted endpoint):

    - **where**: ``backend`` (``"openai"``: any OpenAI-compatible endpoint; ``"local"``:
      in-process transformers), ``model`` (the endpoint's model name; for the local
      backend a Hugging Face folder or ``.gguf`` file, default SmolLM2-135M), ``base_url``,
      ``api_key_env`` (the *name* of the variable holding the key).
    - **reading answers**: ``decoding`` (``"logprobs"``, ``"text"``, ``"json"``; default
      ``"logprobs"``), ``temperature``, ``max_tokens``, ``top_logprobs``, ``seed`` (also
      fixes the ``max_rows`` sample). All are part of the cache key.
    - **the client**: ``max_concurrency``, ``transport`` (``"httpx"``: the openai client's
      own; ``"lean"``: ``weaklabel.llm.transport``, less CPU per request),
      ``requests_per_minute``, ``tokens_per_minute``,
      ``timeout`` (a total deadline per request: connecting and reading),
      ``connect_timeout``, ``stall_warning`` (seconds without any answer before a
      warning), ``max_retries``, ``backoff_base``, ``backoff_max``.
    - **failures**: ``on_failure`` (rows that fail every retry vote ABSTAIN, or the run
      raises once the other answers are stored); ``retry_failed`` (ask again the rows a
      previous run recorded as permanently refused, e.g. too long for the context).
    - **budgets**: ``max_rows`` (a seeded sample per call), ``max_cost`` with ``prices``
      (``{model: (dollars per million input tokens, per million output tokens)}``),
      ``calibration_rows`` (labeled rows used for calibration; default ``max_rows``).
    - **calibration**: ``calibration_metric``, ``threshold`` (a fixed two-class threshold),
      ``bias`` (per-class bias correction of log-prob scores when there are no labeled
      rows: ``"auto"``, ``"none"``, ``"batch"``, ``"content_free"``; see
      ``weaklabel.llm.calibration``).
    - **few-shot examples**: ``few_shot`` (examples per prompt, from the labeled rows given
      to the labeler), ``few_shot_selection`` (``"random"``: one stratified set for every
      row; ``"nearest"`` or ``"mmr"``: chosen per row by MiniLM embedding similarity),
      ``few_shot_diversity`` (the MMR trade-off: 0 = nearest, 1 = most diverse).
    - **the cache**: ``cache_path`` (default ``$WEAKLABEL_CACHE_DIR`` or
      ``./.weaklabel_cache``), ``use_cache``.
    - **local backend**: ``batch_size``, ``max_new_tokens`` (``"text"`` decoding),
      ``dtype`` (``"auto"``: bfloat16 on CPUs with native bf16 arithmetic, else float32),
      ``num_threads`` (cores to compute on, one batch each; default: the idle cores).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    backend: Literal["openai", "local"] = "openai"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    decoding: Decoding | None = None
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    top_logprobs: int = Field(20, ge=1, le=20)
    seed: int | None = 0

    max_concurrency: int = Field(8, ge=1, le=4096)
    transport: Literal["httpx", "lean"] = "httpx"
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout: float = Field(60.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)
    stall_warning: float = Field(60.0, gt=0)
    max_retries: int = Field(6, ge=0, le=100)
    backoff_base: float = Field(0.5, gt=0)
    backoff_max: float = Field(30.0, gt=0)

    on_failure: Literal["abstain", "raise"] = "abstain"
    retry_failed: bool = False

    max_rows: int | None = Field(None, ge=0)
    max_cost: float | None = Field(None, ge=0.0)
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    calibration_rows: int | None = Field(None, ge=1)

    calibration_metric: Literal["f1", "accuracy"] = "f1"
    threshold: float | None = None
    bias: Literal["auto", "none", "batch", "content_free"] = "auto"

    few_shot: int = Field(0, ge=0, le=64)
    few_shot_selection: Literal["random", "nearest", "mmr"] = "random"
    few_shot_diversity: float = Field(0.3, ge=0.0, le=1.0)

    cache_path: Path | None = None
    use_cache: bool = True

    batch_size: int = Field(8, ge=1)
    max_new_tokens: int = Field(4, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    num_threads: int | None = Field(None, ge=1)

    def __init__(self, **data: Any) -> None:
        # pydantic's own message repeats every value given; ours never repeats one that may be a key
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise settings_error("", exc) from None

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if looks_like_secret(value):
            raise ValueError(
                f"must name the environment variable that holds the key (like OPENAI_API_KEY); the "
                f"value given ({len(value)} characters, not shown) looks like an API key itself: put "
                "the key in an environment variable and give its name here"
            )
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment-variable name: letters, digits and _, not starting with a digit")
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _model_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @model_validator(mode="after")
    def _consistent(self) -> LLMSettings:
        if self.backend == "openai" and not self.model:
            raise ValueError("backend='openai' needs model= (the model name at the endpoint)")
        if self.backend == "local" and self.decoding == "json":
            raise ValueError("the local backend decodes 'logprobs' or 'text', not 'json'")
        if self.max_cost is not None and self.backend == "openai" and self.model not in self.prices:
            raise ValueError(
                f"max_cost needs the price of model {self.model!r}; pass prices={{{self.model!r}: "
                "(dollars per million input tokens, per million output tokens)}"
            )
        if self.backoff_max < self.backoff_base:
            raise ValueError(f"backoff_max ({self.backoff_max}) must be at least backoff_base ({self.backoff_base})")
        return self

    @property
    def decoding_mode(self) -> Decoding:
        """The decoding to start with (``"logprobs"`` when not set)."""
        return self.decoding or "logprobs"

    @classmethod
    def build(cls, owner: str, base: LLMSettings | None = None, **changes: Any) -> LLMSettings:
        """``base`` with ``changes`` applied, validated; errors name ``owner`` and the setting."""
        values = {} if base is None else base.model_dump(exclude_unset=True)
        try:
            return cls.model_validate({**values, **changes})
        except pydantic.ValidationError as exc:
            raise settings_error(owner, exc) from None


def settings_error(owner: str, exc: pydantic.ValidationError) -> ConfigError:
    """One line per problem: which setting, what is wrong, and the value given — except for
    unknown settings and values that may be a secret (a key pasted in the wrong place),
    which are never repeated."""
    lines = []
    for err in exc.errors():
        where = ".".join(map(str, err["loc"])) or "settings"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown setting (valid: {', '.join(LLMSettings.model_fields)})"
        value = err.get("input")
        secret = where in _SECRET_FIELDS or looks_like_secret(str(value)) or err["type"] == "extra_forbidden"
        shown = "" if secret or where == "settings" else f" (got {value!r:.80})"
        who = f"LLM labeler {owner!r}" if owner else "LLM settings"
        lines.append(f"{who}: {'parameter ' + where if where != 'settings' else 'settings'}: {message}{shown}")
    return ConfigError("\n".join(lines))
