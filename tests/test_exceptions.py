"""One error root and one warning root for everything the library raises on purpose."""

import inspect
import warnings

import numpy as np
import pytest

import weaklabel
from weaklabel import exceptions
from weaklabel.config import ConfigError, load_config


def test_every_public_error_and_warning_has_the_root():
    classes = [getattr(exceptions, name) for name in exceptions.__all__]
    assert all(inspect.isclass(cls) for cls in classes)
    for cls in classes:
        root = exceptions.WeaklabelWarning if issubclass(cls, Warning) else exceptions.WeaklabelError
        assert issubclass(cls, root), cls


def test_the_old_import_paths_still_name_the_same_classes():
    from weaklabel.apply import InvalidVoteError
    from weaklabel.label_models import DegenerateFitWarning
    from weaklabel.llm import LLMStatusError
    from weaklabel.stream import ManifestMismatchError

    assert InvalidVoteError is exceptions.InvalidVoteError
    assert DegenerateFitWarning is exceptions.DegenerateFitWarning
    assert LLMStatusError is exceptions.LLMStatusError
    assert ManifestMismatchError is exceptions.ManifestMismatchError
    assert weaklabel.WeaklabelError is exceptions.WeaklabelError


def test_a_real_config_error_is_caught_by_the_root(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: {source: nowhere}\n")
    with pytest.raises(weaklabel.WeaklabelError) as caught:
        load_config(path)
    assert isinstance(caught.value, ConfigError)


def test_a_label_model_warning_is_caught_by_the_warning_root():
    votes = np.array([[1, -1], [1, 1], [-1, 1], [1, -1]])  # nobody votes class 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weaklabel.LabelModel(cardinality=2, random_state=0).fit(votes)
    assert any(issubclass(w.category, exceptions.WeaklabelWarning) for w in caught)
