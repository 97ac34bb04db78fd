"""Snorkel's ``test/labeling/lf/test_core.py`` on weaklabel's LabelingFunction."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from weaklabel import LabelingFunction, labeling_function

snorkel_preprocess = pytest.importorskip("snorkel.preprocess")


@snorkel_preprocess.preprocessor()
def square(x):
    x.num = x.num**2
    return x


@snorkel_preprocess.preprocessor()
def returns_none(x):
    return None


def f(x):
    return 0 if x.num > 42 else -1


def g(x, db):
    return 0 if x.num in db else -1


def _run_lf(lf):
    assert lf(SimpleNamespace(num=43)) == 0
    assert lf(SimpleNamespace(num=19)) == -1


def test_labeling_function():
    _run_lf(LabelingFunction(name="my_lf", f=f))


def test_labeling_function_resources():
    _run_lf(LabelingFunction(name="my_lf", f=g, resources=dict(db=[3, 6, 43])))


def test_labeling_function_preprocessor():
    lf = LabelingFunction(name="my_lf", f=f, pre=[square, square])
    assert lf(SimpleNamespace(num=43)) == 0
    assert lf(SimpleNamespace(num=6)) == 0
    assert lf(SimpleNamespace(num=2)) == -1


def test_labeling_function_returns_none():
    lf = LabelingFunction(name="my_lf", f=f, pre=[square, returns_none])
    with pytest.raises(ValueError):
        lf(SimpleNamespace(num=43))


def test_labeling_function_serialize():
    lf = LabelingFunction(name="my_lf", f=g, resources=dict(db=[3, 6, 43]))
    _run_lf(pickle.loads(pickle.dumps(lf)))


def test_labeling_function_decorator():
    @labeling_function()
    def lf(x):
        return 0 if x.num > 42 else -1

    assert isinstance(lf, LabelingFunction)
    assert lf.name == "lf"
    _run_lf(lf)


def test_labeling_function_decorator_args():
    db = [3, 6, 43**2]

    @labeling_function(name="my_lf", resources=dict(db=db), pre=[square])
    def lf(x, db):
        return 0 if x.num in db else -1

    assert isinstance(lf, LabelingFunction)
    assert lf.name == "my_lf"
    _run_lf(lf)


def test_labeling_function_decorator_no_parens():
    # Snorkel: ValueError "missing parentheses". weaklabel (on purpose): the bare decorator
    # works too, so the LF is the same as with parentheses.
    @labeling_function
    def lf(x):
        return 0 if x.num > 42 else -1

    assert isinstance(lf, LabelingFunction) and lf.name == "lf"
    _run_lf(lf)
