"""Label a Dask DataFrame: LFs per partition, label-model statistics reduced in a tree.

The single-process path, cut at its seams so that each piece runs where the rows are:

1. ``apply_lfs`` runs ``weaklabel.apply.apply_lfs`` on every partition
   (``map_partitions``) and gives a Dask DataFrame of votes, one ``int8`` column per LF,
   with the data's index. The votes are exactly those of ``apply_lfs`` on all the rows.
2. ``fit_label_model`` has every partition summarise its votes in
   ``VoteStatistics`` (with its global row offset, so the
   seeded row sample does not depend on the partitioning), merges the summaries in a tree
   and fits a ``LabelModel`` from the result: the fit of
   ``LabelModel(...).fit(L)`` on the whole matrix, to rounding.
3. ``predict_proba`` labels each partition (predictions are row-wise) and
   ``predict_proba_to_parquet`` writes them.

Everything sent to the workers is pickled with cloudpickle: LFs, their resources and the
model. An LF that does not pickle (an open file or connection, a lock, a generator) is named
before anything is submitted. Votes are one byte per LF and row, so ``votes.persist()`` (or
writing them to Parquet) before fitting and predicting keeps the LFs from running twice.

Work runs on the Dask client given (``client=``), on the cluster at ``scheduler_address=``,
on the current default client, or else on a ``dask.distributed.LocalCluster`` started
for the call and closed after it; ``connect`` keeps one open across calls.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weaklabel._validation import check_class_names
from weaklabel.apply import OnError, _check_sources
from weaklabel.apply import apply_lfs as _apply_lfs_in_memory
from weaklabel.label_models.base import break_ties, check_votes, probs_columns
from weaklabel.label_models.label_model import LabelModel
from weaklabel.label_models.majority import MajorityVote
from weaklabel.matrix import MAX_CARDINALITY, LabelMatrix

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from weaklabel.label_models._stats import VoteStatistics
    from weaklabel.label_models.base import BaseLabelModel

__all__ = [
    "apply_lfs",
    "connect",
    "fit_label_model",
    "predict_proba",
    "predict_proba_to_parquet",
]

_HINT = 'weaklabel.dask needs Dask: pip install "weaklabel[dask]"'
_SPLIT_EVERY = 8
"""Statistics merged per task of the reduction tree."""


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    return dd, distributed


# ---------------------------------------------------------------- clients
@contextmanager
def connect(
    client: Client | None = None,
    *,
    scheduler_address: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    **cluster_kwargs: Any,
) -> Iterator[Client]:
    """A Dask client for the block: the one given, one connected to ``scheduler_address``,
    the current default client, or a new ``LocalCluster(n_workers, threads_per_worker)``.

    Only what it creates is closed at the end. Worker processes re-import the calling
    module, so scripts that start a LocalCluster need an ``if __name__ == "__main__":`` guard.
    """
    _, distributed = _import_dask()
    if client is not None:
        yield client
        return
    if scheduler_address is not None:
        with distributed.Client(scheduler_address) as own:
            yield own
        return
    try:
        running = distributed.default_client()
    except ValueError:  # no client running: start a local cluster
        running = None
    if running is not None:
        yield running
        return
    with (
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, **cluster_kwargs
        ) as cluster,
        distributed.Client(cluster) as own,
    ):
        yield own


def _check_picklable(objects: Iterable[tuple[str, Any]]) -> None:
    """Raise naming the first object that cloudpickle (what Dask sends) cannot serialise."""
    import cloudpickle

    for what, obj in objects:
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:  # pickling raises many types (TypeError, PicklingError, ...)
            raise TypeError(
                f"{what} cannot be sent to Dask workers: cloudpickle failed with "
                f"{type(exc).__name__}: {exc}. Everything an LF holds travels with it; open "
                "files, connections, locks and generators must be created inside the LF "
                "(lazily, on first call) instead of held by it"
            ) from exc


# ---------------------------------------------------------------- votes
def _partition_votes(
    part: pd.DataFrame,
    lfs: list[Any],
    cardinality: int,
    class_names: Sequence[str] | None,
    on_error: OnError,
    batch_size: int,
) -> pd.DataFrame:
    L = _apply_lfs_in_memory(
        lfs,
        part,
        cardinality=cardinality,
        class_names=class_names,
        batch_size=batch_size,
        progress=False,
        on_error=on_error,
    )
    return L.to_dataframe().astype(np.int8, copy=False)


def apply_lfs(
    lfs: Iterable[Any],
    ddf: dd.DataFrame,
    *,
    cardinality: int | None = None,
    class_names: Sequence[str] | None = None,
    on_error: OnError = "raise",
    batch_size: int = 50_000,
) -> dd.DataFrame:
    """Votes of ``lfs`` on every row of ``ddf``, as a lazy Dask DataFrame.

    One ``int8`` column per LF (named after it), the index of ``ddf``, and the very votes of
    ``weaklabel.apply.apply_lfs`` on the whole data. Each partition is labeled on its
    own, so the number of classes must be given (``cardinality=`` or ``class_names=``);
    batch LFs (LLM labelers) run once per partition. Raises before anything is submitted
    when an LF cannot be pickled. With ``on_error="abstain"`` a failing LF abstains as in
    ``apply_lfs``, but the per-LF error counts stay with the partitions (not collected).
    """
    dd, _ = _import_dask()
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"ddf must be a dask DataFrame, got {type(ddf).__name__}")
    if cardinality is None and class_names is None:
        raise ValueError(
            "weaklabel.dask.apply_lfs needs cardinality= (or class_names=): each partition is "
            "labeled on its own, so the number of classes cannot be inferred from the votes"
        )
    k = cardinality if cardinality is not None else len(class_names or ())
    sources = _check_sources(lfs)
    # argument and column errors here, not from inside a worker
    _apply_lfs_in_memory(sources, ddf._meta, cardinality=k, class_names=class_names, progress=False)
    for lf in sources:  # one-time work (an LLM labeler's calibration) here, not once per partition
        prepare = getattr(lf, "prepare", None)
        if callable(prepare):
            prepare(progress=False)
    _check_picklable((f"LF {lf.name!r}", lf) for lf in sources)
    meta = pd.DataFrame(
        {lf.name: pd.Series(dtype=np.int8) for lf in sources}, index=ddf._meta.index
    )
    return ddf.map_partitions(
        _partition_votes,
        sources,
        k,
        None if class_names is None else list(class_names),
        on_error,
        batch_size,
        meta=meta,
    )


# ---------------------------------------------------------------- label model fit
def _partition_statistics(
    template: VoteStatistics, part: pd.DataFrame, offset: int
) -> VoteStatistics:
    votes = check_votes(part.to_numpy(), template.cardinality)
    return copy.deepcopy(template).update(votes, offset=offset)


def _merge_statistics(*parts: Any) -> Any:
    merged = copy.deepcopy(parts[0])
    for part in parts[1:]:
        merged.merge(part)
    return merged


def _statistics_graph(template: Any, votes_ddf: dd.DataFrame) -> Any:
    """Delayed statistics of every row: ``template`` (empty mergeable statistics, such as a
    VoteStatistics) filled per partition, then merged in a tree.

    Each partition's global offset is a chain of its predecessors' lengths, so a partition's
    votes are computed once and kept only until the offsets before it are known.
    """
    import dask

    parts = votes_ddf.to_delayed()
    level, offset = [], 0
    for part in parts:
        level.append(dask.delayed(_partition_statistics)(template, part, offset))
        offset = dask.delayed(int.__add__)(offset, dask.delayed(len)(part))
    while len(level) > 1:
        level = [
            dask.delayed(_merge_statistics)(*level[i : i + _SPLIT_EVERY])
            for i in range(0, len(level), _SPLIT_EVERY)
        ]
    return level[0]


def fit_label_model(
    model: BaseLabelModel,
    votes_ddf: dd.DataFrame,
    y_dev: Any = None,
    class_balance: Any = None,
    *,
    L_dev: Any = None,
    cardinality: int | None = None,
    class_names: Sequence[str] | None = None,
    client: Client | None = None,
    scheduler_address: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> BaseLabelModel:
    """Fit ``model`` on the votes of a Dask DataFrame (from ``apply_lfs``); returns it.

    A ``LabelModel`` is fitted from per-partition statistics
    merged in a tree: the same fit as ``model.fit(votes_ddf.compute())``, to rounding (set
    its ``random_state`` for that to hold when the row sample is used, i.e. when there are
    more than ``max_patterns`` distinct vote patterns). ``MajorityVote`` learns nothing
    from the rows and is fitted on one row, for the shape. Other models (``DawidSkene`` runs EM over
    every row) raise: the votes take one byte per LF and row, so fit them on
    ``votes_ddf.compute()`` where that fits in memory.

    The number of classes comes from ``cardinality=``, ``class_names=`` or the model's; the
    class names (in the order the votes use) become the model's ``classes_``, so that
    ``predict(return_names=True)``, ``predict_proba`` and the saved model name them
    (``L_dev`` given as a LabelMatrix with class names names them too). Gold labels need
    their own votes (``y_dev`` with ``L_dev``). The client options are those of
    ``connect``.
    """
    if class_names is None and isinstance(L_dev, LabelMatrix):
        class_names = L_dev.class_names
    if class_names is not None:
        class_names = check_class_names(class_names, cardinality)
        cardinality = len(class_names) if cardinality is None else cardinality
    own = getattr(model, "cardinality", None)
    if cardinality is not None and own is not None and cardinality != own:
        raise ValueError(
            f"cardinality={cardinality} but the model was built with cardinality={own}"
        )
    k = cardinality if cardinality is not None else own
    if k is None:
        raise ValueError(
            "fit_label_model needs the number of classes: pass cardinality= (or build the "
            "model with cardinality=)"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= MAX_CARDINALITY:
        raise ValueError(f"cardinality must be an integer in [2, {MAX_CARDINALITY}], got {k!r}")
    if y_dev is not None and L_dev is None:
        raise ValueError("fit_label_model needs L_dev with y_dev: the Dask rows are not kept")
    lf_names = [str(name) for name in votes_ddf.columns]
    if isinstance(model, MajorityVote):
        head = votes_ddf.head(1, npartitions=-1).to_numpy()  # all MajorityVote needs: the shape
        shape = LabelMatrix(head, lf_names, cardinality=int(k), class_names=class_names)
        return model.fit(shape, y_dev, class_balance, L_dev=L_dev)
    if not isinstance(model, LabelModel):
        raise TypeError(
            f"weaklabel.dask fits LabelModel (from merged statistics) and MajorityVote; "
            f"{type(model).__name__} needs every row: fit it on votes_ddf.compute()"
        )
    graph = _statistics_graph(model.new_statistics(len(votes_ddf.columns), int(k)), votes_ddf)
    stats = _compute(graph, client, scheduler_address, n_workers, threads_per_worker)
    if stats.n_rows == 0:
        raise ValueError("fit_label_model got no rows (empty Dask DataFrame)")
    return model.fit_statistics(
        stats, y_dev, class_balance, L_dev=L_dev, lf_names=lf_names, class_names=class_names
    )


def _compute(
    work: Any,
    client: Client | None,
    scheduler_address: str | None,
    n_workers: int | None,
    threads_per_worker: int | None,
) -> Any:
    """The result of a lazy Dask computation, run on the client ``connect`` picks."""
    with connect(
        client,
        scheduler_address=scheduler_address,
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
    ) as active:
        return active.compute(work).result()


# ---------------------------------------------------------------- prediction
_LABEL_DTYPE = pd.StringDtype()  # predicted_label: class names, missing where a tie abstains


def _partition_proba(
    part: pd.DataFrame, model: BaseLabelModel, names: list[Any], tie_break: str
) -> pd.DataFrame:
    votes = check_votes(part.to_numpy(), model.cardinality_)
    probs = model.predict_proba(votes)
    predicted = break_ties(probs, tie_break, None)
    frame = pd.DataFrame(probs_columns(probs, votes, names, predicted), index=part.index)
    # a string dtype, not object: Parquet needs a column type it can infer from the meta
    frame["predicted_label"] = frame["predicted_label"].astype(_LABEL_DTYPE)
    return frame


def predict_proba(
    model: BaseLabelModel,
    votes_ddf: dd.DataFrame,
    *,
    class_names: Sequence[str] | None = None,
    tie_break: str = "first",
) -> dd.DataFrame:
    """Lazy Dask DataFrame of ``prob_<class>``, ``n_votes`` and ``predicted_label`` per row.

    The columns of a pipeline run's ``probs.parquet`` (``predicted_label`` names the class,
    ``predicted_index`` is its index), indexed by the votes' index; classes are named after
    ``class_names`` when given, else the model's ``classes_``. Predictions are
    row-wise, so each partition's are those of ``model.predict_proba`` on the whole matrix.
    ``tie_break`` is ``"first"`` (the lowest tied class, as ``argmax``) or ``"abstain"``
    (ties get ``-1``); ``predict``'s seeded ``"random"`` draws along all rows at once, so it
    has no partition-wise equivalent.
    """
    _import_dask()
    if tie_break not in ("abstain", "first"):
        raise ValueError(f"tie_break must be 'abstain' or 'first' on Dask, got {tie_break!r}")
    n_sources = getattr(model, "n_sources_", None)
    if n_sources is None:
        raise ValueError(f"{type(model).__name__} is not fitted: call fit_label_model first")
    if len(votes_ddf.columns) != n_sources:
        raise ValueError(
            f"the votes have {len(votes_ddf.columns)} columns but the model was fitted on "
            f"{n_sources} sources"
        )
    if class_names is None:
        class_names = [str(c) for c in model.classes_]
    names = [str(name) for name in class_names]
    if len(names) != model.cardinality_:
        raise ValueError(f"{len(names)} class_names for a model of {model.cardinality_} classes")
    _check_picklable([("the label model", model)])
    columns = [f"prob_{name}" for name in names]
    meta = pd.DataFrame(
        {
            **{name: pd.Series(dtype=float) for name in columns},
            "n_votes": pd.Series(dtype=np.int64),
            "predicted_label": pd.Series(dtype=_LABEL_DTYPE),
            "predicted_index": pd.Series(dtype=np.int64),
        },
        index=votes_ddf._meta.index,
    )
    return votes_ddf.map_partitions(_partition_proba, model, names, tie_break, meta=meta)


def predict_proba_to_parquet(
    model: BaseLabelModel,
    votes_ddf: dd.DataFrame,
    path: str,
    *,
    class_names: Sequence[str] | None = None,
    tie_break: str = "first",
    client: Client | None = None,
    scheduler_address: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    **to_parquet_kwargs: Any,
) -> str:
    """Write ``predict_proba`` to a Parquet dataset at ``path`` (one file per partition).

    The client options are those of ``connect``; ``to_parquet_kwargs`` go to
    ``dask.dataframe.DataFrame.to_parquet``. Returns ``path``.
    """
    probs = predict_proba(model, votes_ddf, class_names=class_names, tie_break=tie_break)
    write = probs.to_parquet(path, compute=False, **to_parquet_kwargs)
    _compute(write, client, scheduler_address, n_workers, threads_per_worker)
    return path
