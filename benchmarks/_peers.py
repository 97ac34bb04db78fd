"""Peer label models, run the same way on every benchmark set, with their predictions cached.

Each peer maps ``(fit votes, scored votes, k, seed, dev)`` to predicted classes on the scored
rows (``-1`` = abstain, a miss). Transductive peers (crowd-kit's Dawid–Skene, HyperLM) see
no separate fit: they run on the fit rows and the scored rows stacked, and the scored rows'
answers are read. Peer libraries are optional (``requirements/benchmarks.txt``); a peer whose
library is missing is reported as missing, not silently skipped. Predictions are cached (see
``benchmarks._cache``), keyed by set, peer, seed and a digest of the votes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks._cache import cached_array
from weaklabel.label_models import DawidSkene, MajorityVote, SnorkelLabelModel

__all__ = ["DEV_PEERS", "PEERS", "run_peer"]

Peer = Callable[[np.ndarray, np.ndarray, int, int, Any], np.ndarray]


def _quiet(func: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func()


def _mv(tie_break: str) -> Peer:
    def run(fit, score, k, seed, dev):
        return MajorityVote(cardinality=k, random_state=seed).fit(fit).predict(score, tie_break=tie_break)

    return run


def _mv_dev(fit, score, k, seed, dev):
    model = MajorityVote(weights="dev", cardinality=k, random_state=seed)
    _quiet(lambda: model.fit(fit, y_dev=dev[1], L_dev=dev[0]))
    return model.predict(score, tie_break="random")


def _ds_ours(fit, score, k, seed, dev):
    model = DawidSkene(cardinality=k, random_state=seed)
    return _quiet(lambda: model.fit(fit)).predict(score, tie_break="random")


def _snorkel(fit, score, k, seed, dev):
    # Snorkel's torch threads stall for seconds per fit on a busy machine; one thread
    # changes its speed, not its result
    with threadpool_limits(limits=1):
        model = _quiet(lambda: SnorkelLabelModel(cardinality=k, random_state=seed).fit(fit))
        return model.predict(score, tie_break="random")


def _stacked(fit: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, slice]:
    if fit is score:
        return fit, slice(0, len(fit))
    return np.concatenate([fit, score]), slice(len(fit), len(fit) + len(score))


def _crowdkit_ds(fit, score, k, seed, dev):
    import pandas as pd
    from crowdkit.aggregation import DawidSkene as CrowdKitDS

    votes, rows = _stacked(fit, score)
    task, worker = np.nonzero(votes >= 0)
    long = pd.DataFrame({"task": task, "worker": worker, "label": votes[task, worker]})
    answers = _quiet(lambda: CrowdKitDS(n_iter=100).fit_predict(long))
    pred = np.full(len(votes), -1)
    pred[answers.index.to_numpy(dtype=np.int64)] = answers.to_numpy(dtype=np.int64)
    # rows without a vote get no answer from crowd-kit: a seeded coin, as majority vote's
    pred = pred[rows]
    silent = pred < 0
    pred[silent] = np.random.default_rng(seed).integers(0, k, silent.sum())
    return pred


def _flyingsquid(fit, score, k, seed, dev):
    if k != 2:
        raise PeerNotApplicable("FlyingSquid is binary-only")
    import pgmpy.models as models

    if not hasattr(models, "MarkovModel"):  # renamed in pgmpy 1.x; flyingsquid imports the old name
        models.MarkovModel = models.DiscreteMarkovNetwork
    from flyingsquid.label_model import LabelModel as FlyingSquid

    def signed(votes: np.ndarray) -> np.ndarray:  # -1 abstain, 0, 1 -> 0, -1, +1
        return np.select([votes == 0, votes == 1], [-1, 1], 0)

    model = FlyingSquid(fit.shape[1])
    _quiet(lambda: model.fit(signed(fit)))
    probs = _quiet(lambda: model.predict_proba(signed(score)))
    probs = np.asarray(probs, dtype=float).reshape(len(score), -1)
    positive = probs[:, -1] if probs.shape[1] > 1 else probs[:, 0]
    pred = (positive > 0.5).astype(np.int64)
    tied = np.isclose(positive, 0.5)
    pred[tied] = np.random.default_rng(seed).integers(0, 2, tied.sum())
    return pred


def _hyperlm(fit, score, k, seed, dev):
    import torch

    load = torch.load

    def trusting_load(*args, **kwargs):  # HyperLM's packaged checkpoint is a pickle
        kwargs["weights_only"] = False
        return load(*args, **kwargs)

    from hyperlm import HyperLabelModel

    votes, rows = _stacked(fit, score)
    torch.load = trusting_load
    try:
        torch.manual_seed(seed)
        with threadpool_limits(limits=1):
            pred = np.asarray(_quiet(lambda: HyperLabelModel().infer(votes)), dtype=np.int64)
    finally:
        torch.load = load
    if len(pred) != len(votes):
        raise PeerFailed(f"HyperLM returned {len(pred)} predictions for {len(votes)} rows")
    return pred[rows]


class PeerNotApplicable(Exception):
    """The peer does not handle this kind of set (e.g. FlyingSquid on more than 2 classes)."""


class PeerFailed(Exception):
    """The peer ran but its answer cannot be scored."""


PEERS: dict[str, Peer] = {
    "MV (random ties)": _mv("random"),
    "MV (abstain)": _mv("abstain"),
    "Dawid-Skene (ours)": _ds_ours,
    "Dawid-Skene (crowd-kit)": _crowdkit_ds,
    "Snorkel": _snorkel,
    "FlyingSquid": _flyingsquid,
    "HyperLM": _hyperlm,
}
"""Peers that use no gold label."""

DEV_PEERS: dict[str, Peer] = {"MV dev-weighted": _mv_dev}
"""Peers that need the labeled dev rows."""


def run_peer(
    name: str, set_name: str, fit: np.ndarray, score: np.ndarray, k: int, seed: int, dev: Any = None
) -> np.ndarray | str:
    """Cached predictions of one peer, or the reason it has none ("n/a", "missing: ...")."""
    peer = {**PEERS, **DEV_PEERS}[name]
    arrays = (fit, score) if dev is None else (fit, score, dev[0], dev[1])
    try:
        return cached_array(f"{set_name}-{name}-{seed}", arrays, lambda: peer(fit, score, k, seed, dev))
    except PeerNotApplicable:
        return "n/a"
    except ImportError as exc:
        return f"missing: {exc.name}"
    except PeerFailed as exc:
        return f"failed: {exc}"
