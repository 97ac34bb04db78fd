"""The configuration of one end-to-end run (``python -m weaklabel.fit --config ...``).

A typed, validated pydantic model: unknown keys, wrong types and impossible combinations
are rejected before any expensive step runs. The same object drives the CLI, notebooks
(``weaklabel.fit.run(config)``) and scripts.
"""

from __future__ import annotations

import difflib
import json
import re
import string
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from weaklabel._secrets import looks_like_secret
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
    "config_json",
    "load_config",
    "looks_like_secret",
]

MAX_CONFIG_BYTES = 1 << 20
"""Config files are small; a larger file is the wrong file (or an attack)."""
MAX_CONFIG_DEPTH = 32
"""Nesting deeper than this is not a config (and would exhaust the parsers' recursion)."""
MAX_CONFIG_VALUES = 100_000
"""Values a config may hold once YAML aliases are expanded (a 'billion laughs' has 10**9)."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|authorization|credential|cookie)", re.I)
REDACTED = "<redacted>"


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
    name: str = Field(
        "youtube_spam", description="Bundled dataset (source=bundled): youtube_spam, or mams_acsa (task multilabel)."
    )
    text_column: str = Field("text", description="Column holding the text (source=table).")
    label_column: str | None = Field(
        None, description="Column holding gold labels, if any (source=table). Used for evaluation only."
    )
    split_column: str | None = Field(
        None, description="Column with train/valid/test per row (source=table); else a seeded split."
    )
    class_names: list[str] | None = Field(
        None, description="Class names, index 0 first: the class order of LFs, prompts and every artifact (default: the dataset's; for WRENCH, label.json's names in any order)."
    )
    label_separator: str | None = Field(
        None, description="task multilabel: the separator of several class names in one label "
        "cell (e.g. '|'); list cells and JSON lists need none.",
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
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"valid_fraction + test_fraction is {self.valid_fraction + self.test_fraction:g}, "
                "which leaves no train rows; keep their sum below 1"
            )
        return self


class LFConfig(_Strict):
    """Hand-written labeling functions."""

    modules: list[str] = Field(
        default_factory=list,
        description="LF modules to load: dotted names (labeling_functions.youtube) or .py paths "
        "(relative to the config file).",
    )
    n_jobs: int = Field(1, description="Processes for row-wise LFs (-1: all cores).")

    @field_validator("n_jobs")
    @classmethod
    def _positive_or_all(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError(f"must be a positive number of processes, or -1 for all cores; got {value}")
        return value
    on_error: Literal["raise", "abstain"] = Field(
        "raise", description="What an LF that raises does: stop the run, or abstain on that row."
    )


class LLMLabelerConfig(_Strict):
    """One prompt sent to a chat model; its parsed answers become one source of votes."""

    name: str = Field(description="Unique source name (a column of the label matrix).")
    prompt: str = Field(description="Prompt template over the row's columns, e.g. '... {text} ...'.")
    labels: dict[str, int | str] = Field(
        description="Answer word -> class index or class name (or -1 to abstain)."
    )
    label: str | None = Field(
        None, description="task multilabel: the class this yes/no prompt votes on; labels then map "
        "answer words to 1 (present), 0 (absent) or -1 (abstain).",
    )
    answer: Literal["class", "label_set"] = Field(
        "class", description="task multilabel: label_set for one prompt naming every class it finds "
        "(labels then map answer words, aliases or option codes to class indices; what it does "
        "not name is absent).",
    )
    backend: Literal["local", "openai"] = Field(
        "local", description="local: in-process model (no key); openai: any OpenAI-compatible endpoint."
    )
    model: str = Field("default", description="Model name, or a local GGUF file / HF folder; "
                       "'default' = the bundled SmolLM2-135M-Instruct for the local backend.")
    base_url: str | None = Field(None, description="Endpoint (OpenAI, vLLM, Ollama, llama.cpp server).")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (never the key itself).",
    )
    decoding: Literal["logprobs", "text", "json"] | None = Field(
        None, description="How answers are read: label-word log-probabilities, free text, or JSON."
    )
    few_shot: int = Field(0, ge=0, description="Labeled examples from the valid split put in the prompt.")
    max_rows: int | None = Field(None, gt=0, description="Budget: label at most N (seeded) rows per split.")
    max_concurrency: int = Field(8, gt=0, description="Concurrent requests (openai backend).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Further LLM labeler settings (weaklabel.llm.LLMSettings: temperature, timeout, "
        "calibration_rows, bias, few_shot_selection, retry_failed, ...).",
    )

    @field_validator("prompt")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(
                f"is not a valid template ({exc}); fields are written {{column}}, a literal brace {{{{ or }}}}"
            ) from None
        return value

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        # Never echo the value: it may be the key itself, pasted in the wrong place.
        if looks_like_secret(value):
            raise ValueError(
                "this looks like an API key, not the name of an environment variable (the value "
                "is not shown). Put the key in an environment variable (export OPENAI_API_KEY=...) "
                "and give its name here; remove the key from the config file"
            )
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the name of an environment variable (letters, digits and _, e.g. "
                "OPENAI_API_KEY); the value is not shown in case it is a key"
            )
        return value


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
    use_dev: bool = Field(
        True,
        description="Train on the valid split's gold rows too, beside the weak labels, with "
        "labeled_share of the training weight (the valid scores then include training rows). "
        "Task multilabel keeps the valid rows out of training: they tune the student's per-label "
        "thresholds and early stopping.",
    )
    labeled_share: Annotated[float, Field(ge=0, le=1)] | Literal["auto"] = Field(
        "auto",
        description="Share of the student's training weight the gold rows carry (0: weak labels "
        "only, 1: gold rows only), or auto: chosen by cross-validation on the gold rows, with the "
        "label model's labels fitted with and without them (weaklabel.students.labeled).",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Arguments of the student's __init__.")


class FitConfig(_Strict):
    """One run: data -> votes -> label model -> probabilistic labels -> student -> report."""

    name: str = Field("run", description="Run name, shown in the report.")
    task: Literal["multiclass", "multilabel"] = Field(
        "multiclass", description="multiclass: one class per row; multilabel: a set of classes per "
        "row, LFs voting per label (see docs/how-to/multilabel.md).",
    )
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
    review_labels: bool = Field(
        True, description="Use the labels given in the review app (review_labels.sqlite in output_dir): "
        "valid rows take them as gold, labeled train rows join the label model's dev rows and "
        "train the student with their label.",
    )
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
    def _task_fits(self) -> FitConfig:
        if self.task == "multilabel":
            if self.data.source == "wrench":
                raise ValueError("task multilabel reads a table (data.source: table) or bundled mams_acsa, not WRENCH votes")
            unmarked = [spec.name for spec in self.llm_labelers if spec.label is None and spec.answer == "class"]
            if unmarked:
                raise ValueError(
                    f"task multilabel: llm_labelers {unmarked} need the label they vote on (label: ...), "
                    "or answer: label_set"
                )
            both = [spec.name for spec in self.llm_labelers if spec.label is not None and spec.answer == "label_set"]
            if both:
                raise ValueError(f"llm_labelers {both}: a label_set prompt names several labels; drop label")
        else:
            marked = [spec.name for spec in self.llm_labelers if spec.label is not None or spec.answer != "class"]
            if marked:
                raise ValueError(f"llm_labelers {marked} set label or answer, which only task multilabel uses")
            if self.data.label_separator is not None:
                raise ValueError("data.label_separator is for task multilabel")
        return self

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
    """One line per problem: the dotted key and what is wrong (an unknown key with the known
    key it most resembles)."""
    lines = [f"invalid configuration ({origin}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            known = _keys_beside(error["loc"])
            close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
            message = f"unknown key (did you mean {close[0]!r}?)" if close else f"unknown key; known: {known}"
        else:
            message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}")
    return ConfigError("\n".join(lines))


def _keys_beside(loc: tuple[Any, ...]) -> list[str]:
    """The keys of the section holding the key at ``loc`` (list positions skipped)."""
    model: type[BaseModel] | None = FitConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(str(part))
        model = None if info is None else _section(info.annotation)
    return list(model.model_fields) if model is not None else []


def _section(annotation: Any) -> type[BaseModel] | None:
    """The config section a field holds: ``DataConfig``, or the item of ``list[...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _section(arg)) is not None), None)


class _LimitedLoader(yaml.SafeLoader):
    """YAML's safe loader with limits on nesting and aliases, checked while composing (before
    anything is built): a deep or self-multiplying document is refused, not expanded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
        self.depth += 1
        try:
            if self.depth > MAX_CONFIG_DEPTH:
                raise ConfigError(f"nests deeper than {MAX_CONFIG_DEPTH} levels; a config is flatter")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Values in a YAML node once its aliases are expanded (shared nodes counted per use)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that contains itself counts once, not forever
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = min(size, MAX_CONFIG_VALUES + 1)
    return memo[id(node)]


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within ``MAX_CONFIG_DEPTH`` and ``MAX_CONFIG_VALUES``."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"holds more than {MAX_CONFIG_VALUES} values once its {loader.aliases} YAML aliases "
                "are expanded; a config is smaller (remove the repeated aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars/lists: 3, 0.5, true, null, [a, b], "text"."""
    try:
        return _load_yaml(text)
    except (yaml.YAMLError, ConfigError):
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (``--set``) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            secret = any(looks_like_secret(word) for word in item.split())
            shown = "a value that looks like a key (not shown)" if secret else repr(item)
            raise ConfigError(f"--set expects key=value, got {shown}")
        node: Any = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = _item(node, part, key) if isinstance(node, list) else node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
        if isinstance(node, list):
            _item(node, parts[-1], key)
            node[int(parts[-1])] = _parse_value(value)
        else:
            node[parts[-1]] = _parse_value(value)
    return raw


def _item(items: list[Any], part: str, key: str) -> Any:
    """The list item ``part`` names, for ``--set``: a position that exists."""
    if not re.fullmatch(r"-?\d+", part) or not -len(items) <= int(part) < len(items):
        raise ConfigError(
            f"--set {key}: {part!r} is not a position in that list of {len(items)} "
            f"(use 0..{len(items) - 1})" if items else f"--set {key}: that list is empty"
        )
    return items[int(part)]


def _resolve_paths(config: FitConfig, base: Path) -> FitConfig:
    """Data and LF-module file paths are relative to the config file; output_dir to the cwd."""
    if config.data.path is not None and not config.data.path.is_absolute():
        config.data.path = base / config.data.path
    config.lfs.modules = [
        str(base / module) if module.endswith(".py") and not Path(module).is_absolute() else module
        for module in config.lfs.modules
    ]
    return config


def _read_config_file(path: Path) -> Any:
    """The parsed content of a YAML, TOML or JSON config file, within the size limits."""
    if not path.is_file():
        raise ConfigError(f"no config file at {path}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is {size / 2**20:.1f} MiB; a config is at most {MAX_CONFIG_BYTES >> 20} MiB "
            "(is it the right file?)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot parse: not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix == ".json":
            return json.loads(text)
        return _load_yaml(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: nests too deeply to be a config") from None


def _redact(value: Any, name: str = "") -> Any:
    """``value`` with secrets replaced: values of keys named like secrets (``api_key``,
    ``token``, ``Authorization``...; not ``*_env``, which name variables), strings that look
    like keys, and passwords in URLs."""
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, name) for v in value]
    if not isinstance(value, str):
        return value
    if (_SECRET_NAME.search(name) and not name.endswith("_env")) or looks_like_secret(value):
        return REDACTED
    parts = urlsplit(value) if "://" in value else None
    if parts is not None and parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return value


def config_json(config: FitConfig) -> str:
    """The validated config as the JSON written to ``config.json``, without secrets."""
    return json.dumps(_redact(config.model_dump(mode="json")), indent=2)


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
        raw = _read_config_file(path)
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
