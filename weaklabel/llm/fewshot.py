"""Few-shot examples chosen per row by similarity: nearest neighbours or max-marginal relevance.

A fixed set of examples shows every row the same few cases; examples that resemble the
row show the model how rows *like this one* are labeled (Liu et al. 2022, "What makes
good in-context examples for GPT-3?"). ``SimilarExamples`` embeds the labeled pool
and each row with all-MiniLM-L6-v2 (mean-pooled, unit length), and picks ``k`` examples
per row:

- ``"nearest"``: the ``k`` most similar pool rows;
- ``"mmr"``: max-marginal relevance, each next example the one maximising
  ``(1 - diversity) * sim(row, x) - diversity * max sim(x, chosen)``, so the examples do
  not all repeat one case.

The most similar example comes last, next to the row. A pool row whose text equals the
row's is never its own example. Ties break by pool order, so the choice is deterministic.
Embeddings are cached in the LLM answer cache file (raw float32, keyed by the encoder and
the text), so a rerun embeds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.exceptions import ConfigError
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.settings import LLMSettings

__all__ = ["SimilarExamples", "embed_texts", "select_examples"]

_BATCH = 64


def _encoder_id(path: Path) -> str:
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    return f"{path.name}:{sum(f.stat().st_size for f in weights)}"


def embed_texts(texts: Sequence[str], *, cache: Any = None, encoder: str | Path | None = None) -> np.ndarray:
    """Unit-length MiniLM embeddings of ``texts``, ``(len(texts), dim)`` float32.

    ``cache`` (an ``LLMCache``) keeps them between runs.
    """
    from weaklabel.students._encoder import import_torch, resolve_encoder

    path = resolve_encoder(encoder)
    prefix = _encoder_id(path)
    keys = [hashlib.sha256(f"{prefix}\n{t}".encode()).hexdigest() for t in texts]
    found = cache.get_vectors(keys) if cache is not None else {}
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
    if todo:
        torch = import_torch()
        vectors = _encode([t for _, t in todo], path, torch)
        fresh = dict(zip([k for k, _ in todo], vectors, strict=True))
        if cache is not None:
            cache.put_vectors(fresh)
        found = {**found, **fresh}
    return np.stack([found[k] for k in keys]).astype(np.float32)


def _encode(texts: list[str], path: Path, torch: Any) -> np.ndarray:
    from weaklabel.students._encoder import load_encoder, load_tokenizer

    tokenizer, model = load_tokenizer(path), load_encoder(path).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), _BATCH):
            batch = tokenizer(texts[start : start + _BATCH], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


def select_examples(queries: np.ndarray, pool: np.ndarray, k: int, *, method: str = "nearest", diversity: float = 0.3,
                    exclude: np.ndarray | None = None) -> list[list[int]]:
    """Pool positions chosen for each query row, least similar first (the nearest last).

    ``queries`` and ``pool`` are unit-length embeddings; ``exclude[i, j]`` True keeps pool
    row ``j`` from being chosen for query ``i`` (the row itself).
    """
    sims = queries @ pool.T
    if exclude is not None:
        sims = np.where(exclude, -np.inf, sims)
    k = min(k, pool.shape[0])
    gram = pool @ pool.T if method == "mmr" else None
    chosen = []
    for row in sims:
        if method == "mmr":
            picks = _mmr(row, gram, k, diversity)  # type: ignore[arg-type]
        else:
            order = np.lexsort((np.arange(len(row)), -row))  # most similar first, ties by pool order
            picks = [int(j) for j in order[:k] if np.isfinite(row[j])]
        chosen.append(picks[::-1])
    return chosen


def _mmr(sims: np.ndarray, gram: np.ndarray, k: int, diversity: float) -> list[int]:
    picks: list[int] = []
    redundancy = np.zeros(len(sims))  # max similarity to the examples chosen so far
    for _ in range(k):
        gain = (1 - diversity) * sims - (diversity * redundancy if picks else 0.0)
        gain[picks] = -np.inf
        best = int(np.argmax(gain))  # argmax keeps the first of equal gains: pool order
        if not np.isfinite(gain[best]):
            break
        picks.append(best)
        redundancy = gram[best] if len(picks) == 1 else np.maximum(redundancy, gram[best])
    return picks


class SimilarExamples:
    """Renders each row with ``few_shot`` examples chosen from labeled rows by similarity."""

    def __init__(self, prompt: PromptTemplate, data: pd.DataFrame, y: Sequence[int] | np.ndarray,
                 votes_of: Mapping[str, int], *, settings: LLMSettings, cache: Any = None) -> None:
        y = np.asarray(y)
        answer_of: dict[int, str] = {}
        for word, vote in votes_of.items():
            if vote >= 0:
                answer_of.setdefault(int(vote), word)
        usable = np.array([int(v) in answer_of for v in y], dtype=bool)
        if not usable.any():
            raise ConfigError(f"few-shot examples: no labeled row has a class among {sorted(answer_of)}")
        self.prompt, self.settings, self.cache = prompt, settings, cache
        self.pool = data[usable].reset_index(drop=True)
        self.answers = [answer_of[int(v)] for v in y[usable]]
        self.pool_texts = self._texts(self.pool)
        self._pool_vectors: np.ndarray | None = None

    def _texts(self, data: pd.DataFrame) -> list[str]:
        fields = self.prompt.fields
        return ["\n".join("" if pd.isna(v) else str(v) for v in values) for values in zip(*(data[f] for f in fields), strict=True)]

    def choose(self, data: pd.DataFrame) -> list[list[int]]:
        """Pool positions of the examples of each row of ``data``."""
        if self._pool_vectors is None:
            self._pool_vectors = embed_texts(self.pool_texts, cache=self.cache)
        texts = self._texts(data)
        queries = embed_texts(texts, cache=self.cache)
        pool_index: dict[str, list[int]] = {}
        for j, text in enumerate(self.pool_texts):
            pool_index.setdefault(text, []).append(j)
        exclude = np.zeros((len(texts), len(self.pool_texts)), dtype=bool)
        for i, text in enumerate(texts):
            exclude[i, pool_index.get(text, [])] = True
        s = self.settings
        return select_examples(queries, self._pool_vectors, s.few_shot, method=s.few_shot_selection,
                               diversity=s.few_shot_diversity, exclude=exclude)

    def render_frame(self, data: pd.DataFrame) -> list[list[dict[str, str]]]:
        """Chat messages for every row of ``data``, each with its own examples."""
        missing = [field for field in self.prompt.fields if field not in data.columns]
        if missing:
            raise KeyError(f"prompt {self.prompt.name!r} needs the column(s) {missing}; the data has {list(data.columns)}")
        fields = self.prompt.fields
        examples = [
            ({f: self.pool[f].iloc[j] for f in fields}, self.answers[j]) for j in range(len(self.pool))
        ]
        rows = data[list(fields)].to_dict("records")
        return [self.prompt.render(row, [examples[j] for j in picks]) for row, picks in zip(rows, self.choose(data), strict=True)]
