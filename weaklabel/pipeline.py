"""The end-to-end pipeline: the one place that knows every part.

load -> apply LFs and LLM labelers -> label matrix -> label model -> probabilistic labels
-> student -> evaluation on every gold split -> artifacts. Each step logs one line;
long steps show a progress bar. Everything expensive is checked for feasibility first
(modules import, columns exist, there are votes), and LF votes are cached by content so
a rerun with the same config and data does not recompute them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import re
import string
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.apply import apply_lfs
from weaklabel.config import ConfigError, DataConfig, FitConfig, LLMLabelerConfig
from weaklabel.data import load_table, load_wrench, load_youtube_spam
from weaklabel.lf import ABSTAIN, BaseLabelingFunction, load_lfs, repeated_names
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions
from weaklabel.run_result import RunResult, Split

__all__ = ["RunResult", "Split", "build_label_model", "build_student", "load_splits", "run_pipeline"]

logger = logging.getLogger("weaklabel")
SPLITS = ("train", "valid", "test")


class _Step:
    """Logs one line per pipeline step with its wall time."""

    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> _Step:
        self.start = time.perf_counter()
        logger.info("%s ...", self.name)
        return self

    def __exit__(self, *exc: Any) -> None:
        elapsed = time.perf_counter() - self.start
        self.timings[self.name] = round(elapsed, 3)
        if exc[0] is None:
            logger.info("%s done in %.1f s", self.name, elapsed)


# ---------------------------------------------------------------- load
def _seeded_split(n: int, data: DataConfig, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draw = rng.random(n)
    return np.select(
        [draw < data.test_fraction, draw < data.test_fraction + data.valid_fraction],
        ["test", "valid"],
        "train",
    )


def load_splits(data: DataConfig, seed: int) -> dict[str, Split]:
    """Read the configured data into train/valid/test splits (valid/test may be empty)."""
    splits: dict[str, Split] = {}
    if data.source == "wrench":
        for name in SPLITS:
            frame, L, y = load_wrench(data.path, name)  # type: ignore[arg-type]
            votes = [L] if data.use_dataset_votes else []
            splits[name] = Split(name, frame, y, votes)
    else:
        if data.source == "bundled":
            if data.name != "youtube_spam":
                raise ConfigError(f"data.name: no bundled dataset {data.name!r}; bundled: ['youtube_spam']")
            frame = load_youtube_spam(seed=seed)
            y_all: np.ndarray | None = frame["label"].to_numpy(dtype=np.int64)
            split_of = frame["split"].to_numpy()
        else:
            frame, y_all = load_table(
                data.path,  # type: ignore[arg-type]
                text_column=data.text_column,
                label_column=data.label_column,
                class_names=data.class_names,
            )
            if data.split_column is not None:
                if data.split_column not in frame.columns:
                    raise ConfigError(f"data.split_column: no column {data.split_column!r} in {data.path}")
                split_of = frame[data.split_column].astype(str).to_numpy()
                unknown = sorted(set(split_of) - set(SPLITS))
                if unknown:
                    raise ConfigError(f"data.split_column holds {unknown}; allowed: {list(SPLITS)}")
            else:
                split_of = _seeded_split(len(frame), data, seed)
        for name in SPLITS:
            mask = split_of == name
            y = None if y_all is None else y_all[mask]
            splits[name] = Split(name, frame[mask], y)
    if data.max_rows is not None:
        for split in splits.values():
            split.data = split.data.iloc[: data.max_rows]
            split.y = None if split.y is None else split.y[: data.max_rows]
            split.votes = [L.take(np.arange(min(len(L), data.max_rows))) for L in split.votes]
    if "text" not in splits["train"].data.columns:
        raise ConfigError(f"the data has no 'text' column (columns: {list(splits['train'].data.columns)})")
    if len(splits["train"].data) == 0:
        raise ConfigError("the train split is empty")
    missing = {name: int(split.data["text"].isna().sum()) for name, split in splits.items()}
    if any(missing.values()):
        logger.warning(
            "  rows without text (%s): LFs see them as missing, the student as empty texts",
            ", ".join(f"{name}: {count}" for name, count in missing.items() if count),
        )
    return splits


def _texts(frame: pd.DataFrame) -> list[str]:
    """The student's inputs: a missing text is an empty one (never the string 'nan')."""
    return frame["text"].fillna("").astype(str).tolist()


# ---------------------------------------------------------------- sources
def _load_lf_modules(modules: list[str]) -> list[BaseLabelingFunction]:
    lfs: list[BaseLabelingFunction] = []
    for module in modules:
        try:
            lfs.extend(load_lfs(module))
        except (ImportError, FileNotFoundError, ValueError) as exc:
            raise ConfigError(f"lfs.modules: {exc}") from exc
    names = [lf.name for lf in lfs]
    duplicated = repeated_names(names)
    if duplicated:
        raise ConfigError(f"lfs.modules: LF names repeat across modules: {duplicated}")
    return lfs


def _check_name_clashes(lfs: list[BaseLabelingFunction], config: FitConfig, splits: dict[str, Split]) -> None:
    dataset = [name for L in splits["train"].votes for name in L.lf_names]
    clashes = sorted(set(dataset) & {lf.name for lf in lfs} | set(dataset) & {s.name for s in config.llm_labelers})
    clashes += sorted({lf.name for lf in lfs} & {s.name for s in config.llm_labelers})
    if clashes:
        raise ConfigError(
            f"source names {clashes} are used twice (dataset votes, LF modules, llm_labelers); "
            "rename them, or set data.use_dataset_votes: false"
        )


def _check_columns(lfs: list[BaseLabelingFunction], labelers: list[LLMLabelerConfig], frame: pd.DataFrame) -> None:
    columns = set(frame.columns)
    for lf in lfs:
        column = getattr(lf, "column", None)
        if column is not None and column not in columns:
            raise ConfigError(f"LF {lf.name!r} reads column {column!r}, which the data lacks ({sorted(columns)})")
    for labeler in labelers:
        fields = {f for _, f, _, _ in string.Formatter().parse(labeler.prompt) if f}
        missing = sorted(fields - columns)
        if missing:
            raise ConfigError(
                f"llm_labelers[{labeler.name}].prompt uses {missing}, which the data lacks ({sorted(columns)})"
            )


def _module_fingerprint(lfs: list[BaseLabelingFunction], modules: list[str]) -> str:
    """Hash of what defines the LFs: the LF modules' source files, the files defining their
    functions, and each builder LF's settings. Editing an LF invalidates its cached votes."""
    digest = hashlib.sha256()
    files = set()
    for spec in modules:
        path = Path(spec)
        if path.suffix == ".py":
            files.add(str(path.resolve()))
        else:
            found = importlib.util.find_spec(spec)
            if found is not None and found.origin:
                files.add(found.origin)
    for lf in lfs:
        settings = sorted((k, _stable_repr(v)) for k, v in vars(lf).items() if not k.startswith("__"))
        digest.update(repr(settings).encode())
        func = getattr(lf, "_f", None)
        module = inspect.getmodule(func) if func is not None else None
        source = getattr(module, "__file__", None)
        if source:
            files.add(source)
    for source in sorted(files):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def _stable_repr(value: Any) -> str:
    """A repr without memory addresses: functions by qualified name (their files are hashed)."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_stable_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_stable_repr(v)}" for k, v in sorted(value.items(), key=str)) + "}"
    text = repr(value)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _frame_fingerprint(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()


def _apply_cached(
    lfs: list[BaseLabelingFunction], split: Split, config: FitConfig, cardinality: int, cache_dir: Path
) -> LabelMatrix:
    key = hashlib.sha256(
        f"{_module_fingerprint(lfs, config.lfs.modules)}|{_frame_fingerprint(split.data)}|{cardinality}".encode()
    ).hexdigest()[:32]
    path = cache_dir / "lf_votes" / f"{key}.npz"
    if path.exists():
        try:
            cached = LabelMatrix.load(path)
            logger.info("  %s: reused cached votes of %d LFs", split.name, cached.n_sources)
            return cached
        except ValueError:
            logger.warning("  %s: cached LF votes at %s are corrupt; recomputing", split.name, path)
    L = apply_lfs(
        lfs,
        split.data,
        cardinality=cardinality,
        n_jobs=config.lfs.n_jobs,
        on_error=config.lfs.on_error,
        progress=config.progress,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    L.save(path)  # atomic: an interrupted save leaves no file under the name
    return L


def _build_llm_labeler(spec: LLMLabelerConfig, config: FitConfig, cache_dir: Path, splits: dict[str, Split]):
    try:
        from weaklabel.llm import LLMLabeler, PromptTemplate
    except ImportError as exc:  # pragma: no cover - the llm package ships with weaklabel
        raise ConfigError(f"llm_labelers need the LLM extra: {exc}") from exc
    options = dict(spec.options)
    if spec.decoding is not None:
        options["decoding"] = spec.decoding
    prompt: Any = spec.prompt
    if spec.few_shot:
        valid = splits["valid"]
        if not valid.has_gold:
            raise ConfigError(f"llm_labelers[{spec.name}].few_shot needs gold labels on the valid split")
        known = valid.y >= 0  # type: ignore[operator]
        prompt = PromptTemplate.few_shot(
            spec.prompt, valid.data[known], valid.y[known], spec.labels,  # type: ignore[index]
            k=spec.few_shot, seed=config.seed, name=spec.name,
        )
    model = None if spec.backend == "local" and spec.model == "default" else spec.model
    try:
        return LLMLabeler(
            spec.name,
            prompt,
            spec.labels,
            model=model,
            backend=spec.backend,
            base_url=spec.base_url,
            api_key_env=spec.api_key_env,
            max_concurrency=spec.max_concurrency,
            max_rows=spec.max_rows,
            cache_path=cache_dir / "llm.sqlite",
            seed=config.seed,
            **options,
        )
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"llm_labelers[{spec.name}]: {exc}") from exc


def _run_llm_labelers(
    config: FitConfig, splits: dict[str, Split], cardinality: int, cache_dir: Path
) -> dict[str, dict[str, Any]]:
    """Calibrate (log-prob decoding, on valid gold), apply to every split, and sum the usage."""
    labelers = [_build_llm_labeler(spec, config, cache_dir, splits) for spec in config.llm_labelers]
    valid = splits["valid"]
    reports: dict[str, dict[str, Any]] = {labeler.name: {} for labeler in labelers}
    for labeler in labelers:
        if labeler.decoding_ == "logprobs" and valid.has_gold:
            known = valid.y >= 0  # type: ignore[operator]
            labeler.calibrate(valid.data[known], valid.y[known], progress=config.progress)  # type: ignore[index]
    for split in splits.values():
        if not len(split.data):
            continue
        split.votes.append(apply_lfs(labelers, split.data, cardinality=cardinality, progress=config.progress))
        for labeler in labelers:
            _add_usage(reports[labeler.name], labeler.report_.as_dict())
    return reports


def _add_usage(total: dict[str, Any], report: dict[str, Any]) -> None:
    """Sum one split's LLM usage into the run's total (counts add up; labels stay)."""
    for key, value in report.items():
        if key == "rows_per_second":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and value is not None:
            total[key] = total.get(key, 0) + value
        elif key not in total:
            total[key] = value
    if total.get("wall_time"):
        total["rows_per_second"] = total.get("rows_in_budget", 0) / total["wall_time"]


# ---------------------------------------------------------------- models
def build_label_model(kind: str, options: dict[str, Any], cardinality: int, seed: int) -> Any:
    """The configured label model, unfitted."""
    from weaklabel import label_models

    classes = {
        "label_model": "LabelModel",
        "majority_vote": "MajorityVote",
        "dawid_skene": "DawidSkene",
        "snorkel": "SnorkelLabelModel",
        "stacked": "StackedLabelModel",
    }
    cls = getattr(label_models, classes[kind])
    params = inspect.signature(cls).parameters
    kwargs = dict(options)
    if "cardinality" in params:
        kwargs.setdefault("cardinality", cardinality)
    if "random_state" in params:
        kwargs.setdefault("random_state", seed)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"label_model.options: {exc}") from exc


def _trusted_sources(config: FitConfig, train: Split) -> list[str]:
    """The stacked label model's default trusted family: every source but the LLM labelers."""
    if not config.llm_labelers:
        raise ConfigError(
            "label_model.kind 'stacked' reads the LLM labelers' votes through the LFs' labels, "
            "but the run has no llm_labelers; add some, or name the sources to read with "
            "label_model.options.trusted"
        )
    llm = {spec.name for spec in config.llm_labelers}
    return [name for name in train.L.lf_names if name not in llm]


def build_student(kind: str, options: dict[str, Any], seed: int) -> Any:
    """The configured student, unfitted (``None`` for kind 'none')."""
    if kind == "none":
        return None
    from weaklabel import students

    cls = students.TfidfStudent if kind == "tfidf" else students.TransformerStudent
    kwargs = dict(options)
    if "random_state" in inspect.signature(cls).parameters:
        kwargs.setdefault("random_state", seed)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"student.options: {exc}") from exc


def _classes(config: FitConfig, splits: dict[str, Split]) -> tuple[int, list[str] | None]:
    """Number of classes and their names: from the config, the dataset, or the labels seen."""
    names = config.data.class_names
    wrench = [L for split in splits.values() for L in split.votes]
    if names is None and wrench:
        names = wrench[0].class_names
    if names is None and config.data.source == "bundled":
        names = ["HAM", "SPAM"]
    if names is None and config.data.source == "table" and config.data.label_column:
        names = splits["train"].data.attrs.get("class_names")  # the names load_table encoded
    if names is not None:
        return len(names), list(names)
    if wrench:
        return wrench[0].cardinality, None
    labels = [v for spec in config.llm_labelers for v in spec.labels.values()]
    gold = [int(s.y.max()) for s in splits.values() if s.y is not None and len(s.y)]
    return max([*labels, *gold, 1]) + 1, None


# ---------------------------------------------------------------- evaluation
def _evaluate(
    splits: dict[str, Split],
    probs: dict[str, np.ndarray],
    student_probs: dict[str, np.ndarray],
    cardinality: int,
    seed: int,
) -> dict[str, Any]:
    from weaklabel.label_models import MajorityVote

    train_L = splits["train"].L
    majority = MajorityVote(cardinality=cardinality, random_state=seed).fit(train_L)
    metrics: dict[str, Any] = {}
    wanted = ("accuracy", "f1")
    for name, split in splits.items():
        if not split.has_gold or len(split.data) == 0:
            continue
        L = split.L
        covered = (L.votes != ABSTAIN).any(axis=1)
        rows: dict[str, Any] = {
            "n_rows": len(split.data),
            "coverage": float(covered.mean()),
            "majority_vote": score_predictions(split.y, majority.predict(L), wanted, cardinality=cardinality),
            "label_model": score_predictions(split.y, probs[name].argmax(axis=1), wanted, cardinality=cardinality),
        }
        if name in student_probs:
            rows["student"] = score_predictions(
                split.y, student_probs[name].argmax(axis=1), wanted, cardinality=cardinality
            )
        rows["sources"] = {
            source: {
                **score_predictions(split.y, L.votes[:, j], ("accuracy", "f1", "coverage"), cardinality=cardinality)
            }
            for j, source in enumerate(L.lf_names)
        }
        metrics[name] = rows
    return metrics


# ---------------------------------------------------------------- run
def run_pipeline(config: FitConfig) -> RunResult:
    """Run every step of ``config`` and write the artifacts; see :mod:`weaklabel.fit`."""
    from weaklabel.artifacts import write_artifacts

    timings: dict[str, float] = {}
    output_dir = Path(config.output_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else output_dir.parent / ".weaklabel_cache"

    with _Step(timings, "load data"):
        splits = load_splits(config.data, config.seed)
        lfs = _load_lf_modules(config.lfs.modules)
        _check_name_clashes(lfs, config, splits)
        _check_columns(lfs, config.llm_labelers, splits["train"].data)
        cardinality, class_names = _classes(config, splits)
        logger.info(
            "  %s", ", ".join(f"{s.name}: {len(s.data)} rows" for s in splits.values())
        )
        _check_writable(output_dir)  # before hours of labeling, not after

    if lfs:
        with _Step(timings, f"apply {len(lfs)} LFs"):
            for split in splits.values():
                if len(split.data):
                    split.votes.append(_apply_cached(lfs, split, config, cardinality, cache_dir))
    if not any((L.votes != ABSTAIN).any() for L in splits["train"].votes) and not config.llm_labelers:
        raise ConfigError("no source voted on any train row: check the LFs and the data")

    llm_reports: dict[str, dict[str, Any]] = {}
    if config.llm_labelers:
        with _Step(timings, f"LLM labelers ({len(config.llm_labelers)})"):
            llm_reports = _run_llm_labelers(config, splits, cardinality, cache_dir)

    with _Step(timings, "label model"):
        for split in splits.values():
            if class_names and split.votes:
                split.votes = [
                    LabelMatrix(L.votes, L.lf_names, cardinality=cardinality, class_names=class_names,
                                index=L.index, error_counts=L.error_counts)
                    for L in split.votes
                ]
        train_L = splits["train"].L
        if not (train_L.votes != ABSTAIN).any():
            raise ConfigError("no source voted on any train row: check the LFs, LLM labelers and the data")
        model = build_label_model(config.label_model.kind, config.label_model.options, cardinality, config.seed)
        if config.label_model.kind == "stacked" and model.trusted is None:
            model.trusted = _trusted_sources(config, splits["train"])
        valid = splits["valid"]
        y_dev = valid.y if config.label_model.use_dev and valid.has_gold else None
        fit_kwargs = {"y_dev": y_dev, "L_dev": valid.L} if y_dev is not None else {}
        model.fit(train_L, **_supported(model.fit, fit_kwargs))
        probs = {name: model.predict_proba(split.L) for name, split in splits.items() if len(split.data)}

    student = build_student(config.student.kind, config.student.options, config.seed)
    student_probs: dict[str, np.ndarray] = {}
    if student is not None:
        with _Step(timings, f"student ({config.student.kind})"):
            train = splits["train"]
            labeled = (train_L.votes != ABSTAIN).any(axis=1)
            dev_kwargs = (
                {"dev_texts": _texts(valid.data), "dev_y": valid.y}
                if valid.has_gold
                else {}
            )
            student.fit(
                _texts(train.data),
                probs["train"],
                labeled_mask=np.ones_like(labeled) if config.student.include_unlabeled else labeled,
                n_classes=cardinality,
                **_supported(student.fit, dev_kwargs),
            )
            student_probs = {
                name: student.predict_proba(_texts(split.data))
                for name, split in splits.items()
                if len(split.data)
            }

    with _Step(timings, "evaluate"):
        metrics = _evaluate(splits, probs, student_probs, cardinality, config.seed)
        metrics["llm_labelers"] = llm_reports

    result = RunResult(config, splits, model, probs, student, metrics, output_dir, timings)
    with _Step(timings, "write artifacts"):
        write_artifacts(result, student_probs)
    return result


def _check_writable(folder: Path) -> None:
    """Fail now if the artifacts could not be written at the end of the run."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"output_dir: cannot write to {folder}: {exc.strerror or exc}") from exc


def _supported(func: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``func`` accepts (models differ in optional fit arguments)."""
    params = inspect.signature(func).parameters
    return {key: value for key, value in kwargs.items() if key in params}

