"""Property tests (hypothesis) of every label model on random small vote matrices:
probabilities, silent rows, determinism, row-order invariance, source-order equivariance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from threadpoolctl import threadpool_limits

from weaklabel.label_models import DawidSkene, LabelModel, MajorityVote


@st.composite
def vote_matrices(draw):
    k = draw(st.integers(2, 3))
    m = draw(st.integers(2, 6))
    n = draw(st.integers(8, 60))
    votes = draw(arrays(np.int64, (n, m), elements=st.integers(-1, k - 1)))
    order = draw(st.permutations(range(n)))
    columns = draw(st.permutations(range(m)))
    return votes, k, np.asarray(order), np.asarray(columns)


def _fit(cls, votes, k):
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        return cls(cardinality=k, random_state=0).fit(votes)


MODELS = [MajorityVote, DawidSkene, LabelModel]


@pytest.mark.parametrize("cls", MODELS)
@settings(max_examples=20, deadline=None)
@given(case=vote_matrices())
def test_probabilities_and_invariances(cls, case):
    votes, k, order, columns = case
    model = _fit(cls, votes, k)
    probs = model.predict_proba(votes)
    assert probs.shape == (len(votes), k)
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0)
    silent = (votes == -1).all(axis=1)
    # rows no source votes on get the class balance, or what the anchored estimator learned
    # about silence (LabelModel.silent_proba_)
    expected = getattr(model, "silent_proba_", None)
    assert np.allclose(probs[silent], model.class_balance_ if expected is None else expected)
    # deterministic
    assert np.array_equal(_fit(cls, votes, k).predict_proba(votes), probs)
    assert np.array_equal(_fit(cls, votes, k).predict(votes), model.predict(votes))
    # the order of the rows does not matter
    assert np.allclose(_fit(cls, votes[order], k).predict_proba(votes), probs, atol=1e-6)
    # reordering the sources reorders the parameters and nothing else
    swapped = _fit(cls, votes[:, columns], k)
    assert np.allclose(swapped.predict_proba(votes[:, columns]), probs, atol=1e-6)
    if hasattr(model, "cond_probs_"):
        assert np.allclose(swapped.cond_probs_, model.cond_probs_[columns], atol=1e-6)
