"""Label models: the shared contract (run against every model), bad input, persistence,
and recovery of known parameters on synthetic data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from weaklabel.label_models import (
    DawidSkene,
    DegenerateFitWarning,
    LabelModel,
    MajorityVote,
    NotFittedError,
    SnorkelLabelModel,
    SourceQualityWarning,
    load_label_model,
)
from weaklabel.label_models.synthetic import bayes_posterior, make_synthetic_votes, with_copies
from weaklabel.matrix import LabelMatrix

try:
    import snorkel  # noqa: F401

    HAS_SNORKEL = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_SNORKEL = False

MODELS = [
    MajorityVote,
    DawidSkene,
    LabelModel,
    pytest.param(
        SnorkelLabelModel,
        # slow: the first fit imports torch
        marks=[
            pytest.mark.slow,
            pytest.mark.skipif(not HAS_SNORKEL, reason="snorkel not installed"),
        ],
    ),
]


@pytest.fixture(autouse=True)
def _one_thread():
    """Torch (inside Snorkel) and BLAS threads spin for seconds on busy shared runners."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data():
    """Independent sources with known parameters: 3 classes, 6 sources."""
    return make_synthetic_votes(3000, 6, 3, random_state=1)


def _fit(cls, votes, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceQualityWarning)
        return cls(random_state=0, **kwargs).fit(votes)


# ---------------------------------------------------------------------- conformance
@pytest.mark.parametrize("cls", MODELS)
def test_conformance(cls, data, tmp_path):
    votes = data.votes
    model = cls(random_state=0)
    assert model.fit(votes) is model
    probs = model.predict_proba(votes)
    assert probs.shape == (votes.n_rows, 3)
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.array_equal(model.predict(votes, tie_break="first"), probs.argmax(axis=1))
    # rows where every source abstains get the class prior
    silent = np.full((2, votes.n_sources), -1)
    assert np.allclose(model.predict_proba(silent), model.class_balance_)
    # deterministic given random_state, and clone() gives an unfitted twin
    again = clone(model).fit(votes)
    assert np.array_equal(again.predict_proba(votes), probs)
    assert np.array_equal(again.predict(votes), model.predict(votes))
    # invariant to the order of the rows
    order = np.random.default_rng(3).permutation(votes.n_rows)
    shuffled = clone(model).fit(votes.votes[order])
    assert np.allclose(shuffled.predict_proba(votes), probs, atol=1e-6)
    # better than chance on sources that are
    assert model.score(votes, data.y) > 0.6
    # save/load: JSON, same predictions, no estimator needed after load
    path = model.save(tmp_path / "model.json")
    assert json.loads(path.read_text())["model"] == cls.__name__
    loaded = cls.load(path)
    assert np.allclose(loaded.predict_proba(votes), probs)
    assert isinstance(load_label_model(path), cls)


@pytest.mark.parametrize("cls", MODELS)
def test_not_fitted_and_wrong_number_of_sources(cls, data):
    with pytest.raises(NotFittedError, match="call fit"):
        cls().predict_proba(data.votes)
    model = _fit(cls, data.votes)
    with pytest.raises(ValueError, match="5 sources but the model was fitted on 6"):
        model.predict_proba(data.votes.votes[:, :5])
    with pytest.raises(ValueError, match="sum to 1"):
        model.fit(data.votes, class_balance=[0.2, 0.2, 0.2])
    with pytest.raises(NotFittedError):  # a failed refit leaves no half-fitted model
        model.predict_proba(data.votes)


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize(
    ("votes", "kwargs", "message"),
    [
        (np.array([[0, 1], [np.nan, 1]]), {}, "(?i)nan at row 1, column 0"),
        (np.array([[0, 1], [3, 1]]), {"cardinality": 2}, "outside"),
        (np.array([[0, -2], [1, 1]]), {}, "-1 \\(abstain\\)"),
        (np.empty((0, 3), dtype=int), {}, "empty"),
        (np.array([[-1, -1], [-1, -1]]), {}, "cannot infer the number of classes"),
        (np.array([[0, 0], [0, -1]]), {}, "cannot infer the number of classes"),
    ],
)
def test_bad_votes(cls, votes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs).fit(votes)


@pytest.mark.parametrize("cls", [MajorityVote, DawidSkene, LabelModel])
def test_bad_dev_labels_and_class_balance(cls, data):
    votes = data.votes
    with pytest.raises(ValueError, match=r"y_dev .* has shape \(10,\), expected \(3000,\)"):
        cls().fit(votes, y_dev=np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="one label per row of L_dev"):
        cls().fit(votes, y_dev=np.zeros(10, dtype=int), L_dev=votes.votes[:20])
    with pytest.raises(ValueError, match="no known label"):
        cls().fit(votes, y_dev=np.full(3000, -1))
    with pytest.raises(ValueError, match="outside"):
        cls().fit(votes, y_dev=np.full(3000, 7))
    with pytest.raises(ValueError, match="sum to 1"):
        cls().fit(votes, class_balance=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="3 numbers"):
        cls().fit(votes, class_balance=[0.5, 0.5])


def test_labelmatrix_names_must_match(data):
    model = _fit(LabelModel, data.votes)
    renamed = LabelMatrix(data.votes.votes, [f"other_{j}" for j in range(6)], cardinality=3)
    with pytest.raises(ValueError, match="'other_0' but the model was fitted with 'synthetic_0'"):
        model.predict_proba(renamed)
    with pytest.raises(ValueError, match="cardinality=4 but the LabelMatrix has cardinality 3"):
        LabelModel(cardinality=4).fit(data.votes)


def test_tie_breaks():
    votes = np.array([[0, 1], [1, 1], [-1, -1]])
    model = MajorityVote(random_state=0).fit(votes)
    assert model.predict(votes, tie_break="abstain").tolist() == [-1, 1, -1]
    assert model.predict(votes, tie_break="first").tolist() == [0, 1, 0]
    rand = model.predict(np.tile(votes[:1], (200, 1)), tie_break="random")
    assert set(rand) == {0, 1}  # both sides of a tie get picked...
    assert np.array_equal(rand, model.predict(np.tile(votes[:1], (200, 1))))  # ...reproducibly
    with pytest.raises(ValueError, match="tie_break must be one of"):
        model.predict(votes, tie_break="coin")


def test_score_reports_positive_class_f1():
    votes = np.array([[1, 1], [0, 0], [1, 1], [0, 0]])
    scores = MajorityVote().fit(votes).evaluate(votes, [1, 1, 1, 0], metrics=("accuracy", "f1"))
    assert scores == pytest.approx({"accuracy": 0.75, "f1": 0.8})


def test_weighted_majority_vote():
    votes = np.array([[0, 1, 1], [1, 0, 0]])
    assert MajorityVote(weights=[3, 1, 1]).fit(votes).predict(votes).tolist() == [0, 1]
    with pytest.raises(ValueError, match="weights must be 3 non-negative"):
        MajorityVote(weights=[1, -1, 1]).fit(votes)


def test_dev_weights_are_the_log_odds_of_each_sources_dev_precision():
    # source 0 right on 9 of 10 dev rows, source 1 on 5 of 10 (chance for 2 classes), 2 never votes
    y = np.array([0, 1] * 5)
    votes = np.column_stack([np.where(np.arange(10) == 0, 1 - y, y), np.where(np.arange(10) < 5, y, 1 - y),
                             np.full(10, -1)])
    model = MajorityVote(weights="dev").fit(votes, y_dev=y)
    pooled = (14 + 1) / (20 + 2)
    expected = [(9 + 2 * pooled) / 12, (5 + 2 * pooled) / 12, pooled]
    np.testing.assert_allclose(model.weights_, np.maximum(np.log([p / (1 - p) for p in expected]), 0))
    assert model.weights_[0] > model.weights_[2] > model.weights_[1] > 0
    with pytest.raises(ValueError, match="weights='dev' learns each source's weight from gold labels"):
        MajorityVote(weights="dev").fit(votes)
    with pytest.raises(ValueError, match="per-source numbers or 'dev', got 'gold'"):
        MajorityVote(weights="gold").fit(votes, y_dev=y)


def test_load_rejects_other_files(tmp_path, data):
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a saved label model"):
        load_label_model(tmp_path / "x.json")
    path = _fit(MajorityVote, data.votes).save(tmp_path / "mv.json")
    with pytest.raises(ValueError, match="holds a MajorityVote, not a LabelModel"):
        LabelModel.load(path)


# ---------------------------------------------------------------------- synthetic recovery
def test_recovers_known_parameters():
    data = make_synthetic_votes(20_000, 8, 3, class_balance=[0.5, 0.3, 0.2], random_state=2)
    for model in (_fit(DawidSkene, data.votes), _fit(LabelModel, data.votes)):
        error = np.abs(model.cond_probs_ - data.cond_probs)
        assert error.mean() < 0.01 and error.max() < 0.05
        assert np.abs(model.class_balance_ - data.class_balance).max() < 0.02
    lm = _fit(LabelModel, data.votes)
    assert lm.estimator_ == "generative"
    assert lm.diagnostics_["misfit"] < lm.max_misfit


def test_close_to_bayes_optimal():
    data = make_synthetic_votes(30_000, 10, 2, random_state=4)
    bayes = (
        bayes_posterior(data.votes, data.cond_probs, data.class_balance).argmax(axis=1) == data.y
    ).mean()
    ours = _fit(LabelModel, data.votes).score(data.votes, data.y)
    assert ours >= bayes - 0.005


def test_duplicated_sources_count_once():
    data = with_copies(
        make_synthetic_votes(10_000, 8, 2, random_state=5), source=0, n_copies=4, random_state=6
    )
    lm = _fit(LabelModel, data.votes)
    copies = ["synthetic_0"] + [f"synthetic_0_copy{c}" for c in range(4)]
    assert lm.diagnostics_["duplicate_groups"] == [copies]
    assert np.allclose(lm.source_weights_[[0, 8, 9, 10, 11]], 0.2)
    mv = _fit(MajorityVote, data.votes).score(data.votes, data.y)
    assert lm.score(data.votes, data.y) > mv


def test_class_imbalance_beats_majority_vote():
    data = make_synthetic_votes(10_000, 10, 2, class_balance=[0.8, 0.2], random_state=7)
    lm = _fit(LabelModel, data.votes)
    assert lm.class_balance_[0] == pytest.approx(0.8, abs=0.02)
    mv = _fit(MajorityVote, data.votes).score(data.votes, data.y)
    assert lm.score(data.votes, data.y) > mv


def test_warns_about_an_inverted_source():
    data = make_synthetic_votes(
        10_000,
        6,
        2,
        accuracy=[0.85, 0.8, 0.75, 0.8, 0.85, 0.2],
        propensity=[0.5] * 6,
        random_state=8,
    )
    with pytest.warns(SourceQualityWarning, match="'synthetic_5'"):
        model = LabelModel(random_state=0).fit(data.votes)
    assert model.estimator_ == "generative"
    votes_for_own_class = model.cond_probs_[5, 1 + np.arange(2), np.arange(2)]
    assert np.all(votes_for_own_class < 0.5 * 0.5)  # learned: it is right 20% of the time


def test_collapse_is_detected_and_avoided():
    # every source votes class 0 on every row: nothing says class 1 exists
    votes = np.zeros((500, 5), dtype=int)
    with pytest.warns(DegenerateFitWarning, match="collapsed"):
        DawidSkene(cardinality=2).fit(votes)
    with pytest.warns(DegenerateFitWarning, match="anchored"):
        model = LabelModel(cardinality=2).fit(votes)
    assert model.estimator_ == "anchored"


def test_fit_chunks_matches_fit(data):
    chunks = [
        data.votes.take(np.arange(start, min(start + 700, 3000))) for start in range(0, 3000, 700)
    ]
    whole = _fit(LabelModel, data.votes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceQualityWarning)
        streamed = LabelModel(random_state=0).fit_chunks(iter(chunks))
    assert np.allclose(streamed.cond_probs_, whole.cond_probs_)
    assert np.allclose(streamed.predict_proba(data.votes), whole.predict_proba(data.votes))
    with pytest.raises(ValueError, match="pass cardinality="):
        LabelModel().fit_chunks([data.votes.votes])
    with pytest.raises(ValueError, match="chunk 1 has 5 sources"):
        LabelModel(cardinality=3).fit_chunks([data.votes.votes, data.votes.votes[:, :5]])
    with pytest.raises(ValueError, match="needs L_dev"):
        LabelModel(cardinality=3).fit_chunks([data.votes.votes], y_dev=data.y)


def test_dev_labels_pick_the_estimator():
    data = make_synthetic_votes(5000, 8, 2, random_state=10)
    dev = make_synthetic_votes(
        300, 8, 2, accuracy=data.accuracy, propensity=data.propensity, random_state=11
    )
    model = _fit(LabelModel, data.votes)
    with_dev = LabelModel(random_state=0).fit(data.votes, y_dev=dev.y, L_dev=dev.votes)
    assert set(with_dev.diagnostics_["dev_scores"]) == {
        f"{estimator}, {balance}"
        for estimator in ("generative", "anchored", "anchored, dev weights")
        for balance in ("learned balance", "dev-blended balance")
    }
    assert with_dev.estimator_ == "generative" == model.estimator_
    # the class balance is the learned one or its average with the dev frequencies
    dev_freq = (np.bincount(dev.y, minlength=2) + 1) / (len(dev.y) + 2)
    candidates = [model.class_balance_, (model.class_balance_ + dev_freq) / 2]
    assert any(np.allclose(with_dev.class_balance_, c, atol=1e-6) for c in candidates)
    # a given class balance is used as is
    fixed = LabelModel(random_state=0).fit(
        data.votes, y_dev=dev.y, L_dev=dev.votes, class_balance=[0.3, 0.7]
    )
    assert np.allclose(fixed.class_balance_, [0.3, 0.7])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SNORKEL, reason="snorkel not installed")
def test_snorkel_wrapper_predicts_like_snorkel(data, tmp_path):
    model = SnorkelLabelModel(random_state=0).fit(data.votes)
    assert np.allclose(
        model.predict_proba(data.votes), model.model_.predict_proba(data.votes.to_numpy())
    )
    loaded = SnorkelLabelModel.load(model.save(tmp_path / "snorkel.json"))
    assert not hasattr(loaded, "model_")
    assert np.allclose(loaded.predict_proba(data.votes), model.predict_proba(data.votes))


def test_weighted_majority_vote_saves_array_weights(tmp_path):
    votes = np.array([[0, 1, 1], [1, 0, 0]])
    model = MajorityVote(weights=np.array([3.0, 1.0, 1.0])).fit(votes)
    loaded = MajorityVote.load(model.save(tmp_path / "mv.json"))
    assert loaded.predict(votes).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"estimator": "best"}, "estimator must be one of"),
        ({"dev_metric": "auc"}, "dev_metric must be"),
        ({"duplicate_threshold": 0.0}, "duplicate_threshold must be in"),
        ({"smoothing": -1.0}, "smoothing >= 0"),
    ],
)
def test_label_model_parameters_are_checked(params, message, data):
    with pytest.raises(ValueError, match=message):
        LabelModel(**params).fit(data.votes)
    with pytest.raises(ValueError, match="has no parameter 'alpha'"):
        LabelModel().set_params(alpha=1)


@pytest.mark.parametrize("estimator", ["generative", "anchored"])
def test_forced_estimator(estimator, data):
    model = _fit(LabelModel, data.votes, estimator=estimator)
    assert model.estimator_ == estimator
    assert model.score(data.votes, data.y) > 0.6


@pytest.mark.parametrize(("m", "k"), [(1, 2), (7, 2), (8, 2), (50, 4), (3, 40), (2, 300)])
def test_grouped_table_lookups_equal_the_per_source_sum(m, k):
    from weaklabel.label_models._posterior import _lookup_sum

    rng = np.random.default_rng(m * 1000 + k)
    votes = rng.integers(-1, k, size=(5000, m))
    table = rng.normal(size=(m, k + 1, k))
    expected = table[np.arange(m)[None, :], votes + 1].sum(axis=1)
    assert np.allclose(_lookup_sum(votes, table), expected, rtol=0, atol=1e-9)


def test_dev_labels_switch_only_past_the_margin():
    data = make_synthetic_votes(3000, 8, 2, random_state=3)
    dev = make_synthetic_votes(
        40, 8, 2, accuracy=data.accuracy, propensity=data.propensity, random_state=4
    )
    plain = _fit(LabelModel, data.votes)
    kept = LabelModel(dev_margin=np.inf, random_state=0).fit(
        data.votes, y_dev=dev.y, L_dev=dev.votes
    )
    assert kept.diagnostics_["dev_choice"] == f"{plain.estimator_}, learned balance"
    assert np.allclose(kept.predict_proba(data.votes), plain.predict_proba(data.votes))
    eager = LabelModel(dev_margin=-np.inf, random_state=0).fit(
        data.votes, y_dev=dev.y, L_dev=dev.votes
    )
    scores = eager.diagnostics_["dev_scores"]
    assert scores[eager.diagnostics_["dev_choice"]] == max(scores.values())


def test_dev_weights_are_saved_and_loaded(tmp_path):
    data = make_synthetic_votes(2000, 6, 3, random_state=5)
    weights = np.array([3.0, 0.0, 1.0, 1.0, 2.0, 0.5])
    model = _fit(LabelModel, data.votes)
    model.estimator_, model.vote_weights_ = "anchored", weights
    loaded = LabelModel.load(model.save(tmp_path / "m.json"))
    assert np.array_equal(loaded.vote_weights_, weights)
    assert np.allclose(loaded.predict_proba(data.votes), model.predict_proba(data.votes))
    plain = _fit(LabelModel, data.votes)
    plain.estimator_ = "anchored"
    assert not np.allclose(plain.predict_proba(data.votes), model.predict_proba(data.votes))


def test_silence_is_evidence_for_the_class_whose_sources_rarely_fire(tmp_path):
    """Keyword LFs written for spam fire on most spam; the rows nobody votes on are mostly ham,
    although the rows with votes are mostly spam (the prior of the voted rows says spam)."""
    rng = np.random.default_rng(0)
    y = (rng.random(6000) < 0.5).astype(int)
    spam_lfs = np.where((rng.random((6000, 6)) < np.where(y[:, None] == 1, 0.45, 0.03)), 1, -1)
    ham_lfs = np.where((rng.random((6000, 2)) < np.where(y[:, None] == 0, 0.15, 0.02)), 0, -1)
    votes = np.hstack([spam_lfs, ham_lfs])
    model = _fit(LabelModel, votes, estimator="anchored")  # (these sources are independent)
    silent = (votes == -1).all(axis=1)
    assert y[silent].mean() < 0.1 and model.class_balance_.argmax() == 1  # voted rows: spam
    assert model.silent_proba_[0] > 0.8
    assert (model.predict(votes)[silent] == 0).all()
    loaded = LabelModel.load(model.save(tmp_path / "model.json"))
    assert np.allclose(loaded.predict_proba(votes[silent]), model.silent_proba_)
    # a given class balance is used as given for silent rows
    fixed = LabelModel(estimator="anchored", random_state=0).fit(votes, class_balance=[0.3, 0.7])
    assert fixed.silent_proba_ is None
    assert np.allclose(fixed.predict_proba(votes[silent]), [0.3, 0.7])
