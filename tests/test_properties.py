"""Property tests: round-trips, every applier path agrees, bad values are always rejected."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from weaklabel.analysis import lf_summary
from weaklabel.apply import InvalidVoteError, apply_lfs
from weaklabel.lf import ABSTAIN, LabelingFunction, VectorizedLabelingFunction, keyword_lf, regex_lf
from weaklabel.matrix import LabelMatrix

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Texts mixing ASCII words with the characters where Python's re and RE2 differ.
_WORDS = ["sub", "subscribe", "check", "out", "song", "love", "free", "Sub", "CHECK", "1234"]
_ODD = [
    "ſ",
    "K",
    "ı",
    "İ",
    "é",
    "É",
    "١",
    "\u00a0",
    "\x0b",
    "\n",
    "\ufeff",
    "😀",
    "ⓚ",
    "_",
    "-",
    "!",
    " ",
]
_TEXT = st.lists(
    st.one_of(st.sampled_from(_WORDS), st.sampled_from(_ODD), st.text(max_size=4)), max_size=12
).map("".join)
_VALUE = st.one_of(_TEXT, st.none(), st.just(np.nan), st.integers(-5, 5))

_PATTERNS = [
    (r"(?<!\w)(?:subscribe|sub)(?!\w)", re.I),
    (r"check.{0,8}out", re.I),
    (r"\bsong\b", 0),
    (r"\d{2,}", 0),
    (r"love$", re.I),
    (r"\s\w+\s", 0),
    (r"^[A-Z]", re.M),
    (r"free|ſ", re.I),
]


def _vectorised():
    lfs = [
        regex_lf(f"re_{j}", pattern, j % 2, flags=flags)
        for j, (pattern, flags) in enumerate(_PATTERNS)
    ]
    lfs.append(keyword_lf("kw_words", ["sub", "check out", "é"], 1))
    lfs.append(keyword_lf("kw_case", ["Sub", "K"], 0, case_sensitive=True))
    lfs.append(keyword_lf("kw_part", ["ub", "ç"], 1, whole_word=False))
    return lfs


def _row_wise():
    def vote(x, pattern, label):
        return label if isinstance(x.text, str) and pattern.search(x.text) else ABSTAIN

    return [
        LabelingFunction(lf.name, vote, resources={"pattern": lf.pattern, "label": lf.label})
        for lf in _vectorised()
    ]


@_SETTINGS
@given(texts=st.lists(_VALUE, max_size=40), batch_size=st.integers(1, 50))
def test_vectorised_and_row_wise_paths_agree_on_random_texts(texts, batch_size):
    data = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    vectorised = apply_lfs(
        _vectorised(), data, cardinality=2, batch_size=batch_size, progress=False
    )
    row_wise = apply_lfs(_row_wise(), data, cardinality=2, progress=False)
    assert vectorised == row_wise


@settings(max_examples=8, deadline=None)
@given(texts=st.lists(_TEXT, min_size=2, max_size=40))
def test_parallel_row_wise_path_agrees(texts):
    data = pd.DataFrame({"text": texts})
    serial = apply_lfs(_row_wise(), data, cardinality=2, progress=False)
    assert (
        apply_lfs(_row_wise(), data, cardinality=2, n_jobs=2, batch_size=3, progress=False)
        == serial
    )
    assert apply_lfs(_vectorised(), data, cardinality=2, progress=False) == serial


@_SETTINGS
@given(texts=st.lists(st.text(), max_size=30))
def test_keyword_lf_equals_its_pattern_on_arbitrary_unicode(texts):
    data = pd.DataFrame({"text": texts})
    for lf in _vectorised():
        expected = [lf.label if lf.pattern.search(t) else ABSTAIN for t in texts]
        assert lf(data).tolist() == expected, lf.name


# ---------------------------------------------------------------- label matrix round-trips
_ROW_IDS = st.one_of(
    st.lists(st.integers(-(2**62), 2**62), unique=True, max_size=25),
    st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=25),
)


@st.composite
def _matrices(draw):
    ids = draw(_ROW_IDS)
    m = draw(st.integers(0, 5))
    cardinality = draw(st.sampled_from([2, 3, 7, 130]))
    votes = draw(hnp.arrays(np.int64, (len(ids), m), elements=st.integers(-1, cardinality - 1)))
    names = [f"lf{j}" for j in range(m)]
    class_names = draw(st.one_of(st.none(), st.just([f"c{k}" for k in range(cardinality)])))
    errors = {name: draw(st.integers(0, 9)) for name in names}
    return LabelMatrix(
        votes,
        names,
        cardinality=cardinality,
        class_names=class_names,
        index=ids,
        error_counts=errors,
    )


@_SETTINGS
@given(L=_matrices(), suffix=st.sampled_from([".npz", ".parquet"]))
def test_label_matrix_save_load_round_trip(tmp_path, L, suffix):
    loaded = LabelMatrix.load(L.save(tmp_path / f"m{suffix}"))
    assert loaded == L and loaded.error_counts == L.error_counts
    assert loaded.votes.dtype == L.votes.dtype


# ---------------------------------------------------------------- bad values rejected
_NOT_A_VOTE = st.one_of(
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.integers(max_value=-2),
    st.integers(min_value=2),
)


@_SETTINGS
@given(bad=_NOT_A_VOTE, position=st.integers(0, 4))
def test_invalid_votes_are_always_rejected(bad, position):
    data = pd.DataFrame({"text": list("abcde")}, index=[f"r{i}" for i in range(5)])
    row = LabelingFunction("row", lambda x: bad if x.text == "abcde"[position] else ABSTAIN)
    vec = VectorizedLabelingFunction(
        "vec", lambda df: [bad if t == "abcde"[position] else ABSTAIN for t in df["text"]]
    )
    for lf in (row, vec):
        with pytest.raises(InvalidVoteError) as info:
            apply_lfs([lf], data, cardinality=2, progress=False)
        assert info.value.lf_name == lf.name and info.value.row == f"r{position}"


@_SETTINGS
@given(
    votes=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=st.integers(-3, 4)
    )
)
def test_label_matrix_accepts_exactly_the_valid_votes(votes):
    valid = votes.size == 0 or (votes.min() >= -1 and votes.max() < 3)
    names = [f"lf{j}" for j in range(votes.shape[1])]
    if valid:
        assert np.array_equal(LabelMatrix(votes, names, cardinality=3).to_numpy(), votes)
    else:
        with pytest.raises(ValueError, match="label matrix holds the vote"):
            LabelMatrix(votes, names, cardinality=3)


@_SETTINGS
@given(
    votes=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 30), st.integers(1, 5)), elements=st.integers(-1, 2)
    ),
    data=st.data(),
)
def test_lf_summary_invariants(votes, data):
    gold = np.asarray(data.draw(hnp.arrays(np.int64, votes.shape[0], elements=st.integers(-1, 2))))
    summary = lf_summary(
        LabelMatrix(votes, [f"lf{j}" for j in range(votes.shape[1])], cardinality=3), gold
    )
    assert (summary["coverage"] >= summary["overlaps"]).all()
    assert (summary["overlaps"] >= summary["conflicts"]).all()
    voted_with_gold = ((votes != -1) & (gold[:, None] != -1)).sum(axis=0)
    assert (summary["correct"] + summary["incorrect"]).tolist() == voted_with_gold.tolist()
    assert summary["coverage"].tolist() == pytest.approx((votes != -1).mean(axis=0).tolist())
