"""Label models on the real WRENCH label matrices in ../shared/data: the floors of issue 4.

Fitted on train votes only, scored on test. Binary tasks: F1 of the positive class (spam);
TREC: accuracy. The majority-vote baseline breaks ties the way Snorkel's does by default
(it abstains, which counts as a wrong / negative prediction); the benchmark
(benchmarks/label_models.py) also reports random tie-breaking and Snorkel.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from weaklabel.data import load_wrench_stack
from weaklabel.label_models import LabelModel, MajorityVote
from weaklabel.matrix import LabelMatrix
from weaklabel.metrics import score_predictions

DATASETS = [
    "youtube",
    "sms",
    "trec",
    "youtube_prompted_original",
    "sms_prompted_original",
    "youtube+youtube_prompted_original",
    "sms+sms_prompted_original",
]

pytestmark = pytest.mark.slow


@cache
def _split(root: str, name: str, split: str) -> tuple[LabelMatrix, np.ndarray]:
    _, L, y = load_wrench_stack([Path(root) / part for part in name.split("+")], split)
    return L, y


def _primary(model, L, y) -> float:
    """Positive-class F1 (binary) or accuracy; an abstained prediction is a miss."""
    pred = model.predict(L, tie_break="abstain")
    if L.cardinality == 2:
        return 100 * score_predictions(y, np.where(pred < 0, 0, pred), ("f1",))["f1"]
    return 100 * float(np.mean(pred == y))


@cache
def _scores(root: str, name: str) -> dict[str, float]:
    train, _ = _split(root, name, "train")
    test, y_test = _split(root, name, "test")
    valid, y_valid = _split(root, name, "valid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = LabelModel(random_state=0).fit(train)
        with_dev = LabelModel(random_state=0).fit(train, y_dev=y_valid, L_dev=valid)
    return {
        "label_model": _primary(ours, test, y_test),
        "label_model_dev": _primary(with_dev, test, y_test),
        "majority_vote": _primary(MajorityVote(random_state=0).fit(train), test, y_test),
        "estimator": ours.estimator_,
    }


@pytest.mark.parametrize("name", DATASETS)
def test_label_model_is_not_worse_than_majority_vote(name, wrench_dir):
    for part in name.split("+"):
        wrench_dir(part)
    scores = _scores(str(wrench_dir(name.split("+")[0]).parent), name)
    # measured: the closest is sms_prompted_original, 58.3 vs 59.4 (majority vote abstaining
    # on ties, which on these prompt sets is the best peer; with random ties it is 47.3)
    assert scores["label_model"] >= scores["majority_vote"] - 1.5, scores
    # gold dev labels may only help (up to the noise of a few hundred labels)
    assert scores["label_model_dev"] >= scores["label_model"] - 1.0, scores


def test_label_model_beats_majority_vote_on_average(shared_data):
    for name in DATASETS:
        for part in name.split("+"):
            if not (shared_data / part).exists():
                pytest.skip(f"{part} not in the shared data")
    scores = [_scores(str(shared_data), name) for name in DATASETS]
    ours = np.mean([s["label_model"] for s in scores])
    majority = np.mean([s["majority_vote"] for s in scores])
    assert ours >= majority + 2.0, (ours, majority)


def test_real_sources_are_not_trusted_as_independent(shared_data, wrench_dir):
    """LLM prompts fire together: the generative fit fails its checks and is not used."""
    train, _ = _split(str(shared_data), "youtube_prompted_original", "train")
    wrench_dir("youtube_prompted_original")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LabelModel(random_state=0).fit(train)
    assert model.estimator_ == "anchored"
    assert model.diagnostics_["misfit"] > model.max_misfit
    probs = model.predict_proba(train)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert 0.2 < probs.argmax(axis=1).mean() < 0.8  # both classes predicted: no collapse


def test_sources_that_all_vote_one_class_give_a_warning_not_a_learned_one_class_prior(shared_data):
    # Two SMS LFs that only ever vote SPAM: the votes say nothing about how common HAM is.
    # A learned prior would be ~1.0 for SPAM and label every silent message spam.
    from weaklabel.label_models import DegenerateFitWarning

    train, _ = _split(str(shared_data), "sms", "train")
    test, y_test = _split(str(shared_data), "sms", "test")
    votes = train.to_numpy()
    spam_only = [
        name for j, name in enumerate(train.lf_names) if set(np.unique(votes[:, j])) == {-1, 1}
    ][:2]
    assert len(spam_only) == 2
    with pytest.warns(DegenerateFitWarning, match="no source votes for class 0"):
        model = LabelModel(random_state=0).fit(train.select(spam_only))
    assert model.estimator_ == "anchored" and model.diagnostics_["unvoted_classes"] == [0]
    assert np.allclose(model.class_balance_, [0.5, 0.5])
    silent = (test.select(spam_only).to_numpy() == -1).all(axis=1)
    assert silent.sum() > 400
    assert (model.predict(test.select(spam_only), tie_break="abstain")[silent] == -1).all()
    # a known balance is used as given, and a few gold labels give one too
    fixed = LabelModel(random_state=0).fit(train.select(spam_only), class_balance=[0.87, 0.13])
    assert np.allclose(fixed.class_balance_, [0.87, 0.13])
    valid, y_valid = _split(str(shared_data), "sms", "valid")
    with pytest.warns(DegenerateFitWarning, match="learned from y_dev"):
        dev = LabelModel(random_state=0).fit(
            train.select(spam_only), y_dev=y_valid, L_dev=valid.select(spam_only)
        )
    assert dev.class_balance_[0] > 0.6
    assert (dev.predict(test.select(spam_only))[silent] == 0).all()
    assert y_test[silent].mean() < 0.2


def test_dev_weighted_majority_vote_lifts_the_trec_labels(shared_data):
    """weights="dev": each TREC LF weighted by its log-odds of being right on the valid rows."""
    train, y_train = _split(str(shared_data), "trec", "train")
    valid, y_valid = _split(str(shared_data), "trec", "valid")
    covered = (train.votes != -1).any(axis=1)
    plain = MajorityVote(random_state=0).fit(train)
    weighted = MajorityVote(weights="dev", random_state=0).fit(train, y_dev=y_valid, L_dev=valid)
    accuracy = {
        name: float(np.mean(model.predict(train)[covered] == y_train[covered]))
        for name, model in [("plain", plain), ("weighted", weighted)]
    }
    # measured: 0.53 -> 0.59 on the train rows with a vote (ties broken at random)
    assert accuracy["weighted"] > accuracy["plain"] + 0.04, accuracy
    assert weighted.weights_.min() == 0 and weighted.weights_.max() > 3


def test_dev_labels_weight_the_trec_lfs_in_the_default(shared_data):
    """With TREC's 500 valid labels the default reweights its majority vote by each LF's dev
    log-odds: test accuracy 61.6 -> 65.4 (measured; benchmarks/label_models.py, dev part)."""
    train, _ = _split(str(shared_data), "trec", "train")
    valid, y_valid = _split(str(shared_data), "trec", "valid")
    test, y_test = _split(str(shared_data), "trec", "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = LabelModel(random_state=0).fit(train)
        with_dev = LabelModel(random_state=0).fit(train, y_dev=y_valid, L_dev=valid)
    assert with_dev.diagnostics_["dev_choice"].startswith("anchored, dev weights")
    accuracy = [float(np.mean(m.predict(test) == y_test)) for m in (plain, with_dev)]
    assert accuracy[1] >= accuracy[0] + 0.03, accuracy


def test_ties_on_trec_go_to_the_votes_evidence_not_the_decided_rows_prior(shared_data):
    """TREC's one-class LFs tie on 48 test rows; the class prior learned where majority vote
    decides points away from the gold class there (measured: posterior 21%, coin 38%,
    likelihood 44% of the tied rows; test accuracy 59.4 -> 61.6, MV 60.9)."""
    from weaklabel.label_models._posterior import vote_counts

    train, _ = _split(str(shared_data), "trec", "train")
    test, y_test = _split(str(shared_data), "trec", "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {tb: LabelModel(tiebreak=tb, random_state=0).fit(train) for tb in ("posterior", "likelihood")}
    counts = vote_counts(test.votes, 6, models["likelihood"].source_weights_)
    tied = ((counts >= counts.max(axis=1, keepdims=True) - 1e-9).sum(axis=1) > 1) & (counts.max(axis=1) > 0)
    on_ties = {tb: float(np.mean(m.predict(test)[tied] == y_test[tied])) for tb, m in models.items()}
    assert tied.sum() > 30 and on_ties["likelihood"] > on_ties["posterior"] + 0.15, on_ties
    assert LabelModel().tiebreak == "likelihood"


@pytest.mark.parametrize(
    "task", ["emotion", "semeval_stance", "ibc", "discourse", "wiki_politeness", "conv_go_awry", "reddit_humor"]
)
def test_llm_votes_transductive_not_worse_than_majority_vote(shared_data, task):
    """Real votes of 13 LLMs (llms_for_css), fitted and scored on the one split."""
    from weaklabel.data import load_llm_votes

    folder = shared_data / "llms_for_css" / task
    if not folder.exists():
        pytest.skip(f"no {folder}")
    _, L, y = load_llm_votes(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = LabelModel(random_state=0).fit(L)
    majority = MajorityVote(random_state=0).fit(L)
    accuracy = [float(np.mean(m.predict(L) == y)) for m in (ours, majority)]
    assert accuracy[0] >= accuracy[1] - 0.01, accuracy
