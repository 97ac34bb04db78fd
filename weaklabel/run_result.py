"""The types a fit run produces, in a leaf module so that the pipeline that fills them and
the artifact writer that reads them do not import each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weaklabel.matrix import LabelMatrix

if TYPE_CHECKING:
    from weaklabel.config import FitConfig

__all__ = ["RunResult", "Split"]


@dataclass
class Split:
    """One split of the data: rows, optional gold labels, and the votes gathered so far."""

    name: str
    data: pd.DataFrame
    y: np.ndarray | None
    votes: list[Any] = field(default_factory=list)
    """One vote matrix per group of sources: LabelMatrix, or MultiLabelMatrix in multi-label runs."""

    @property
    def has_gold(self) -> bool:
        return self.y is not None and bool(np.any(self.y >= 0))

    @property
    def gold(self) -> np.ndarray:
        """The gold labels (-1: none), for a split that has them."""
        if self.y is None:
            raise ValueError(f"the {self.name} split has no gold labels")
        return self.y

    @property
    def L(self) -> LabelMatrix:
        return LabelMatrix.hstack(self.votes)


@dataclass
class RunResult:
    """Everything a run produced, for notebooks that want to look further."""

    config: FitConfig
    splits: dict[str, Split]
    label_model: Any
    probs: dict[str, np.ndarray]
    student: Any
    metrics: dict[str, Any]
    output_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
