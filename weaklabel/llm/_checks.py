"""Everything about an LLM labeler that can be checked before a request is sent.

``LLMLabeler.validate`` calls ``check_labeler``; the fit pipeline calls it for
every configured labeler before any LF runs, so a label map outside the classes, a prompt
field the data lacks, a missing key variable or a missing local model costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from weaklabel.exceptions import ConfigError
from weaklabel.lf import ABSTAIN
from weaklabel.llm._labels import resolve_labels

if TYPE_CHECKING:
    from weaklabel.llm.labeler import LLMLabeler

__all__ = ["check_labeler"]


def check_labeler(
    labeler: LLMLabeler,
    *,
    cardinality: int | None,
    class_names: Sequence[str] | None,
    columns: Sequence[str] | None,
) -> dict[str, int]:
    """The resolved answer-word -> vote map, after every check passed (else a ConfigError)."""
    name = labeler.name
    votes = resolve_labels(name, labels=labeler.labels, class_names=class_names)
    if votes is None:
        raise ConfigError(f"LLM labeler {name!r}: its labels name classes, but no class names were given")
    k = cardinality if cardinality is not None else (len(class_names) if class_names is not None else None)
    if k is not None:
        outside = {word: v for word, v in votes.items() if v >= k}
        if outside:
            raise ConfigError(
                f"LLM labeler {name!r}: labels {outside} are outside the {k} classes (0..{k - 1}, or -1 to abstain)"
            )
    if columns is not None:
        missing = [field for field in labeler.prompt.fields if field not in set(columns)]
        if missing:
            raise ConfigError(f"LLM labeler {name!r}: the prompt uses {missing}, which the data lacks (columns: {list(columns)})")
    _check_backend(labeler)
    for what, rows in (("calibration", labeler.calibration), ("examples", labeler.examples)):
        if rows is not None:
            _check_labeled_rows(name, what, rows, labeler.prompt.fields, k)
    return votes


def _check_backend(labeler: LLMLabeler) -> None:
    s = labeler.settings
    if s.backend == "openai":
        if s.base_url is None and not os.environ.get("OPENAI_BASE_URL") and not os.environ.get(s.api_key_env):
            raise ConfigError(
                f"LLM labeler {labeler.name!r}: the environment variable {s.api_key_env} holding the API key "
                "is not set (set it, or give base_url for a local server that needs no key)"
            )
        return
    missing = [pkg for pkg in ("torch", "transformers") if importlib.util.find_spec(pkg) is None]
    if missing:
        raise ConfigError(f'LLM labeler {labeler.name!r}: the local backend needs {missing}: pip install "weaklabel[llm-local]"')
    from weaklabel.llm.local import _resolve

    try:
        _, gguf = _resolve(s.model)
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(f"LLM labeler {labeler.name!r}: {exc}") from None
    if gguf is not None and importlib.util.find_spec("gguf") is None:
        raise ConfigError(f'LLM labeler {labeler.name!r}: loading {gguf} needs the gguf package: pip install "weaklabel[llm-local]"')


def _check_labeled_rows(name: str, what: str, rows: Any, fields: Sequence[str], k: int | None) -> None:
    if not (isinstance(rows, tuple | list) and len(rows) == 2):
        raise ConfigError(f"LLM labeler {name!r}: {what} must be labeled rows (data, y)")
    data, y = rows
    y = np.asarray(y)
    if len(y) != len(data):
        raise ConfigError(f"LLM labeler {name!r}: {what} has {len(data)} rows but {len(y)} labels")
    missing = [field for field in fields if field not in getattr(data, "columns", ())]
    if missing:
        raise ConfigError(f"LLM labeler {name!r}: the {what} rows lack the prompt's column(s) {missing}")
    if y.dtype.kind not in "iu":
        raise ConfigError(f"LLM labeler {name!r}: {what} labels must be class indices, got dtype {y.dtype}")
    bad = np.flatnonzero((y < ABSTAIN) | ((y >= k) if k is not None else False))
    if len(bad):
        raise ConfigError(f"LLM labeler {name!r}: {what} label {y[bad[0]]} (row {bad[0]}) is not a class index")
