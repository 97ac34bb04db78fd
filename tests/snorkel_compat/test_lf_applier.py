"""Snorkel's ``test/labeling/apply/test_lf_applier.py`` on ``apply_lfs``.

``LFApplier``, ``PandasLFApplier`` and ``PandasParallelLFApplier`` are all ``apply_lfs``
(``n_jobs`` for the parallel one); ``DaskLFApplier`` is ``weaklabel.dask.apply_lfs``.
The spaCy-preprocessor tests need spaCy models and are not ported.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from weaklabel import apply_lfs, labeling_function
from weaklabel.exceptions import LabelingFunctionError

snorkel_preprocess = pytest.importorskip("snorkel.preprocess")


@snorkel_preprocess.preprocessor()
def square(x):
    x.num_squared = x.num**2
    return x


class SquareHitTracker:
    def __init__(self):
        self.n_hits = 0

    def __call__(self, x):
        self.n_hits += 1
        return x**2


@labeling_function()
def f(x):
    return 0 if x.num > 42 else -1


@labeling_function(pre=[square])
def fp(x):
    return 0 if x.num_squared > 42 else -1


@labeling_function(resources=dict(db=[3, 6, 9]))
def g(x, db):
    return 0 if x.num in db else -1


@labeling_function()
def h(x):
    return -1


@labeling_function()
def f_np(x):
    return 0 if x[1] > 42 else -1


@labeling_function(resources=dict(db=[3, 6, 9]))
def g_np(x, db):
    return 0 if x[1] in db else -1


@labeling_function()
def f_bad(x):
    return 0 if x.mum > 42 else -1


DATA = [3, 43, 12, 9, 3]
L_EXPECTED = np.array([[-1, 0], [0, -1], [-1, -1], [-1, 0], [-1, 0]])
L_EXPECTED_BAD = np.array([[-1, -1], [0, -1], [-1, -1], [-1, -1], [-1, -1]])
L_PREPROCESS_EXPECTED = np.array([[-1, -1], [0, 0], [-1, 0], [-1, 0], [-1, -1]])


def _points():
    return [SimpleNamespace(num=num) for num in DATA]


def _apply(lfs, data, **kwargs):
    # weaklabel infers the number of classes from the votes; all-abstain data needs it given
    return apply_lfs(lfs, data, cardinality=2, progress=False, **kwargs)


@pytest.mark.parametrize("progress", [False, True])
def test_lf_applier(progress):
    L = apply_lfs([f, g], _points(), cardinality=2, progress=progress)
    np.testing.assert_equal(L.to_numpy(), L_EXPECTED)
    # Snorkel's return_meta: ApplierMetadata({}) — weaklabel keeps a count per LF, all zero
    assert L.error_counts == {"f": 0, "g": 0}


@pytest.mark.parametrize("as_frame", [False, True])
def test_lf_applier_fault(as_frame):
    data = pd.DataFrame(dict(num=DATA)) if as_frame else _points()
    # Snorkel raises the AttributeError itself; weaklabel wraps it (the cause) with the LF
    # and the row
    with pytest.raises(LabelingFunctionError, match="LF 'f_bad' raised AttributeError") as info:
        _apply([f, f_bad], data)
    assert isinstance(info.value.__cause__, AttributeError)
    # Snorkel's fault_tolerant=True is on_error="abstain"
    L = _apply([f, f_bad], data, on_error="abstain")
    np.testing.assert_equal(L.to_numpy(), L_EXPECTED_BAD)
    # Snorkel's ApplierMetadata(dict(f_bad=5)): the same count, LFs without errors at zero
    assert L.error_counts == {"f": 0, "f_bad": 5}


@pytest.mark.parametrize("as_frame", [False, True])
def test_lf_applier_preprocessor(as_frame):
    data = pd.DataFrame(dict(num=DATA)) if as_frame else _points()
    np.testing.assert_equal(_apply([f, fp], data).to_numpy(), L_PREPROCESS_EXPECTED)


@pytest.mark.parametrize("as_frame", [False, True])
def test_lf_applier_preprocessor_memoized(as_frame):
    square_hit_tracker = SquareHitTracker()

    @snorkel_preprocess.preprocessor(memoize=True)
    def square_memoize(x):
        x.num_squared = square_hit_tracker(x.num)
        return x

    @labeling_function(pre=[square_memoize])
    def fp_memoized(x):
        return 0 if x.num_squared > 42 else -1

    data = pd.DataFrame(dict(num=DATA)) if as_frame else _points()
    np.testing.assert_equal(_apply([f, fp_memoized], data).to_numpy(), L_PREPROCESS_EXPECTED)
    assert square_hit_tracker.n_hits == 4  # 5 rows, two equal: Snorkel's memo works here too


def test_lf_applier_no_labels():
    np.testing.assert_equal(_apply([h], _points()).to_numpy(), -1)


def test_lf_applier_numpy():
    X = np.vstack((DATA, DATA)).T
    np.testing.assert_equal(_apply([f_np, g_np], X).to_numpy(), L_EXPECTED)


def test_lf_applier_pandas_parallel():
    L = _apply([f, g], pd.DataFrame(dict(num=DATA)), n_jobs=2)
    np.testing.assert_equal(L.to_numpy(), L_EXPECTED)


def test_lf_applier_pandas_parallel_one_job():
    # Snorkel's PandasParallelLFApplier refuses n_parallel=1 (ValueError); weaklabel runs
    # the same LFs with n_jobs=1 and gets the same matrix, as for any n_jobs
    L = _apply([f, g], pd.DataFrame(dict(num=DATA)), n_jobs=1)
    np.testing.assert_equal(L.to_numpy(), L_EXPECTED)


@pytest.mark.parametrize(
    ("lfs", "expected"), [([f, g], L_EXPECTED), ([f, fp], L_PREPROCESS_EXPECTED)]
)
def test_lf_applier_dask(lfs, expected):
    dd = pytest.importorskip("dask.dataframe")
    from weaklabel.dask import apply_lfs as dask_apply_lfs

    df = dd.from_pandas(pd.DataFrame(dict(num=DATA)), npartitions=2)
    votes = dask_apply_lfs(lfs, df, cardinality=2).compute()
    np.testing.assert_equal(votes.to_numpy(), expected)


def test_lf_applier_dask_fault():
    dd = pytest.importorskip("dask.dataframe")
    from weaklabel.dask import apply_lfs as dask_apply_lfs

    df = dd.from_pandas(pd.DataFrame(dict(num=DATA)), npartitions=2)
    with pytest.raises(Exception):  # noqa: B017 (Snorkel's assertion, kept)
        dask_apply_lfs([f, f_bad], df, cardinality=2).compute()
    votes = dask_apply_lfs([f, f_bad], df, cardinality=2, on_error="abstain").compute()
    np.testing.assert_equal(votes.to_numpy(), L_EXPECTED_BAD)
