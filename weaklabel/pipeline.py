"""The end-to-end pipeline: the one place that knows every part.

load -> apply LFs and LLM labelers -> label matrix -> label model -> probabilistic labels
-> student -> evaluation on every gold split -> artifacts. Each step logs one line;
long steps show a progress bar.

Everything is checked before the first LF runs or the first request is sent
(``prepare_run``): the data is read, the LF modules import, the columns they and the
prompts read exist, the LLM labelers' settings and label maps fit the classes, the label
model and the student accept their options (the label model is fitted on a small synthetic
vote matrix, so its own checks run), and the output directory may take the artifacts. LF
votes are cached by content, so a rerun with the same config, LF code and data does not
recompute them.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import inspect
import json
import logging
import sys
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._fingerprint import frame_fingerprint, lfs_fingerprint
from weaklabel.apply import apply_lfs
from weaklabel.artifacts import check_output_dir, write_artifacts
from weaklabel.config import ConfigError, DataConfig, FitConfig, LLMLabelerConfig
from weaklabel.data import load_table, load_wrench, load_youtube_spam
from weaklabel.lf import ABSTAIN, BaseLabelingFunction, load_lfs, repeated_names
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions
from weaklabel.review.labels import dev_rows, read_review_labels, train_targets
from weaklabel.run_result import RunResult, Split
from weaklabel.run_summary import class_labels, class_report

__all__ = [
    "RunPlan",
    "RunResult",
    "Split",
    "build_label_model",
    "build_student",
    "fit_models",
    "load_splits",
    "prepare_run",
    "run_pipeline",
]

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
            frame, L, y = load_wrench(data.path, name, class_names=data.class_names)  # type: ignore[arg-type]
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
                    row = int(np.flatnonzero(~np.isin(split_of, SPLITS))[0])
                    raise ConfigError(
                        f"data.split_column {data.split_column!r} in {data.path} holds {unknown[:5]} "
                        f"(first at row {row}); each row's split must be one of {list(SPLITS)}"
                    )
            else:
                split_of = _seeded_split(len(frame), data, seed)
        for name in SPLITS:
            mask = split_of == name
            splits[name] = Split(name, frame[mask], None if y_all is None else y_all[mask])
    if data.max_rows is not None:
        for split in splits.values():
            split.data = split.data.iloc[: data.max_rows]
            split.y = None if split.y is None else split.y[: data.max_rows]
            split.votes = [L.take(np.arange(min(len(L), data.max_rows))) for L in split.votes]
    if "text" not in splits["train"].data.columns:
        raise ConfigError(f"the data has no 'text' column (columns: {list(splits['train'].data.columns)})")
    if len(splits["train"].data) == 0:
        raise ConfigError(
            "the train split is empty: give some rows the split 'train' (data.split_column), "
            "or keep data.valid_fraction + data.test_fraction below 1"
        )
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


def _check_columns(lfs: list[BaseLabelingFunction], frame: pd.DataFrame) -> None:
    columns = set(frame.columns)
    for lf in lfs:
        column = getattr(lf, "column", None)
        if column is not None and column not in columns:
            raise ConfigError(f"LF {lf.name!r} reads column {column!r}, which the data lacks ({sorted(columns)})")


def _lf_module_objects(modules: list[str]) -> list[types.ModuleType]:
    """The loaded module of each ``lfs.modules`` entry (a dotted name or a ``.py`` path)."""
    found = []
    for spec in modules:
        if spec.endswith(".py"):
            path = Path(spec).resolve()
            found += [
                module for module in list(sys.modules.values())
                if (file := getattr(module, "__file__", None)) and Path(file).resolve() == path
            ][:1]
        elif spec in sys.modules:
            found.append(sys.modules[spec])
    return found


def _apply_cached(
    lfs: list[BaseLabelingFunction],
    split: Split,
    config: FitConfig,
    cardinality: int,
    cache_dir: Path,
    code: str,
    class_names: list[str] | None = None,
) -> LabelMatrix:
    """The LFs' votes on ``split``, from the cache when the LFs' code (``code``, see
    ``weaklabel._fingerprint.lfs_fingerprint``), the rows and the classes (their names
    and order: LFs may vote by name) are unchanged."""
    classes = json.dumps(class_names) if class_names else str(cardinality)
    key = hashlib.sha256(f"{code}|{frame_fingerprint(split.data)}|{classes}".encode()).hexdigest()[:32]
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
        class_names=class_names,
        n_jobs=config.lfs.n_jobs,
        on_error=config.lfs.on_error,
        progress=config.progress,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    L.save(path)  # atomic: an interrupted save leaves no file under the name
    return L


def _build_llm_labeler(
    spec: LLMLabelerConfig,
    config: FitConfig,
    cache_dir: Path,
    splits: dict[str, Split],
    cardinality: int,
    class_names: list[str] | None,
) -> Any:
    """The configured labeler, checked by ``LLMLabeler.validate`` against the run's
    classes and columns (label map, prompt fields, the key's variable or the local model),
    before any request is sent."""
    try:
        from weaklabel.llm import LLMLabeler, PromptTemplate
    except ImportError as exc:  # pragma: no cover - the llm package ships with weaklabel
        raise ConfigError(f"llm_labelers need the LLM extra: {exc}") from exc
    where = f"llm_labelers[{spec.name}]"
    options = dict(spec.options)
    if spec.decoding is not None:
        options["decoding"] = spec.decoding
    examples = None
    if spec.few_shot:
        valid = splits["valid"]
        if not valid.has_gold:
            raise ConfigError(f"{where}.few_shot needs gold labels on the valid split")
        known = valid.y >= 0  # type: ignore[operator]
        examples = (valid.data[known], valid.y[known])  # type: ignore[index]
        options["few_shot"] = spec.few_shot
    try:
        labeler = LLMLabeler(
            spec.name,
            PromptTemplate(spec.prompt, name=spec.name),
            spec.labels,
            examples=examples,
            **llm_options(spec, config, cache_dir),
            **options,
        )
        return labeler.validate(
            cardinality=cardinality, class_names=class_names, columns=list(splits["train"].data.columns)
        )
    except ConfigError:
        raise  # the labeler's own checks name it
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def llm_options(spec: LLMLabelerConfig, config: FitConfig, cache_dir: Path) -> dict[str, Any]:
    """The settings every LLM source of a run takes from its config entry (endpoint, model,
    budget, concurrency, cache, seed)."""
    return {
        "model": None if spec.backend == "local" and spec.model == "default" else spec.model,
        "backend": spec.backend,
        "base_url": spec.base_url,
        "api_key_env": spec.api_key_env,
        "max_concurrency": spec.max_concurrency,
        "max_rows": spec.max_rows,
        "cache_path": cache_dir / "llm.sqlite",
        "seed": config.seed,
    }


def _open_llm_caches(labelers: list[Any]) -> None:
    """Open each labeler's answer cache now: a corrupt or unusable one stops the run before
    any request, and is left as it is."""
    for labeler in labelers:
        if not labeler.use_cache or labeler.cache_path is None:
            continue
        try:
            labeler.cache  # noqa: B018 - opens (and checks) the SQLite file
        except (OSError, ValueError) as exc:
            raise ConfigError(f"llm_labelers[{labeler.name}]: {exc}") from exc


def _run_llm_labelers(
    labelers: list[Any], splits: dict[str, Split], cardinality: int, class_names: list[str] | None, progress: bool
) -> dict[str, dict[str, Any]]:
    """Calibrate (log-prob decoding, on valid gold), apply to every split, and sum the usage."""
    valid = splits["valid"]
    reports: dict[str, dict[str, Any]] = {labeler.name: {} for labeler in labelers}
    for labeler in labelers:
        if labeler.decoding_ == "logprobs" and valid.has_gold:
            known = valid.y >= 0  # type: ignore[operator]
            labeler.calibrate(valid.data[known], valid.y[known], progress=progress)  # type: ignore[index]
    for split in splits.values():
        if not len(split.data):
            continue
        split.votes.append(
            apply_lfs(labelers, split.data, cardinality=cardinality, class_names=class_names, progress=progress)
        )
        for labeler in labelers:
            _add_usage(reports[labeler.name], labeler.report_.as_dict())
    return reports


def _add_usage(total: dict[str, Any], report: dict[str, Any]) -> None:
    """Sum one split's LLM usage into the run's total: counts add up (also counts by kind,
    such as failures per kind), labels stay."""
    for key, value in report.items():
        if key == "rows_per_second":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and value is not None:
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            counts = total.setdefault(key, {})
            for kind, count in value.items():
                counts[kind] = counts.get(kind, 0) + count
        elif key not in total:
            total[key] = value
    if total.get("wall_time"):
        total["rows_per_second"] = total.get("rows_in_budget", 0) / total["wall_time"]


# ---------------------------------------------------------------- models
_LABEL_MODELS = {
    "label_model": "LabelModel",
    "majority_vote": "MajorityVote",
    "dawid_skene": "DawidSkene",
    "snorkel": "SnorkelLabelModel",
    "stacked": "StackedLabelModel",
}


def build_label_model(kind: str, options: dict[str, Any], cardinality: int, seed: int) -> Any:
    """The configured label model, unfitted."""
    from weaklabel import label_models

    cls = getattr(label_models, _LABEL_MODELS[kind])
    return _construct(cls, options, "label_model.options", cardinality=cardinality, random_state=seed)


def _construct(cls: type, options: dict[str, Any], key: str, **defaults: Any) -> Any:
    """``cls(**options)`` with the run's ``defaults`` where ``cls`` takes them; an option
    ``cls`` does not take is named, with the closest it does."""
    params = [name for name in inspect.signature(cls).parameters if name != "self"]
    for name in options:
        if name not in params:
            close = difflib.get_close_matches(name, params, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{key}.{name}: {cls.__name__} has no option {name!r}; {hint}it takes {params}")
    kwargs = {**{k: v for k, v in defaults.items() if k in params}, **options}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _trusted_sources(config: FitConfig, source_names: list[str]) -> list[str]:
    """The stacked label model's default trusted family: every source but the LLM labelers."""
    if not config.llm_labelers:
        raise ConfigError(
            "label_model.kind 'stacked' reads the LLM labelers' votes through the LFs' labels, "
            "but the run has no llm_labelers; add some, or name the sources to read with "
            "label_model.options.trusted"
        )
    llm = {spec.name for spec in config.llm_labelers}
    return [name for name in source_names if name not in llm]


def _synthetic_votes(source_names: list[str], cardinality: int, class_names: list[str] | None) -> LabelMatrix:
    """A small vote matrix of the run's shape (sources, classes) where every source is
    better than chance: the label model's checks run on it without touching the data."""
    rng = np.random.default_rng(0)
    n_rows = 60 * cardinality
    truth = np.arange(n_rows) % cardinality
    noise = rng.integers(0, cardinality, size=(n_rows, len(source_names)))
    votes = np.where(rng.random(noise.shape) < 0.75, truth[:, None], noise)
    votes[rng.random(noise.shape) < 0.3] = ABSTAIN
    return LabelMatrix(votes, source_names, cardinality=cardinality, class_names=class_names)


def _check_label_model(
    model: Any, config: FitConfig, source_names: list[str], cardinality: int,
    class_names: list[str] | None, with_dev: bool,
) -> None:
    """Fit a copy of ``model`` on a synthetic vote matrix, so that every option is checked by
    the model's own code before any vote is paid for. A failure that the model's defaults
    share comes from the synthetic votes, not the options, and is not reported."""
    from sklearn.base import clone

    synthetic = _synthetic_votes(source_names, cardinality, class_names)
    truth = np.arange(synthetic.n_rows) % cardinality
    fit_kwargs = {"y_dev": truth, "L_dev": synthetic} if with_dev else {}

    def trial(candidate: Any) -> Exception | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate.fit(synthetic, **_supported(candidate.fit, fit_kwargs))
        except (TypeError, ValueError, ImportError) as exc:
            return exc
        return None

    error = trial(clone(model))
    if error is None:
        return
    if trial(build_label_model(config.label_model.kind, {}, cardinality, config.seed)) is not None:
        logger.debug("label model check skipped: the defaults fail on synthetic votes too (%s)", error)
        return
    if isinstance(error, ImportError):
        raise ConfigError(f"label_model.kind {config.label_model.kind!r}: {error}") from error
    raise ConfigError(f"label_model.options {config.label_model.options}: {error}") from error


def build_student(kind: str, options: dict[str, Any], seed: int) -> Any:
    """The configured student, unfitted (``None`` for kind 'none')."""
    if kind == "none":
        return None
    from weaklabel import students

    cls = students.TfidfStudent if kind == "tfidf" else students.TransformerStudent
    return _construct(cls, options, "student.options", random_state=seed)


_SYNTHETIC_WORDS = "great song check out my channel subscribe love this video".split()


def _check_student(student: Any, config: FitConfig, cardinality: int) -> None:
    """Check the student's options before any vote is paid for: a student that loads a
    model (the transformer) checks its settings and finds its encoder without loading it;
    the others are fitted on a few synthetic texts, so that their own checks run."""
    from sklearn.base import clone

    if config.student.kind == "transformer":
        if importlib.util.find_spec("torch") is None:
            raise ConfigError('student.kind transformer needs torch: pip install "weaklabel[student]"')
        from weaklabel.students._encoder import resolve_encoder

        try:
            student._check_params()
            resolve_encoder(student.encoder)
        except (TypeError, ValueError, FileNotFoundError, ImportError) as exc:
            raise ConfigError(f"student.options {config.student.options}: {exc}") from exc
        return
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.permutation(_SYNTHETIC_WORDS)) for _ in range(20 * cardinality)]
    labels = np.arange(len(texts)) % cardinality

    def trial(candidate: Any) -> Exception | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate.fit(texts, labels, n_classes=cardinality)
        except (TypeError, ValueError) as exc:
            return exc
        return None

    error = trial(clone(student))
    if error is not None and trial(build_student(config.student.kind, {}, config.seed)) is None:
        raise ConfigError(f"student.options {config.student.options}: {error}") from error


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
    labels = [v for spec in config.llm_labelers for v in spec.labels.values() if isinstance(v, int)]
    gold = [int(s.y.max()) for s in splits.values() if s.y is not None and len(s.y)]
    return max([*labels, *gold, 1]) + 1, None


# ---------------------------------------------------------------- preparation
@dataclass
class RunPlan:
    """Everything ``prepare_run`` checked and built, ready to run."""

    splits: dict[str, Split]
    lfs: list[BaseLabelingFunction]
    llm_labelers: list[Any]
    cardinality: int
    class_names: list[str] | None
    label_model: Any
    student: Any
    output_dir: Path
    cache_dir: Path


def prepare_run(config: FitConfig) -> RunPlan:
    """Read the data and build every part of the run, checking all of it; nothing is
    labeled, sent, fitted on the data or written (except the LLM caches being opened)."""
    output_dir = Path(config.output_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else output_dir.parent / ".weaklabel_cache"
    splits = load_splits(config.data, config.seed)
    lfs = _load_lf_modules(config.lfs.modules)
    _check_name_clashes(lfs, config, splits)
    _check_columns(lfs, splits["train"].data)
    cardinality, class_names = _classes(config, splits)
    labelers = [
        _build_llm_labeler(spec, config, cache_dir, splits, cardinality, class_names) for spec in config.llm_labelers
    ]
    source_names = [
        *(name for L in splits["train"].votes for name in L.lf_names),
        *(lf.name for lf in lfs),
        *(labeler.name for labeler in labelers),
    ]
    model = build_label_model(config.label_model.kind, config.label_model.options, cardinality, config.seed)
    if config.label_model.kind == "stacked" and model.trusted is None:
        model.trusted = _trusted_sources(config, source_names)
    with_dev = config.label_model.use_dev and splits["valid"].has_gold
    _check_label_model(model, config, source_names, cardinality, class_names, with_dev)
    student = build_student(config.student.kind, config.student.options, config.seed)
    if student is not None:
        _check_student(student, config, cardinality)
    if cache_dir.exists() and not cache_dir.is_dir():
        raise ConfigError(f"cache_dir {cache_dir} is a file, not a folder; choose another cache_dir")
    check_output_dir(output_dir)  # before hours of labeling, not after
    _open_llm_caches(labelers)
    return RunPlan(splits, lfs, labelers, cardinality, class_names, model, student, output_dir, cache_dir)


# ---------------------------------------------------------------- evaluation
def _per_class(y: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict[str, Any]:
    """The confusion matrix (``{gold: {predicted: rows}}``) and per-class precision, recall,
    F1 and support, keyed by class name."""
    confusion, per_class = class_report(y, predicted, names)
    return {
        "confusion": {gold: {str(k): int(v) for k, v in row.items()} for gold, row in confusion.iterrows()},
        "per_class": {name: {k: float(v) for k, v in row.items()} for name, row in per_class.iterrows()},
    }


def _evaluate(
    splits: dict[str, Split],
    probs: dict[str, np.ndarray],
    student_probs: dict[str, np.ndarray],
    cardinality: int,
    class_names: list[str] | None,
    seed: int,
) -> dict[str, Any]:
    """Every score of the run: per gold split, accuracy and F1 of majority vote, the label
    model and the student, their confusion matrices and per-class scores (by class name),
    and each source's scores. ``classes`` lists the class names in the run's order."""
    from weaklabel.label_models import MajorityVote

    names = class_labels(class_names, cardinality)
    train_L = splits["train"].L
    majority = MajorityVote(cardinality=cardinality, random_state=seed).fit(train_L)
    metrics: dict[str, Any] = {"classes": names}
    wanted = ("accuracy", "f1")
    for name, split in splits.items():
        if not split.has_gold or len(split.data) == 0:
            continue
        L = split.L
        covered = (L.votes != ABSTAIN).any(axis=1)
        predictions = {"majority_vote": majority.predict(L), "label_model": probs[name].argmax(axis=1)}
        if name in student_probs:
            predictions["student"] = student_probs[name].argmax(axis=1)
        rows: dict[str, Any] = {"n_rows": len(split.data), "coverage": float(covered.mean())}
        for method, predicted in predictions.items():
            rows[method] = score_predictions(split.y, predicted, wanted, cardinality=cardinality)
        reports = {method: _per_class(split.y, predicted, names) for method, predicted in predictions.items()}  # type: ignore[arg-type]
        rows["per_class"] = {method: report["per_class"] for method, report in reports.items()}
        rows["confusion"] = {method: report["confusion"] for method, report in reports.items()}
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
    """Run every step of ``config`` and write the artifacts; see ``weaklabel.fit``."""
    if config.task == "multilabel":
        from weaklabel.multilabel.pipeline import run_multilabel

        return run_multilabel(config)
    timings: dict[str, float] = {}
    with _Step(timings, "check data, sources and options"):
        plan = prepare_run(config)
        logger.info("  %s", ", ".join(f"{s.name}: {len(s.data)} rows" for s in plan.splits.values()))
    splits = plan.splits

    if plan.lfs:
        with _Step(timings, f"apply {len(plan.lfs)} LFs"):
            code = lfs_fingerprint(plan.lfs, _lf_module_objects(config.lfs.modules))
            for split in splits.values():
                if len(split.data):
                    split.votes.append(_apply_cached(
                        plan.lfs, split, config, plan.cardinality, plan.cache_dir, code, plan.class_names
                    ))
    if not any((L.votes != ABSTAIN).any() for L in splits["train"].votes) and not plan.llm_labelers:
        raise ConfigError("no source voted on any train row: check the LFs and the data")

    llm_reports: dict[str, dict[str, Any]] = {}
    if plan.llm_labelers:
        with _Step(timings, f"LLM labelers ({len(plan.llm_labelers)})"):
            llm_reports = _run_llm_labelers(
                plan.llm_labelers, splits, plan.cardinality, plan.class_names, config.progress
            )

    with _Step(timings, "label model"):
        probs = _fit_label_model(plan, config)

    student_probs: dict[str, np.ndarray] = {}
    if plan.student is not None:
        with _Step(timings, f"student ({config.student.kind})"):
            student_probs, student_rows = _fit_student(plan, config, probs["train"])

    with _Step(timings, "evaluate"):
        metrics = _evaluate(splits, probs, student_probs, plan.cardinality, plan.class_names, config.seed)
        metrics["llm_labelers"] = llm_reports
        if plan.student is not None:
            metrics["student_rows"] = student_rows

    result = RunResult(config, splits, plan.label_model, probs, plan.student, metrics, plan.output_dir, timings)
    with _Step(timings, "write artifacts"):
        write_artifacts(result, student_probs)
    return result


def _fit_label_model(plan: RunPlan, config: FitConfig) -> dict[str, np.ndarray]:
    """Fit the label model on the train votes (with the valid gold as ``y_dev`` when asked);
    the probabilistic labels of every split."""
    splits = plan.splits
    for split in splits.values():
        if plan.class_names and split.votes:
            split.votes = [
                LabelMatrix(L.votes, L.lf_names, cardinality=plan.cardinality, class_names=plan.class_names,
                            index=L.index, error_counts=L.error_counts)
                for L in split.votes
            ]
    train_L = splits["train"].L
    if not (train_L.votes != ABSTAIN).any():
        raise ConfigError("no source voted on any train row: check the LFs, LLM labelers and the data")
    L_dev, y_dev = dev_rows(splits, _review_labels(plan, config)) if config.label_model.use_dev else (None, None)
    fit_kwargs = {"y_dev": y_dev, "L_dev": L_dev} if y_dev is not None else {}
    plan.label_model.fit(train_L, **_supported(plan.label_model.fit, fit_kwargs))
    return {name: plan.label_model.predict_proba(split.L) for name, split in splits.items() if len(split.data)}


def _fit_student(
    plan: RunPlan, config: FitConfig, train_probs: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train the student on the train split's probabilistic labels (and the valid gold rows,
    see ``_student_rows``); its probabilities on every split, and what it trained on."""
    train, valid = plan.splits["train"], plan.splits["valid"]
    labeled = (train.L.votes != ABSTAIN).any(axis=1)
    train_probs, labeled = train_targets(train, train_probs, labeled, _review_labels(plan, config))
    dev_kwargs = {"dev_texts": _texts(valid.data), "dev_y": valid.y} if valid.has_gold else {}
    rows, described = _student_rows(plan, config, train_probs, labeled)
    plan.student.fit(
        rows.texts,
        rows.probs,
        rows.sample_weight,
        labeled_mask=rows.labeled_mask,
        n_classes=plan.cardinality,
        class_names=plan.class_names,
        **_supported(plan.student.fit, dev_kwargs),
    )
    student_probs = {
        name: plan.student.predict_proba(_texts(split.data))
        for name, split in plan.splits.items()
        if len(split.data)
    }
    return student_probs, described


def _student_rows(
    plan: RunPlan, config: FitConfig, probs: np.ndarray, labeled: np.ndarray
) -> tuple[Any, dict[str, Any]]:
    """The student's training rows: the weak labels and, when the valid split has gold
    labels (and ``student.use_dev``), those rows with ``labeled_share`` of the weight —
    with ``"auto"``, the share and the label model's labels (fitted with the valid labels or
    without) that cross-validation on the gold rows prefers."""
    from weaklabel.students.labeled import TrainingRows, choose_labeled_share, with_labeled_rows

    train, valid = plan.splits["train"], plan.splits["valid"]
    mask = np.ones_like(labeled) if config.student.include_unlabeled else labeled
    texts = _texts(train.data)
    if not (config.student.use_dev and valid.has_gold):
        return TrainingRows(texts, probs, np.ones(len(texts)), mask), {"gold_rows": 0}
    share = config.student.labeled_share
    gold_texts, gold_y = _texts(valid.data), np.asarray(valid.y)
    sources: dict[str, Any] = {"label model": probs}
    described: dict[str, Any] = {"gold_rows": int((gold_y >= 0).sum())}
    if share == "auto":
        sources = _label_model_sources(plan, config, probs)
        choice = choose_labeled_share(
            texts, sources, gold_texts, gold_y, labeled_mask=mask, random_state=config.seed
        )
        described |= {
            "chosen_by": f"{choice.n_folds}-fold cross-validation on the gold rows",
            "weak_labels": choice.source,
            "cross_validated_f1": {f"{src or 'gold rows alone'}, share {sh:g}": v for (src, sh), v in choice.scores.items()},
        }
        share = choice.share
        probs = sources[choice.source] if choice.source is not None else probs
        probs = probs(np.ones(len(gold_y), dtype=np.bool_)) if callable(probs) else probs
    described["share"] = share
    rows = with_labeled_rows(texts, probs, gold_texts, gold_y, labeled_mask=mask, share=share)
    return rows, described


def _label_model_sources(plan: RunPlan, config: FitConfig, probs: np.ndarray) -> dict[str, Any]:
    """The weak labels the student may train on: the label model's — refitted, per fold, on
    the dev rows without the held-out valid rows when it learned from them — and a copy
    fitted without dev rows; train rows labeled in the review app keep their label in both."""
    model, splits = plan.label_model, plan.splits
    if not (config.label_model.use_dev and "y_dev" in inspect.signature(model.fit).parameters):
        return {"label model": probs}
    train, valid = splits["train"], splits["valid"]
    review = _review_labels(plan, config)
    covered = (train.L.votes != ABSTAIN).any(axis=1)

    def fitted(dev: dict[str, Any]) -> np.ndarray:
        fresh = type(model)(**model.get_params())
        with warnings.catch_warnings():  # the full fit warned already
            warnings.simplefilter("ignore")
            fresh.fit(train.L, **_supported(fresh.fit, dev))
        return train_targets(train, fresh.predict_proba(train.L), covered, review)[0]

    def with_gold(rows: np.ndarray) -> np.ndarray:
        if rows.all():
            return probs
        masked = dataclasses.replace(valid, y=np.where(rows, np.asarray(valid.y), -1))
        L_dev, y_dev = dev_rows({**splits, "valid": masked}, review)
        return fitted({"y_dev": y_dev, "L_dev": L_dev} if y_dev is not None else {})

    return {"label model": with_gold, "label model without the valid labels": fitted({})}


def _review_labels(plan: RunPlan, config: FitConfig) -> dict[tuple[str, str], int]:
    """The labels given in the review app for this output folder (``config.review_labels``)."""
    return read_review_labels(plan.output_dir) if config.review_labels else {}


def fit_models(plan: RunPlan, config: FitConfig) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """The steps after labeling, on the votes already in ``plan.splits``: the label model,
    the student and their scores (probabilities per split, the student's, metrics). The
    review app's refit runs them again with new labels and LFs."""
    probs = _fit_label_model(plan, config)
    student_probs, student_rows = _fit_student(plan, config, probs["train"]) if plan.student is not None else ({}, {})
    metrics = _evaluate(plan.splits, probs, student_probs, plan.cardinality, plan.class_names, config.seed)
    if plan.student is not None:
        metrics["student_rows"] = student_rows
    return probs, student_probs, metrics


def _supported(func: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``func`` accepts (models differ in optional fit arguments)."""
    params = inspect.signature(func).parameters
    return {key: value for key, value in kwargs.items() if key in params}
