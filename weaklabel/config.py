"""The configuration of one end-to-end run (``python -m weaklabel.fit --config ...``).

A typed, validated pydantic model: unknown keys, wrong types and impossible combinations
are rejected before any expensive step runs. The same object drives the CLI, notebooks
(``weaklabel.fit.run(config)``) and scripts.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from weaklabel.exceptions import ConfigError
from weaklabel.lf import repeated_names

__all__ = [
    "ConfigError",
    "DataConfig",
    "FitConfig",
    "LFConfig",
    "LLMLabelerConfig",
    "LabelModelConfig",
    "StudentConfig",
    "apply_overrides",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where the rows come from and how they are split."""

    source: Literal["bundled", "wrench", "table"] = Field(
        "bundled",
        description="bundled: the YouTube corpus shipped with weaklabel; wrench: a WRENCH folder "
        "(train/valid/test.json, with its LF votes); table: a CSV/TSV/JSONL/Parquet file.",
    )
    path: Path | None = Field(
        None, description="WRENCH folder or table file (relative paths are relative to the config file)."
    )
    name: str = Field("youtube_spam", description="Bundled dataset name (source=bundled).")
    text_column: str = Field("text", description="Column holding the text (source=table).")
    label_column: str | None = Field(
        None, description="Column holding gold labels, if any (source=table). Used for evaluation only."
    )
    split_column: str | None = Field(
        None, description="Column with train/valid/test per row (source=table); else a seeded split."
    )
    class_names: list[str] | None = Field(
        None, description="Class names in index order (default: from the dataset)."
    )
    valid_fraction: float = Field(0.1, ge=0, lt=1, description="Seeded valid share when no split is given.")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Seeded test share when no split is given.")
    use_dataset_votes: bool = Field(
        True, description="Keep the votes stored in a WRENCH dataset (source=wrench) as sources."
    )
    max_rows: int | None = Field(
        None, gt=0, description="Use only the first N rows of each split (quick runs, tests)."
    )

    @model_validator(mode="after")
    def _check_path(self) -> DataConfig:
        if self.source in ("wrench", "table") and self.path is None:
            raise ValueError(f"data.path is required for data.source={self.source!r}")
        return self


class LFConfig(_Strict):
    """Hand-written labeling functions."""

    modules: list[str] = Field(
        default_factory=list,
        description="LF modules to load: dotted names (labeling_functions.youtube) or .py paths "
        "(relative to the config file).",
    )
    n_jobs: int = Field(1, description="Processes for row-wise LFs (-1: all cores).")
    on_error: Literal["raise", "abstain"] = Field(
        "raise", description="What an LF that raises does: stop the run, or abstain on that row."
    )


class LLMLabelerConfig(_Strict):
    """One prompt sent to a chat model; its parsed answers become one source of votes."""

    name: str = Field(description="Unique source name (a column of the label matrix).")
    prompt: str = Field(description="Prompt template over the row's columns, e.g. '... {text} ...'.")
    labels: dict[str, int] = Field(description="Answer word -> class index (or -1 to abstain).")
    backend: Literal["local", "openai"] = Field(
        "local", description="local: in-process model (no key); openai: any OpenAI-compatible endpoint."
    )
    model: str = Field("default", description="Model name, or a local GGUF file / HF folder; "
                       "'default' = the bundled SmolLM2-135M-Instruct for the local backend.")
    base_url: str | None = Field(None, description="Endpoint (OpenAI, vLLM, Ollama, llama.cpp server).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    decoding: Literal["logprobs", "text", "json"] | None = Field(
        None, description="How answers are read: label-word log-probabilities, free text, or JSON."
    )
    few_shot: int = Field(0, ge=0, description="Labeled examples from the valid split put in the prompt.")
    max_rows: int | None = Field(None, gt=0, description="Budget: label at most N (seeded) rows per split.")
    max_concurrency: int = Field(8, gt=0, description="Concurrent requests (openai backend).")
    options: dict[str, Any] = Field(default_factory=dict, description="Further LLMLabeler arguments.")


class LabelModelConfig(_Strict):
    """The model that merges votes into probabilistic labels."""

    kind: Literal["label_model", "majority_vote", "dawid_skene", "snorkel", "stacked"] = Field(
        "label_model",
        description="label_model (recommended), majority_vote, dawid_skene, snorkel, or stacked: "
        "the LFs (options.trusted, default every source but the LLM labelers) label rows and a "
        "logistic regression learns from them to read the LLM votes (StackedLabelModel).",
    )
    use_dev: bool = Field(True, description="Give the valid split's gold labels to fit (y_dev).")
    options: dict[str, Any] = Field(default_factory=dict, description="Arguments of the model's __init__.")


class StudentConfig(_Strict):
    """The model trained on the probabilistic labels."""

    kind: Literal["tfidf", "transformer", "none"] = Field("tfidf", description="tfidf, transformer or none.")
    include_unlabeled: bool = Field(
        False, description="Train on rows no source voted on too (their label is the class prior)."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Arguments of the student's __init__.")


class FitConfig(_Strict):
    """One run: data -> votes -> label model -> probabilistic labels -> student -> report."""

    name: str = Field("run", description="Run name, shown in the report.")
    seed: int = Field(0, description="Seed for every random choice (splits, sampling, models).")
    output_dir: Path = Field(Path("runs/run"), description="Where artifacts are written.")
    cache_dir: Path | None = Field(
        None, description="Cache of LF votes and LLM answers (default: <output_dir>/../.weaklabel_cache)."
    )
    data: DataConfig = Field(default_factory=DataConfig)
    lfs: LFConfig = Field(default_factory=LFConfig)
    llm_labelers: list[LLMLabelerConfig] = Field(default_factory=list)
    label_model: LabelModelConfig = Field(default_factory=LabelModelConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    report: bool = Field(True, description="Write report.html.")
    progress: bool = Field(True, description="Show progress bars.")

    @field_validator("llm_labelers")
    @classmethod
    def _unique_names(cls, labelers: list[LLMLabelerConfig]) -> list[LLMLabelerConfig]:
        names = [labeler.name for labeler in labelers]
        duplicated = repeated_names(names)
        if duplicated:
            raise ValueError(f"LLM labeler names must be unique; duplicated: {duplicated}")
        return labelers

    @model_validator(mode="after")
    def _has_sources(self) -> FitConfig:
        wrench_votes = self.data.source == "wrench" and self.data.use_dataset_votes
        if not (self.lfs.modules or self.llm_labelers or wrench_votes):
            raise ValueError(
                "the run has no source of votes: give lfs.modules, llm_labelers, "
                "or a WRENCH dataset with use_dataset_votes"
            )
        return self


def _format_errors(exc: ValidationError, origin: str) -> ConfigError:
    lines = [f"invalid configuration ({origin}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"  {key}: {message}")
    return ConfigError("\n".join(lines))


def _parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars/lists: 3, 0.5, true, null, [a, b], "text"."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (``--set``) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[int(part)]
                continue
            node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
        if isinstance(node, list):
            node[int(parts[-1])] = _parse_value(value)
        else:
            node[parts[-1]] = _parse_value(value)
    return raw


def _resolve_paths(config: FitConfig, base: Path) -> FitConfig:
    """Data and LF-module file paths are relative to the config file; output_dir to the cwd."""
    if config.data.path is not None and not config.data.path.is_absolute():
        config.data.path = base / config.data.path
    config.lfs.modules = [
        str(base / module) if module.endswith(".py") and not Path(module).is_absolute() else module
        for module in config.lfs.modules
    ]
    return config


def load_config(source: str | Path | dict[str, Any] | FitConfig, overrides: list[str] | None = None) -> FitConfig:
    """Read and validate a config from a YAML/TOML/JSON file, a dict, or a FitConfig."""
    if isinstance(source, FitConfig):
        if not overrides:
            return source
        source = source.model_dump(mode="json")
    base = Path.cwd()
    origin = "dict"
    if isinstance(source, str | Path):
        path = Path(source)
        origin = str(path)
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: cannot parse: not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
        try:
            if path.suffix == ".toml":
                raw = tomllib.loads(text)
            elif path.suffix == ".json":
                raw = json.loads(text)
            else:
                raw = yaml.safe_load(text)
        except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        base = path.resolve().parent
    else:
        raw = json.loads(json.dumps(source, default=str))
    raw = apply_overrides(raw, overrides or [])
    try:
        config = FitConfig.model_validate(raw)
    except ValidationError as exc:
        raise _format_errors(exc, origin) from None
    return _resolve_paths(config, base)
