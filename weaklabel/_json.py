"""Plain JSON values from numpy scalars, tuples and non-finite floats: what every JSON
payload of slices, suggestions and a run's metrics (read by review apps and reports) is
passed through."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np

__all__ = ["json_safe"]


def json_safe(value: Any) -> Any:
    """``value`` with dict keys as strings, tuples as lists, numpy scalars as Python ones,
    paths as strings and NaN/inf as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, PurePath):
        return str(value)
    return value
