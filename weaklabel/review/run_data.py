"""A finished run folder, read once into columns the review app filters and pages.

What the run wrote (``probs.parquet``, the label matrices, ``metrics.json``,
``config.json``, ``label_model.json``, the student) is read as columns: one NumPy array per
quantity over every row of every split, in the order of ``probs.parquet``. A page of rows is
then a gather of a few positions, whatever the run's size. The texts come from the run's data
source (``config.json``'s ``data``), checked row by row against the row ids the run wrote:
data that changed since the run is refused, never shown beside another row's votes.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.artifacts import RUN_MANIFEST
from weaklabel.error_slices import strict_majority
from weaklabel.exceptions import ReviewError
from weaklabel.label_models._posterior import vote_counts
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.review.text_search import TextIndex
from weaklabel.run_result import Split

__all__ = ["RunData"]

logger = logging.getLogger("weaklabel")
_MATRIX_FILES = {"train": "label_matrix.npz", "valid": "label_matrix_valid.npz", "test": "label_matrix_test.npz"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(f"{path.parent} has no {path.name}: is it the output_dir of a finished weaklabel.fit run?") from None
    except (ValueError, OSError) as exc:
        raise ReviewError(f"{path} cannot be read ({exc}); rerun the fit to write it again") from exc


def _majority(votes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the strict majority class of the votes (-1 on ties and no votes), and the
    number of distinct classes voted."""
    counts = vote_counts(votes, k)
    return strict_majority(counts), (counts > 0).sum(axis=1)


@dataclass
class RunData:
    """Every row of a run as columns (see the module docstring); build with ``open``."""

    path: Path
    config: Any
    metrics: dict[str, Any]
    label_model: dict[str, Any]
    class_names: list[str]
    source_names: list[str]
    splits: dict[str, Split]
    split_names: list[str]
    split_of: np.ndarray
    row_ids: np.ndarray
    texts: Any
    gold: np.ndarray
    probs: np.ndarray
    votes: np.ndarray
    offsets: dict[str, int]
    student_error: str | None = None
    _train_summary: Any = field(default=None, repr=False)
    _overview: Any = field(default=None, repr=False)
    _text_index: Any = field(default=None, repr=False)
    _text_index_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _student: Any = field(default=None, repr=False)
    _student_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------ derived columns
    def __post_init__(self) -> None:
        self.predicted = self.probs.argmax(axis=1)
        self.confidence = self.probs.max(axis=1)
        self.majority, self.n_classes_voted = _majority(self.votes, self.cardinality)
        self.n_votes = (self.votes != ABSTAIN).sum(axis=1)
        self.review = np.full(len(self.row_ids), ABSTAIN, dtype=np.int64)
        self.review_version = 0
        self._position = {(s, r): i for i, (s, r) in enumerate(zip(self.split_of_names(), self.row_ids, strict=True))}
        self.by_confidence = np.argsort(self.confidence, kind="stable")

    @property
    def cardinality(self) -> int:
        return len(self.class_names)

    @property
    def n_rows(self) -> int:
        return len(self.row_ids)

    @property
    def llm_names(self) -> list[str]:
        return [spec.name for spec in self.config.llm_labelers if spec.name in self.source_names]

    def split_of_names(self) -> np.ndarray:
        return np.asarray(self.split_names, dtype=object)[self.split_of]

    def position(self, split: str, row_id: str) -> int:
        """The position of a row in every column; a ``ReviewError`` for an unknown row."""
        try:
            return self._position[(split, str(row_id))]
        except KeyError:
            raise ReviewError(f"no row {row_id!r} in the {split!r} split of this run") from None

    def set_review(self, i: int, label: int) -> None:
        """Record a label given in the app (``-1`` removes it) in the columns."""
        self.review[i] = label
        self.review_version += 1

    def split_slice(self, name: str) -> slice:
        start = self.offsets[name]
        return slice(start, start + len(self.splits[name].data))

    def text_index(self) -> TextIndex:
        """The search index over the texts (built once; the app's warm-up builds it in the
        background, and a search arriving earlier waits for it)."""
        with self._text_index_lock:
            if self._text_index is None:
                self._text_index = TextIndex(self.texts)
            return self._text_index

    def text(self, i: int) -> str:
        value = self.texts[i].as_py()
        return "" if value is None else str(value)

    # ------------------------------------------------------------ student
    def student_probs(self, positions: np.ndarray) -> np.ndarray | None:
        """The run's student's probabilities on the rows at ``positions``; None without a
        student, or when it cannot be loaded (``student_error`` says why)."""
        if self.config.student.kind == "none" or not (self.path / "student").is_dir() or self.student_error:
            return None
        with self._student_lock:
            if self._student is None:
                from weaklabel import students

                cls = students.TfidfStudent if self.config.student.kind == "tfidf" else students.TransformerStudent
                try:
                    self._student = cls.load(self.path / "student")
                except (OSError, ValueError, ImportError) as exc:
                    self.student_error = f"the run's student cannot be loaded ({exc}); rerun the fit"
                    logger.warning("review: %s", self.student_error)
                    return None
        texts = [self.text(int(i)) for i in positions]
        return np.asarray(self._student.predict_proba(texts)) if texts else np.zeros((0, self.cardinality))

    # ------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: str | Path) -> RunData:
        """Read the run folder at ``path``; a ``ReviewError`` says what is missing or changed."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from weaklabel.config import FitConfig

        path = Path(path)
        if not path.is_dir():
            raise ReviewError(f"no run folder at {path}: give the output_dir of a finished weaklabel.fit run")
        _read_json(path / RUN_MANIFEST)
        raw_config = _read_json(path / "config.json")
        if raw_config.get("task") == "multilabel":
            raise ReviewError(
                f"{path} is a multi-label run; the review app reads single-label runs for now "
                "(open its report.html for the per-label views)"
            )
        try:
            config = FitConfig.model_validate(raw_config)
        except ValueError as exc:
            raise ReviewError(f"{path / 'config.json'} is not a config this weaklabel reads: {exc}") from exc
        metrics = _read_json(path / "metrics.json")
        label_model = _read_json(path / "label_model.json") if (path / "label_model.json").is_file() else {}
        try:
            table = pq.read_table(path / "probs.parquet")
        except (OSError, pa.ArrowInvalid) as exc:
            raise ReviewError(f"{path / 'probs.parquet'} cannot be read ({exc}); rerun the fit") from exc
        prob_columns = [c for c in table.column_names if c.startswith("prob_")]
        split_column = np.asarray(table.column("split").to_numpy(zero_copy_only=False), dtype=object)
        row_ids = np.asarray(table.column("row_id").to_numpy(zero_copy_only=False), dtype=object)
        probs = np.column_stack([table.column(c).to_numpy() for c in prob_columns]).astype(np.float32)
        names = [c.removeprefix("prob_") for c in prob_columns]
        split_names = list(dict.fromkeys(split_column.tolist()))
        splits, matrices = cls._load_splits(path, config, split_names, split_column, row_ids)
        sources = matrices[split_names[0]].lf_names
        votes = np.vstack([matrices[s].votes for s in split_names]).astype(np.int8)
        texts = pa.chunked_array(
            [pa.array(splits[s].data["text"].astype(object).where(splits[s].data["text"].notna(), None).tolist(),
                      type=pa.large_string()) for s in split_names]
        ).combine_chunks()
        gold = np.concatenate([
            splits[s].y if splits[s].y is not None else np.full(len(splits[s].data), ABSTAIN) for s in split_names
        ]).astype(np.int64)
        offsets = dict(zip(split_names, np.cumsum([0] + [len(splits[s].data) for s in split_names])[:-1].tolist(),
                           strict=True))
        split_of = np.asarray(pd.Categorical(split_column, categories=split_names).codes, dtype=np.int8)
        return cls(
            path=path, config=config, metrics=metrics, label_model=label_model,
            class_names=names, source_names=list(sources), splits=splits, split_names=split_names,
            split_of=split_of, row_ids=row_ids, texts=texts, gold=gold, probs=probs, votes=votes, offsets=offsets,
        )

    @staticmethod
    def _load_splits(
        path: Path, config: Any, split_names: list[str], split_column: np.ndarray, row_ids: np.ndarray
    ) -> tuple[dict[str, Split], dict[str, LabelMatrix]]:
        """Every split of the run's data source (empty ones too, as the pipeline has them),
        checked against ``probs.parquet``, with the votes the run wrote."""
        from weaklabel.pipeline import load_splits

        try:
            loaded = load_splits(config.data, config.seed)
        except (OSError, ValueError) as exc:
            raise ReviewError(
                f"the run's data cannot be read again ({exc}); the review app shows the texts from the "
                f"data source named in {path / 'config.json'}"
            ) from exc
        splits: dict[str, Split] = {}
        matrices: dict[str, LabelMatrix] = {}
        for name, split in loaded.items():
            if name not in split_names:  # a split the run had no rows in
                split.votes = []
                splits[name] = split
                continue
            wanted = row_ids[split_column == name].astype(str)
            have = split.data.index.astype(str).to_numpy()
            if len(have) != len(wanted) or not np.array_equal(have, wanted):
                raise ReviewError(
                    f"the {name} split of the data named in {path / 'config.json'} is not the one the run "
                    f"labeled ({len(have)} rows now, {len(wanted)} in probs.parquet, or other row ids): the "
                    "data changed since the run; rerun the fit on the current data"
                )
            try:
                matrices[name] = LabelMatrix.load(path / _MATRIX_FILES[name])
            except (OSError, ValueError) as exc:
                raise ReviewError(f"{path / _MATRIX_FILES[name]} cannot be read ({exc}); rerun the fit") from exc
            if matrices[name].n_rows != len(have):
                raise ReviewError(f"{path / _MATRIX_FILES[name]} holds {matrices[name].n_rows} rows, "
                                  f"probs.parquet {len(have)} for {name}; rerun the fit")
            split.votes = [matrices[name]]
            splits[name] = split
        return splits, matrices
