"""The applier: input kinds, identical results on every path, errors that name LF, row and value."""

from __future__ import annotations

import enum
import re

import numpy as np
import pandas as pd
import pytest

from weaklabel.analysis import lf_summary
from weaklabel.apply import InvalidVoteError, LabelingFunctionError, apply_lfs, as_frame
from weaklabel.data import read_uci_youtube
from weaklabel.lf import (
    ABSTAIN,
    BatchLabelingFunction,
    LabelingFunction,
    VectorizedLabelingFunction,
    keyword_lf,
    labeling_function,
    regex_lf,
)

SPAM, HAM = 1, 0
_SPECS = [  # (name, regex, label): each LF written both vectorised and row-wise below
    ("subscribe", r"(?<!\w)(?:subscribe|sub)(?!\w)", SPAM),
    ("check_out", r"check.{0,20}out", SPAM),
    ("link", r"https?://|www\.", SPAM),
    ("please", r"\b(?:please|plz|pls)\b", SPAM),
    ("song", r"\bsong\b", HAM),
    ("love", r"\blove\b", HAM),
    ("my_channel", r"\bmy (?:channel|video)", SPAM),
    ("shouting", r"[A-Z]{6,}", SPAM),
]


def _vectorised_lfs():
    return [
        regex_lf(name, pattern, label, flags=0 if name == "shouting" else re.I)
        for name, pattern, label in _SPECS
    ]


def _row_lfs():
    lfs = []
    for lf in _vectorised_lfs():

        def vote(x, pattern=lf.pattern, label=lf.label):
            return label if isinstance(x.text, str) and pattern.search(x.text) else ABSTAIN

        lfs.append(LabelingFunction(lf.name, vote))
    return lfs


@pytest.fixture(scope="module")
def youtube(shared_data):
    return read_uci_youtube(shared_data / "youtube_uci_raw")


class _Recorder(BatchLabelingFunction):
    """A minimal batch source: records its calls, votes SPAM on texts longer than 50."""

    def __init__(self, name="recorder"):
        self.name = name
        self.calls = []

    def apply_batch(self, data, *, progress=True):
        self.calls.append(len(data))
        return [SPAM if len(t) > 50 else ABSTAIN for t in data["text"]]


# ---------------------------------------------------------------- inputs
def test_input_kinds_give_the_same_votes():
    texts = ["please subscribe", "nice song", "check it out http://x"]
    lfs = _vectorised_lfs()
    expected = apply_lfs(lfs, pd.DataFrame({"text": texts}), progress=False)
    for data in (
        pd.Series(texts),
        pd.Series(texts, name="text"),
        texts,
        tuple(texts),
        np.array(texts, dtype=object),
        [{"text": t, "other": i} for i, t in enumerate(texts)],
    ):
        assert apply_lfs(lfs, data, progress=False) == expected
    assert expected.to_numpy()[:, 0].tolist() == [SPAM, ABSTAIN, ABSTAIN]


def test_bad_inputs_are_rejected_clearly():
    lf = keyword_lf("k", "a", 1)
    with pytest.raises(
        TypeError, match=r"only strings, only dicts or only namespaces; found \['NoneType', 'str'\].*position 1"
    ):
        apply_lfs([lf], ["a", None], progress=False)
    with pytest.raises(TypeError, match="cannot label data of type int"):
        apply_lfs([lf], 5, progress=False)
    with pytest.raises(ValueError, match=r"row ids must be unique; 'x' appears more than once"):
        apply_lfs([lf], pd.DataFrame({"text": ["a", "b"]}, index=["x", "x"]), progress=False)
    frame = pd.DataFrame([["a", "b"]], columns=["text", "text"])
    with pytest.raises(ValueError, match="column names must be unique; 'text'"):
        apply_lfs([lf], frame, progress=False)
    with pytest.raises(KeyError, match="reads column 'text'"):
        apply_lfs([lf], pd.DataFrame({"body": ["a"]}), progress=False)


def test_arguments_are_validated():
    lf, data = keyword_lf("k", "a", 1), ["a"]
    for kwargs, message in [
        ({"on_error": "ignore"}, "on_error must be"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"n_jobs": 0}, "n_jobs must be a positive integer"),
        ({"cardinality": 1}, "cardinality must be an integer in"),
        ({"cardinality": 2.0}, "cardinality must be an integer in"),
    ]:
        with pytest.raises(ValueError, match=message):
            apply_lfs([lf], data, progress=False, **kwargs)
    with pytest.raises(ValueError, match="no labeling functions given"):
        apply_lfs([], data, progress=False)
    with pytest.raises(TypeError, match=r"use load_lfs\('labeling_functions.youtube'\)"):
        apply_lfs("labeling_functions.youtube", data, progress=False)


def test_a_single_lf_and_class_names():
    L = apply_lfs(keyword_lf("k", "a", 1), ["a", "b"], class_names=["ham", "spam"], progress=False)
    assert L.lf_names == ["k"] and L.cardinality == 2 and L.class_names == ["ham", "spam"]
    with pytest.raises(InvalidVoteError, match=r"in \[0, 1\]"):
        apply_lfs(keyword_lf("k", "a", 2), ["a"], class_names=["ham", "spam"], progress=False)


def test_row_ids_become_the_matrix_index():
    frame = pd.DataFrame({"text": ["sub now", "ok"]}, index=pd.Index(["c1", "c2"], name="comment"))
    L = apply_lfs(_vectorised_lfs(), frame, progress=False)
    assert L.index.equals(frame.index)
    assert L.to_dataframe().loc["c1", "subscribe"] == SPAM


def test_row_lfs_see_missing_values_and_odd_column_names():
    @labeling_function()
    def missing(x):
        return 1 if not isinstance(x["text"], str) else 0

    @labeling_function()
    def by_position(x):
        return 1 if x[0] > 1 else 0

    L = apply_lfs([missing], pd.DataFrame({"text": ["a", None, np.nan]}), progress=False)
    assert L.to_numpy()[:, 0].tolist() == [0, 1, 1]
    L = apply_lfs([by_position], pd.DataFrame({0: [1, 2]}), progress=False)
    assert L.to_numpy()[:, 0].tolist() == [0, 1]


# ---------------------------------------------------------------- every path agrees
def test_serial_parallel_and_vectorised_paths_agree_on_real_data(youtube):
    vectorised = apply_lfs(_vectorised_lfs(), youtube, progress=False)
    serial = apply_lfs(_row_lfs(), youtube, progress=False)
    parallel = apply_lfs(_row_lfs(), youtube, n_jobs=2, progress=False)
    assert vectorised == serial == parallel
    assert (vectorised.votes != ABSTAIN).sum(axis=0).min() > 10  # every LF votes on real data
    mixed = apply_lfs(_row_lfs()[:4] + _vectorised_lfs()[4:], youtube, n_jobs=2, progress=False)
    np.testing.assert_array_equal(mixed.votes, vectorised.votes)


@pytest.mark.parametrize("batch_size", [1, 7, 500, 100_000])
def test_batch_size_does_not_change_the_result(youtube, batch_size):
    data = youtube.iloc[:120]
    expected = apply_lfs(_vectorised_lfs(), data, progress=False)
    assert apply_lfs(_vectorised_lfs(), data, batch_size=batch_size, progress=False) == expected
    assert apply_lfs(_row_lfs(), data, batch_size=batch_size, progress=False) == expected


def test_batch_lf_is_called_once_with_all_rows(youtube):
    recorder = _Recorder()
    L = apply_lfs([recorder, *_vectorised_lfs()], youtube, batch_size=100, n_jobs=2, progress=False)
    assert recorder.calls == [len(youtube)]
    long_texts = youtube["text"].str.len() > 50
    assert (
        L.select("recorder").to_numpy()[:, 0].tolist()
        == np.where(long_texts, SPAM, ABSTAIN).tolist()
    )


def test_vectorised_series_in_another_order_is_aligned_by_row_id():
    @labeling_function(vectorized=True, column="text")
    def shuffled(texts):
        return pd.Series(np.where(texts.str.len() > 1, 1, 0), index=texts.index).iloc[::-1]

    L = apply_lfs(
        [shuffled], pd.DataFrame({"text": ["aa", "b", "cc"]}, index=[10, 11, 12]), progress=False
    )
    assert L.to_numpy()[:, 0].tolist() == [1, 0, 1]


# ---------------------------------------------------------------- errors
@labeling_function()
def _fails_on_love(x):
    if "love" in x.text.lower():
        raise ZeroDivisionError("no love here")
    return ABSTAIN


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_on_error_raise_names_lf_row_and_cause(youtube, n_jobs):
    data = youtube.iloc[:400]
    first = int(np.flatnonzero(data["text"].str.lower().str.contains("love"))[0])
    with pytest.raises(LabelingFunctionError) as info:
        apply_lfs([_fails_on_love], data, n_jobs=n_jobs, progress=False)
    error = info.value
    assert error.lf_name == "_fails_on_love" and error.row == data.index[first]
    assert (
        f"LF '_fails_on_love' raised ZeroDivisionError: no love here on row {data.index[first]}"
        in str(error)
    )
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_on_error_abstain_counts_errors_per_lf(youtube):
    data = youtube.iloc[:400]
    n_love = int(data["text"].str.lower().str.contains("love").sum())

    @labeling_function(vectorized=True)
    def broken_vectorised(df):
        raise RuntimeError("boom")

    L = apply_lfs(
        [_fails_on_love, broken_vectorised, keyword_lf("song", "song", 0)],
        data,
        on_error="abstain",
        batch_size=150,
        cardinality=2,
        progress=False,
    )
    assert L.error_counts == {"_fails_on_love": n_love, "broken_vectorised": 400, "song": 0}
    assert (L.select(["_fails_on_love", "broken_vectorised"]).votes == ABSTAIN).all()
    assert lf_summary(L)["errors"].tolist() == [n_love, 400, 0]
    parallel = apply_lfs(
        [_fails_on_love], data, on_error="abstain", n_jobs=2, cardinality=2, progress=False
    )
    assert parallel.error_counts == {"_fails_on_love": n_love}


def test_vectorised_error_names_the_batch():
    @labeling_function(vectorized=True)
    def broken(df):
        raise RuntimeError("boom")

    with pytest.raises(
        LabelingFunctionError,
        match=r"LF 'broken' raised RuntimeError: boom on the batch of rows 0\.\.2",
    ) as info:
        apply_lfs([broken], ["a", "b", "c"], progress=False)
    assert isinstance(info.value.__cause__, RuntimeError)


class _Label(enum.IntEnum):
    HAM = 0
    SPAM = 1


@pytest.mark.parametrize("value", [np.int64(1), np.int8(0), _Label.SPAM, 1, -1])
def test_integer_like_votes_are_accepted(value):
    lf = LabelingFunction("v", lambda x: value)
    assert apply_lfs([lf], ["a"], cardinality=2, progress=False).to_numpy()[0, 0] == int(value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1.0, r"1\.0 \(float\).*floats are not votes"),
        (None, r"None \(NoneType\).*instead of None"),
        (True, r"True \(bool\).*booleans are not votes"),
        ("1", r"'1' \(str\)"),
        (5, r"5 \(int\).*in \[0, 1\]"),
        (-2, r"-2 \(int\)"),
        (10**30, r"1000000000000000000000000000000 \(int\)"),
        (np.float64(0.5), r"0\.5 \(float64\)"),
    ],
)
@pytest.mark.parametrize("kind", ["row", "vectorised", "parallel"])
def test_invalid_votes_name_lf_row_and_value(value, shown, kind):
    data = pd.DataFrame({"text": ["ok", "bad", "ok"]}, index=["r0", "r1", "r2"])
    if kind == "vectorised":
        lf = VectorizedLabelingFunction(
            "odd", lambda df: [value if t == "bad" else ABSTAIN for t in df["text"]]
        )
    else:
        lf = LabelingFunction("odd", lambda x: value if x.text == "bad" else ABSTAIN)
    with pytest.raises(InvalidVoteError, match=rf"LF 'odd' returned {shown}") as info:
        apply_lfs([lf], data, cardinality=2, n_jobs=2 if kind == "parallel" else 1, progress=False)
    assert info.value.lf_name == "odd" and info.value.row == "r1"
    assert "on row 'r1'" in str(info.value)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda n: np.ones(n - 1, dtype=int), r"shape \(2,\) for a batch of 3 rows"),
        (lambda n: np.ones((n, 2), dtype=int), r"shape \(3, 2\) for a batch of 3 rows"),
        (lambda n: np.array([1.0, 0.0, np.nan]), r"returned nan .*dtype float64"),
        (lambda n: np.ones(n, dtype=bool), r"returned True \(bool\).*dtype bool"),
        (lambda n: np.array([1, None, 0], dtype=object), r"returned None"),
        (lambda n: np.array([0, 1, 7]), r"returned 7 \(int\) on row 2"),
        (lambda n: None, r"shape \(\) for a batch of 3 rows"),
    ],
)
def test_invalid_vectorised_outputs(output, message):
    lf = VectorizedLabelingFunction("vec", lambda df: output(len(df)))
    with pytest.raises(InvalidVoteError, match=message):
        apply_lfs([lf], ["a", "b", "c"], cardinality=2, progress=False)


def test_duplicate_lf_names_are_an_error():
    with pytest.raises(ValueError, match=r"names must be unique; duplicated: \['k'\]"):
        apply_lfs([keyword_lf("k", "a", 1), regex_lf("k", "b", 0)], ["a"], progress=False)


def test_batch_lf_without_a_name_is_an_error():
    class Nameless(BatchLabelingFunction):
        def apply_batch(self, data, *, progress=True):
            return np.zeros(len(data), dtype=int)

    with pytest.raises(ValueError, match="Nameless has no name"):
        apply_lfs([Nameless()], ["a"], progress=False)


# ---------------------------------------------------------------- empty data
def test_empty_data_gives_an_empty_matrix_with_the_right_columns():
    recorder = _Recorder()
    lfs = [*_vectorised_lfs(), *_row_lfs()[:1], recorder]
    lfs[-2].name = "subscribe_rows"
    L = apply_lfs(
        lfs,
        pd.DataFrame({"text": pd.Series([], dtype=object)}),
        cardinality=2,
        n_jobs=2,
        progress=False,
    )
    assert L.shape == (0, len(lfs)) and L.lf_names == [lf.name for lf in lfs]
    assert L.cardinality == 2 and recorder.calls == []
    with pytest.raises(ValueError, match="pass cardinality="):
        apply_lfs(_vectorised_lfs(), [], progress=False)


def test_as_frame_names_series_and_strings():
    assert list(as_frame(pd.Series(["a"], name="body")).columns) == ["body"]
    assert list(as_frame(["a"]).columns) == ["text"]
    assert as_frame([]).shape == (0, 1)


def test_huge_and_unencodable_texts():
    texts = pd.Series(["x" * 1_000_000 + " subscribe", "sub \ud800 now", "plain"], dtype=object)
    data = pd.DataFrame({"text": texts})  # a lone surrogate cannot go to Arrow: Python's re does it
    vectorised = apply_lfs(_vectorised_lfs(), data, progress=False)
    assert vectorised == apply_lfs(_row_lfs(), data, progress=False)
    assert vectorised.select("subscribe").to_numpy()[:, 0].tolist() == [SPAM, SPAM, ABSTAIN]


def test_lfs_sharing_a_preprocessor_run_it_once_per_batch_with_the_same_votes():
    from weaklabel import load_lfs
    from weaklabel.data import load_youtube_spam

    data = load_youtube_spam()
    lfs = load_lfs("labeling_functions.youtube")
    shared = [lf for lf in lfs if getattr(lf, "_pre", None)]
    assert len(shared) >= 5 and len({tuple(lf._pre) for lf in shared}) == 1
    calls = []
    original = shared[0]._pre[0]

    def counted(texts):
        calls.append(len(texts))
        return original(texts)

    try:  # the module's LF objects are shared with other tests: put them back
        for lf in shared:
            lf._pre = [counted]
        together = apply_lfs(shared, data, cardinality=2, batch_size=500, progress=False)
        sizes = [min(500, len(data) - start) for start in range(0, len(data), 500)]
        assert calls == sizes
        calls.clear()
        alone = [apply_lfs([lf], data, cardinality=2, progress=False).votes[:, 0] for lf in shared]
        assert len(calls) == len(shared)
    finally:
        for lf in shared:
            lf._pre = [original]
    assert np.array_equal(together.votes, np.column_stack(alone))
