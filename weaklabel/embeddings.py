"""Sentence embeddings from the bundled local encoder (all-MiniLM-L6-v2), cached on disk.

Why a module of its own: error slices cluster rows by meaning, and benchmarks train heads on
frozen embeddings; both need the same vectors for the same texts, computed once. Texts are
mean-pooled over their tokens and L2-normalised (how all-MiniLM-L6-v2 was trained, so cosine
similarity is a dot product). Inference runs in eval mode with a fixed batch order, so the
same texts give the same vectors; the cache is keyed by the encoder folder's config and the
texts' content and stored as a plain ``.npy`` array (never a pickle).

Needs the ``student`` extra (torch, transformers) and the encoder package, imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = ["embed_texts", "embedding_cache_key"]


def embedding_cache_key(texts: Sequence[str], encoder_path: Path, max_length: int) -> str:
    """A content hash of everything that changes the vectors: the encoder, the cut, the texts."""
    digest = hashlib.sha256()
    config = (encoder_path / "config.json").read_bytes()
    digest.update(hashlib.sha256(config).digest())
    digest.update(str(encoder_path.resolve()).encode())
    digest.update(f"max_length={max_length}".encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()[:32]


def _check_texts(texts: Sequence[str]) -> list[str]:
    values = list(texts)
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"texts[{row}] is {value!r:.60} ({type(value).__name__}), not a string")
    return values


def _encode(texts: list[str], path: Path, max_length: int, batch_size: int, progress: bool) -> np.ndarray:
    from weaklabel.students._encoder import (
        import_torch,
        load_encoder,
        load_tokenizer,
        torch_threads,
    )

    torch = import_torch()
    tokenizer = load_tokenizer(path)
    encoder = load_encoder(path).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
    out = np.empty((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch_threads(), torch.inference_mode():
        for start in tqdm(
            range(0, len(texts), batch_size), desc="Embedding", unit="batch", disable=not progress
        ):
            batch = order[start : start + batch_size]
            tokens = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            states = encoder(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            out[batch] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out


def embed_texts(
    texts: Sequence[str],
    *,
    encoder: str | Path | None = None,
    cache_dir: str | Path | None = None,
    max_length: int = 128,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """L2-normalised sentence embeddings, shape ``(len(texts), hidden_size)``, float32.

    Parameters
    ----------
    texts
        The texts to embed (strings; a missing text should be passed as ``""``).
    encoder
        A local Hugging Face model folder; ``None`` = the bundled all-MiniLM-L6-v2.
    cache_dir
        Folder for the cached arrays; ``None`` = no cache. A second call with the same
        encoder, ``max_length`` and texts reads the file instead of running the encoder.
    max_length
        Tokens kept per text.
    batch_size
        Texts per forward pass.
    progress
        Show a progress bar.
    """
    from weaklabel.students._encoder import resolve_encoder

    values = _check_texts(texts)
    if max_length < 1 or batch_size < 1:
        raise ValueError(f"max_length and batch_size must be >= 1, got {max_length} and {batch_size}")
    path = resolve_encoder(encoder)
    file = None
    if cache_dir is not None:
        key = embedding_cache_key(values, path, max_length)
        file = Path(cache_dir) / f"embeddings-{key}.npy"
        if file.is_file():
            try:
                cached = np.load(file, allow_pickle=False)
            except (OSError, ValueError):
                cached = None  # a damaged cache file is recomputed, never trusted
            if cached is not None and cached.shape[0] == len(values):
                return cached
    if not values:
        return np.empty((0, json.loads((path / "config.json").read_text())["hidden_size"]), np.float32)
    vectors = _encode(values, path, max_length, batch_size, progress)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npy", delete=False) as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(handle.name, file)
    return vectors
