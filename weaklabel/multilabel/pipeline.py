"""``task: multilabel`` in ``python -m weaklabel.fit``: the end-to-end run for label sets.

The same steps as the single-label pipeline (``weaklabel.pipeline``), reading label
sets: load the splits (a table whose label column holds several class names per row, or
the bundled MAMS sample) -> check every part before any work -> apply the per-label LFs
and LLM yes/no prompts (votes cached by content) -> ``MultiLabelModel`` (with the
valid split's gold as dev rows) -> a multi-label student (thresholds tuned on the valid
split) -> micro/macro and per-label scores on every gold split -> artifacts, written all or
nothing: the multi-label matrices, ``lf_summary.csv`` and ``label_summary.csv`` per label,
``probs.parquet``, ``label_model/``, ``student/``, ``metrics.json``, ``config.json`` and
``report.html``.
"""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._fingerprint import lfs_fingerprint
from weaklabel._json import json_safe
from weaklabel.artifacts import check_output_dir, comparison_table, write_staged
from weaklabel.config import ConfigError, DataConfig, FitConfig, LLMLabelerConfig, config_json
from weaklabel.lf import ABSTAIN, BaseLabelingFunction
from weaklabel.multilabel.analysis import co_occurrence, label_summary, lf_summary
from weaklabel.multilabel.apply import apply_multilabel_lfs
from weaklabel.multilabel.data import MAMS_CLASSES, load_mams, load_multilabel_table
from weaklabel.multilabel.label_model import MultiLabelMajorityVote, MultiLabelModel
from weaklabel.multilabel.lf import expand, for_label
from weaklabel.multilabel.matrix import VOTE_NAMES, MultiLabelMatrix
from weaklabel.multilabel.metrics import multilabel_scores, per_label_scores
from weaklabel.pipeline import (
    _SYNTHETIC_WORDS,
    SPLITS,
    _add_usage,
    _apply_cached,
    _build_llm_labeler,
    _check_columns,
    _construct,
    _lf_module_objects,
    _load_lf_modules,
    _open_llm_caches,
    _seeded_split,
    _Step,
    _texts,
    llm_options,
)
from weaklabel.run_result import RunResult, Split

__all__ = ["load_multilabel_splits", "run_multilabel", "votes_of"]

logger = logging.getLogger("weaklabel")
_BUNDLED = {"mams_acsa": ("train", "val", "test")}


# ---------------------------------------------------------------- load
def load_multilabel_splits(data: DataConfig, seed: int) -> tuple[dict[str, Split], list[str]]:
    """The train/valid/test splits (``Split.y``: the ``(n, k)`` gold indicator, or None) and
    the class names."""
    if data.source == "bundled":
        if data.name not in _BUNDLED:
            raise ConfigError(f"data.name: no bundled multi-label dataset {data.name!r}; bundled: {sorted(_BUNDLED)}")
        classes = list(data.class_names or MAMS_CLASSES)
        if classes != list(MAMS_CLASSES):
            raise ConfigError(f"data.class_names: mams_acsa has the classes {list(MAMS_CLASSES)}")
        splits = {}
        for name, part in zip(SPLITS, _BUNDLED[data.name], strict=True):
            frame, Y = load_mams(part)
            splits[name] = Split(name, frame, Y)
    else:
        splits, classes = _table_splits(data, seed)
    if data.max_rows is not None:
        for split in splits.values():
            split.data = split.data.iloc[: data.max_rows]
            split.y = None if split.y is None else split.y[: data.max_rows]
    if len(splits["train"].data) == 0:
        raise ConfigError("the train split is empty")
    return splits, classes


def _table_splits(data: DataConfig, seed: int) -> tuple[dict[str, Split], list[str]]:
    path = data.path
    if data.label_column is None:
        if not data.class_names:
            raise ConfigError("task multilabel without data.label_column needs data.class_names (the labels)")
        from weaklabel.data import load_table

        frame, _ = load_table(path, text_column=data.text_column)  # type: ignore[arg-type]
        Y, classes = None, list(data.class_names)
    else:
        try:
            frame, Y, classes = load_multilabel_table(
                path, text_column=data.text_column, label_column=data.label_column,  # type: ignore[arg-type]
                sep=data.label_separator, classes=data.class_names,
            )
        except KeyError as exc:
            raise ConfigError(f"data: {exc.args[0]}") from exc
    if data.split_column is not None:
        if data.split_column not in frame.columns:
            raise ConfigError(f"data.split_column: no column {data.split_column!r} in {path}")
        split_of = frame[data.split_column].astype(str).to_numpy()
        unknown = sorted(set(split_of) - set(SPLITS))
        if unknown:
            raise ConfigError(f"data.split_column holds {unknown}; allowed: {list(SPLITS)}")
    else:
        split_of = _seeded_split(len(frame), data, seed)
    splits = {
        name: Split(name, frame[split_of == name], None if Y is None else Y[split_of == name]) for name in SPLITS
    }
    return splits, classes


# ---------------------------------------------------------------- plan
@dataclass
class _Plan:
    splits: dict[str, Split]
    classes: list[str]
    lfs: list[BaseLabelingFunction]
    llm_labelers: list[tuple[Any, str | None]]
    label_model: Any
    student: Any
    output_dir: Path
    cache_dir: Path


def _build_label_model(config: FitConfig) -> Any:
    kind, options = config.label_model.kind, config.label_model.options
    if kind == "label_model":
        return _construct(MultiLabelModel, options, "label_model.options", random_state=config.seed)
    if kind == "majority_vote":
        return _construct(MultiLabelMajorityVote, options, "label_model.options")
    raise ConfigError(f"label_model.kind {kind!r} is single-label; task multilabel takes label_model or majority_vote")


def _build_student(config: FitConfig, n_classes: int) -> Any:
    """The configured student, its options checked: the transformer's settings and encoder
    without loading it, the others by fitting a copy on a few synthetic texts."""
    if config.student.kind == "none":
        return None
    from sklearn.base import clone

    from weaklabel.students import multilabel

    cls = multilabel.TfidfMultiLabelStudent if config.student.kind == "tfidf" else multilabel.TransformerMultiLabelStudent
    student = _construct(cls, config.student.options, "student.options", random_state=config.seed)
    try:
        if config.student.kind == "transformer":
            from weaklabel.students._encoder import resolve_encoder

            student._check_params()
            resolve_encoder(student.encoder)
        else:
            rng = np.random.default_rng(0)
            texts = [" ".join(rng.permutation(_SYNTHETIC_WORDS)) for _ in range(10 * n_classes)]
            targets = np.arange(len(texts))[:, None] % n_classes == np.arange(n_classes)[None, :]
            clone(student).fit(texts, targets.astype(float))
    except (TypeError, ValueError, FileNotFoundError, ImportError) as exc:
        raise ConfigError(f"student.options {config.student.options}: {exc}") from exc
    return student


def _prepare(config: FitConfig) -> _Plan:
    """Read the data and build every part, checking all of it before any vote is cast."""
    output_dir = Path(config.output_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else output_dir.parent / ".weaklabel_cache"
    splits, classes = load_multilabel_splits(config.data, config.seed)
    sources = _load_lf_modules(config.lfs.modules)
    _check_columns(sources, splits["train"].data)  # set functions' columns too
    try:
        lfs = expand(sources, classes) if sources else []
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"lfs.modules: {exc}") from exc
    labelers = [_build_llm_source(spec, config, cache_dir, splits, classes) for spec in config.llm_labelers]
    names = [lf.name for lf in lfs] + [labeler.name for labeler, _ in labelers]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ConfigError(f"source names {clashes} are used twice (LF modules, llm_labelers)")
    model = _build_label_model(config)
    student = _build_student(config, len(classes))
    if cache_dir.exists() and not cache_dir.is_dir():
        raise ConfigError(f"cache_dir {cache_dir} is a file, not a folder; choose another cache_dir")
    check_output_dir(output_dir)
    _open_llm_caches([labeler for labeler, _ in labelers])
    return _Plan(splits, classes, lfs, labelers, model, student, output_dir, cache_dir)


def _build_llm_source(
    spec: LLMLabelerConfig, config: FitConfig, cache_dir: Path, splits: dict[str, Split], classes: list[str]
) -> tuple[Any, str | None]:
    """A yes/no prompt with its label, or a set prompt (label None); nothing is sent."""
    where = f"llm_labelers[{spec.name}]"
    if spec.few_shot:
        raise ConfigError(f"{where}.few_shot: not available for task multilabel yet")
    if spec.answer == "class":
        if spec.label not in classes:
            raise ConfigError(f"{where}.label {spec.label!r} is not a class {classes}")
        return _build_llm_labeler(spec, config, cache_dir, splits, 2, list(VOTE_NAMES)), spec.label
    columns = set(splits["train"].data.columns)
    missing = sorted({f for _, f, _, _ in string.Formatter().parse(spec.prompt) if f} - columns)
    if missing:
        raise ConfigError(f"{where}.prompt uses {missing}, which the data lacks ({sorted(columns)})")
    labels = {word: classes.index(v) if isinstance(v, str) and v in classes else v for word, v in spec.labels.items()}
    outside = {word: index for word, index in labels.items() if not (isinstance(index, int) and 0 <= index < len(classes))}
    if outside:
        raise ConfigError(f"{where}.labels maps {outside} outside the {len(classes)} classes 0..{len(classes) - 1}")
    from weaklabel.llm import LLMLabelSetLabeler

    options = dict(spec.options)
    if spec.decoding is not None:
        options["decoding"] = spec.decoding
    aliases = {word: classes[int(index)] for word, index in labels.items() if word != classes[int(index)]}
    try:
        labeler = LLMLabelSetLabeler(
            spec.name, spec.prompt, classes, aliases=aliases, **llm_options(spec, config, cache_dir), **options
        )
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return labeler, None


# ---------------------------------------------------------------- steps
def votes_of(split: Split) -> MultiLabelMatrix:
    """All multi-label votes gathered for ``split``, side by side."""
    return MultiLabelMatrix.hstack(split.votes)


def _apply_lfs(plan: _Plan, config: FitConfig) -> None:
    targets = [lf.target_label for lf in plan.lfs]  # type: ignore[attr-defined]
    code = lfs_fingerprint(plan.lfs, _lf_module_objects(config.lfs.modules))
    for split in plan.splits.values():
        if len(split.data):
            L = _apply_cached(plan.lfs, split, config, 2, plan.cache_dir, code)
            split.votes.append(MultiLabelMatrix(L, targets=targets, classes=plan.classes))


def _run_llm_labelers(plan: _Plan, config: FitConfig) -> dict[str, dict[str, Any]]:
    """Calibrate each yes/no prompt on its label's valid gold (log-prob decoding), then apply."""
    valid = plan.splits["valid"]
    reports: dict[str, dict[str, Any]] = {labeler.name: {} for labeler, _ in plan.llm_labelers}
    for labeler, label in plan.llm_labelers:
        if label is not None and labeler.decoding_ == "logprobs" and valid.has_gold:
            known = (valid.gold >= 0).all(axis=1)
            column = plan.classes.index(label)
            labeler.calibrate(valid.data[known], valid.gold[known, column], progress=config.progress)
    sources = [labeler if label is None else for_label(labeler, label) for labeler, label in plan.llm_labelers]
    for split in plan.splits.values():
        if not len(split.data):
            continue
        split.votes.append(apply_multilabel_lfs(sources, split.data, plan.classes, progress=config.progress))
        for labeler, _ in plan.llm_labelers:
            _add_usage(reports[labeler.name], labeler.report_.as_dict())
    return reports


def _dev(split: Split) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions and gold of the valid rows whose labels are known."""
    if split.y is None or not len(split.data):
        return None
    known = (split.y >= 0).all(axis=1)
    return (np.flatnonzero(known), split.y[known]) if known.any() else None


def _fit_label_model(plan: _Plan, config: FitConfig) -> dict[str, np.ndarray]:
    train_M = votes_of(plan.splits["train"])
    if not (train_M.votes != ABSTAIN).any():
        raise ConfigError("no source voted on any train row: check the LFs, LLM labelers and the data")
    dev = _dev(plan.splits["valid"]) if config.label_model.use_dev else None
    if dev is not None and isinstance(plan.label_model, MultiLabelModel):
        plan.label_model.fit(train_M, dev[1], votes_of(plan.splits["valid"]).take(dev[0]))
    else:
        plan.label_model.fit(train_M)
    return {
        name: plan.label_model.predict_proba(votes_of(split))
        for name, split in plan.splits.items()
        if len(split.data)
    }


def _fit_student(plan: _Plan, config: FitConfig, train_probs: np.ndarray) -> dict[str, np.ndarray]:
    train = plan.splits["train"]
    voted = (votes_of(train).votes != ABSTAIN).any(axis=1)
    dev = _dev(plan.splits["valid"])
    dev_kwargs = {}
    if dev is not None:
        dev_texts = _texts(plan.splits["valid"].data)
        dev_kwargs = {"dev_texts": [dev_texts[i] for i in dev[0]], "dev_Y": dev[1]}
    plan.student.fit(
        _texts(train.data),
        train_probs,
        labeled_mask=np.ones_like(voted) if config.student.include_unlabeled else voted,
        class_names=plan.classes,
        **dev_kwargs,
    )
    return {name: plan.student.predict_proba(_texts(s.data)) for name, s in plan.splits.items() if len(s.data)}


def _evaluate(plan: _Plan, probs: dict[str, np.ndarray], student_probs: dict[str, np.ndarray]) -> dict[str, Any]:
    majority = MultiLabelMajorityVote().fit(votes_of(plan.splits["train"]))
    metrics: dict[str, Any] = {}
    for name, split in plan.splits.items():
        if not split.has_gold or not len(split.data):
            continue
        M = votes_of(split)
        predictions = {
            "majority_vote": majority.predict(M),
            "label_model": (probs[name] > 0.5).astype(np.int8),
        }
        if name in student_probs:
            predictions["student"] = (student_probs[name] > plan.student.thresholds_[None, :]).astype(np.int8)
        rows: dict[str, Any] = {"n_rows": len(split.data), "coverage": float((M.votes != ABSTAIN).any(axis=1).mean())}
        for method, pred in predictions.items():
            rows[method] = multilabel_scores(split.y, pred)
        rows["per_label"] = {
            method: per_label_scores(split.y, pred, plan.classes).to_dict(orient="index")
            for method, pred in predictions.items()
        }
        metrics[name] = rows
    return metrics


# ---------------------------------------------------------------- run
def run_multilabel(config: FitConfig) -> RunResult:
    """Run every step of a ``task: multilabel`` config and write the artifacts."""
    timings: dict[str, float] = {}
    with _Step(timings, "check data, sources and options"):
        plan = _prepare(config)
        logger.info("  %s; %d classes", ", ".join(f"{s.name}: {len(s.data)} rows" for s in plan.splits.values()), len(plan.classes))
    if plan.lfs:
        with _Step(timings, f"apply {len(plan.lfs)} per-label LFs"):
            _apply_lfs(plan, config)
    llm_reports: dict[str, dict[str, Any]] = {}
    if plan.llm_labelers:
        with _Step(timings, f"LLM labelers ({len(plan.llm_labelers)})"):
            llm_reports = _run_llm_labelers(plan, config)
    with _Step(timings, "label model"):
        probs = _fit_label_model(plan, config)
    student_probs: dict[str, np.ndarray] = {}
    if plan.student is not None:
        with _Step(timings, f"student ({config.student.kind})"):
            student_probs = _fit_student(plan, config, probs["train"])
    with _Step(timings, "evaluate"):
        metrics = _evaluate(plan, probs, student_probs)
        metrics["llm_labelers"] = llm_reports
    result = RunResult(config, plan.splits, plan.label_model, probs, plan.student, metrics, plan.output_dir, timings)
    with _Step(timings, "write artifacts"):
        write_staged(plan.output_dir, _writers(result, plan.classes, student_probs), config.name)
    return result


# ---------------------------------------------------------------- artifacts
def probs_frame(result: RunResult, classes: list[str]) -> pd.DataFrame:
    """Every split's per-label probabilities (``prob_<label>``) and the label set predicted
    at 0.5 (``labels``, a list of names), with row id and split."""
    frames = []
    for split_name, probs in result.probs.items():
        frame = pd.DataFrame(probs, columns=[f"prob_{c}" for c in classes])
        frame.insert(0, "split", split_name)
        frame.insert(0, "row_id", result.splits[split_name].data.index.astype(str))
        frame["labels"] = [[classes[c] for c in np.flatnonzero(row > 0.5)] for row in probs]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _writers(result: RunResult, classes: list[str], student_probs: dict[str, np.ndarray]) -> list[tuple[str, Any]]:
    writers: list[tuple[str, Any]] = []
    for name, split in result.splits.items():
        if len(split.data):
            filename = "label_matrix.npz" if name == "train" else f"label_matrix_{name}.npz"
            writers.append((filename, votes_of(split).save))
    train = result.splits["train"]
    gold = train.y if train.has_gold else None
    M = votes_of(train)
    summary = lf_summary(M, gold)
    labels = label_summary(M, gold, result.probs["train"])
    writers += [("lf_summary.csv", summary.to_csv), ("label_summary.csv", labels.to_csv)]
    writers.append(("probs.parquet", lambda path: probs_frame(result, classes).to_parquet(path, index=False)))
    if hasattr(result.label_model, "save"):
        writers.append(("label_model", result.label_model.save))
    if result.student is not None:
        writers.append(("student", result.student.save))
    metrics = json.dumps(json_safe(result.metrics), indent=2)
    writers.append(("metrics.json", lambda path: path.write_text(metrics)))
    writers.append(("config.json", lambda path: path.write_text(config_json(result.config))))
    if result.config.report:
        from weaklabel.multilabel.report import render_report

        html = render_report(result, classes, summary, labels, student_probs)
        writers.append(("report.html", lambda path: path.write_text(html, encoding="utf-8")))
    return writers


def print_summary(result: RunResult) -> None:
    """What ``python -m weaklabel.fit`` prints at the end of a multi-label run."""
    train = result.splits["train"]
    gold = train.y if train.has_gold else None
    M = votes_of(train)
    print("\nLF summary per label (train split):")
    print(lf_summary(M, gold).round(3).to_string())
    print("\nLabels (train split, label model at 0.5):")
    print(label_summary(M, gold, result.probs["train"]).round(3).to_string())
    table = comparison_table(result.metrics)
    if len(table):
        print("\nScores:")
        print(table[["split", "method", "micro_f1", "macro_f1", "subset_accuracy"]].round(4).to_string(index=False))
    if gold is not None:
        classes = M.classes
        print("\nLabel co-occurrence (train gold, P(column | row)):")
        print(co_occurrence(gold, classes).round(2).to_string())
    print(f"\nArtifacts in {result.output_dir}/ (open report.html)")
