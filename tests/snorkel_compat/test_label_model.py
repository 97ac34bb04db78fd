"""Snorkel's ``test/labeling/model/test_label_model.py`` and ``test_baseline.py``.

Each model test runs on :class:`SnorkelLabelModel` (Snorkel's own model behind weaklabel's
interface: it must reproduce Snorkel) and on weaklabel's :class:`LabelModel`, whose
deliberate differences are asserted with the setting that reproduces Snorkel. Tests of
Snorkel's torch internals (O matrix, mask, augmented matrix, initial mu, loss, optimisers,
schedulers, warm-up, mu_eps, symmetry breaking) have no counterpart and are not ported.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from weaklabel.exceptions import WeaklabelWarning
from weaklabel.label_models import LabelModel, MajorityVote, SnorkelLabelModel

snorkel_model = pytest.importorskip("snorkel.labeling.model")

SNORKEL = pytest.param(SnorkelLabelModel, marks=pytest.mark.slow, id="SnorkelLabelModel")
MODELS = [SNORKEL, pytest.param(LabelModel, id="LabelModel")]


@pytest.fixture(autouse=True)
def _quiet():
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", WeaklabelWarning)
        yield


def _fit(cls, L, **kwargs):
    options = {"n_epochs": 100} if cls is SnorkelLabelModel else {}
    return cls(cardinality=2, random_state=0, **options).fit(np.array(L), **kwargs)


@pytest.mark.parametrize("cls", MODELS)
def test_L_form(cls):
    model = _fit(cls, [[-1, 1, -1], [-1, 1, -1], [1, -1, -1], [-1, 1, -1]])
    assert model.n_features_in_ == 3
    with pytest.raises(ValueError, match="outside \\[-1, 1\\] for cardinality 2"):
        _fit(cls, [[-1, 0, 1], [-1, 0, 2], [0, -1, 2], [-1, 0, -1]])
    two_sources = [[0, 1], [1, 1], [0, 1]]
    if cls is SnorkelLabelModel:  # Snorkel: "L_train should have at least 3" sources
        with pytest.raises(ValueError, match="at least 3"):
            _fit(cls, two_sources)
    else:  # weaklabel fits any number of sources
        assert _fit(cls, two_sources).n_features_in_ == 2


@pytest.mark.parametrize("cls", MODELS)
def test_mv_default(cls):
    # fewer than 2 LFs overlap
    L = np.array([[-1, -1, 1], [-1, 1, -1], [0, -1, -1]])
    np.testing.assert_array_equal(_fit(cls, L).predict(L), [1, 1, 0])
    # fewer than 2 LFs conflict
    L = np.array([[-1, -1, 1], [-1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(_fit(cls, L).predict(L), [1, 1, 1])


def test_class_balance():
    L_dev = np.array([[0, 1], [1, 0]] * 5)
    y_dev = np.array([0, 0, 1, 1, 0, 0, 0, 0, 1, 1])
    # Snorkel reads [0.6, 0.4] from Y_dev; weaklabel adds one to each count (no class may
    # get zero mass from a few dev rows): [7/12, 5/12]. Snorkel's: class_balance=counts/n.
    model = MajorityVote().fit(L_dev, y_dev, L_dev=L_dev)
    np.testing.assert_array_almost_equal(model.class_balance_, [7 / 12, 5 / 12])
    snorkel_like = MajorityVote().fit(L_dev, class_balance=np.bincount(y_dev) / len(y_dev))
    np.testing.assert_array_almost_equal(snorkel_like.class_balance_, [0.6, 0.4])
    with pytest.raises(ValueError, match="class_balance must be positive"):  # "prior is 0"
        MajorityVote().fit(L_dev, class_balance=[0.0, 1.0])
    with pytest.raises(ValueError, match="class_balance must hold 2 numbers"):  # "has 1 entries"
        MajorityVote().fit(L_dev, class_balance=[0.0])
    # Snorkel refuses a Y_dev with one class ("Does not match LabelModel cardinality");
    # weaklabel takes it (the other class keeps its add-one mass)
    one_class = MajorityVote().fit(L_dev[:3], [0, 0, 0], L_dev=L_dev[:3])
    np.testing.assert_array_almost_equal(one_class.class_balance_, [0.8, 0.2])


def test_get_weight():
    rng = np.random.default_rng(123)  # Snorkel draws from the global np.random, unseeded
    true_accs = [0.95, 0.6, 0.7, 0.55, 0.8]
    coverage = [1.0, 0.8, 1.0, 1.0, 1.0]
    Y = (rng.random(1000) <= 0.5).astype(int)
    votes = np.where(rng.random((1000, 5)) <= true_accs, Y[:, None], 1 - Y[:, None])
    L = np.where(rng.random((1000, 5)) <= coverage, votes, -1)
    model = LabelModel(cardinality=2, random_state=123).fit(L)
    # Snorkel's get_weights(): each source's accuracy where it votes
    cond, prior = model.cond_probs_, model.class_balance_
    correct = np.einsum("jyy,y->j", cond[:, 1:, :], prior)
    voting = ((1 - cond[:, 0, :]) * prior).sum(axis=1)
    np.testing.assert_allclose(correct / voting, true_accs, atol=0.1)


@pytest.mark.parametrize("cls", MODELS)
def test_predict(cls):
    # 3 LFs that always disagree/abstain: every row ties
    L = np.array([[-1, 1, 0], [0, -1, 1], [1, 0, -1]])
    model = _fit(cls, L)
    # Snorkel's default tie_break_policy is "abstain"; weaklabel's is "random" (seeded)
    np.testing.assert_array_equal(model.predict(L, tie_break="abstain"), [-1, -1, -1])
    assert set(model.predict(L)) <= {0, 1}


@pytest.mark.parametrize("cls", MODELS)
def test_score(cls):
    L = np.array([[1, 1, 0], [-1, -1, -1], [1, 0, 1]])
    Y = np.array([1, 0, 1])
    model = _fit(cls, L)
    # Snorkel's score(L, Y, metrics=[...]) is evaluate(..., tie_break="abstain",
    # abstains="exclude"); weaklabel's score() is scikit-learn's accuracy
    results = model.evaluate(
        L, Y, metrics=("accuracy", "coverage"), tie_break="abstain", abstains="exclude"
    )
    if cls is SnorkelLabelModel:
        np.testing.assert_array_equal(model.predict(L, tie_break="abstain"), [1, -1, 1])
        assert results == dict(accuracy=1.0, coverage=2 / 3)
    else:
        # the row without votes gets the learned class prior, which is not a tie here
        # (Snorkel: its uniform prior, a tie); Snorkel's: pred[(L == -1).all(axis=1)] = -1
        pred = model.predict(L, tie_break="abstain")
        assert pred[0] == 1 and pred[2] == 1 and pred[1] != -1
        assert results["coverage"] == 1.0
    assert isinstance(model.score(L, Y), float)


@pytest.mark.parametrize("cls", MODELS)
def test_save_and_load(cls, tmp_path):
    L = np.array([[0, -1, 0], [0, 1, 1]])
    model = _fit(cls, L)
    model.save(tmp_path / "label_model.json")
    loaded = cls.load(tmp_path / "label_model.json")
    np.testing.assert_array_equal(loaded.predict(L), model.predict(L))


def _synthetic(abstain_multiplier=1.0):
    synthetic = pytest.importorskip("snorkel.synthetic.synthetic_data")
    np.random.seed(123)  # noqa: NPY002 (Snorkel's generator draws from the global state)
    return synthetic.generate_simple_label_matrix(
        10_000, 10, 2, abstain_multiplier=abstain_multiplier
    )


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS)
def test_label_model_basic(cls):
    P, Y, L = _synthetic()
    model = _fit(cls, L) if cls is LabelModel else cls(cardinality=2, n_epochs=200, random_state=123).fit(L)
    probs = model.mu_ if cls is SnorkelLabelModel else model.cond_probs_[:, 1:, :]
    np.testing.assert_array_almost_equal(P[:, 1:, :], probs, decimal=2)
    assert model.score(L, Y) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS)
def test_label_model_sparse(cls):
    P, Y, L = _synthetic(abstain_multiplier=1000.0)
    model = (
        _fit(cls, L) if cls is LabelModel else cls(cardinality=2, n_epochs=1000, random_state=123).fit(L)
    )
    probs = model.mu_ if cls is SnorkelLabelModel else model.cond_probs_[:, 1:, :]
    np.testing.assert_array_almost_equal(P[:, 1:, :], probs, decimal=2)
    pred = model.predict(L, tie_break="abstain")
    if cls is LabelModel:
        # rows without votes get the learned prior (not a tie, unlike Snorkel's uniform
        # prior): Snorkel's abstains there are this one line
        pred[(L == -1).all(axis=1)] = -1
    (idx,) = np.where(pred != -1)
    assert (pred[idx] == Y[idx]).mean() >= 0.65
    # no abstain where an LF votes (Snorkel issue #1422)
    assert len(idx) == ((L + 1).sum(axis=1) != 0).sum()


# ---------------------------------------------------------------------- test_baseline.py
def test_majority_label_vote():
    L = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0], [-1, -1, 1]])
    probs = MajorityVote().fit(L).predict_proba(L)
    np.testing.assert_array_almost_equal(probs, [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


@pytest.mark.shared_data
@pytest.mark.parametrize("dataset", ["youtube", "trec"])
def test_majority_vote_with_abstain_ties_is_majority_label_voter(wrench_dir, dataset):
    """On real matrices MajorityVote's default predict agrees with Snorkel's
    MajorityLabelVoter only where the vote is decided; tie_break="abstain" agrees everywhere."""
    from weaklabel.data import load_wrench

    _, L, _ = load_wrench(wrench_dir(dataset), "train")
    theirs = snorkel_model.MajorityLabelVoter(cardinality=L.cardinality).predict(L.to_numpy())
    model = MajorityVote(random_state=0).fit(L)
    np.testing.assert_array_equal(model.predict(L, tie_break="abstain"), theirs)
    decided = theirs != -1
    np.testing.assert_array_equal(model.predict(L)[decided], theirs[decided])
