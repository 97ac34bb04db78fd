"""Labeling functions: decorator, builders, Snorkel objects, loading LF modules."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest

from weaklabel.apply import apply_lfs
from weaklabel.data import read_uci_sms, read_uci_youtube
from weaklabel.lf import (
    _PYTHON_ONLY_SPACE,
    _UNSAFE_CHARS,
    _UNSAFE_CHARS_PY,
    ABSTAIN,
    BaseLabelingFunction,
    LabelingFunction,
    RegexLabelingFunction,
    Row,
    VectorizedLabelingFunction,
    as_labeling_function,
    keyword_lf,
    labeling_function,
    load_lfs,
    regex_lf,
)


def _python_votes(lf: RegexLabelingFunction, values) -> np.ndarray:
    """What the LF must vote: the row-wise ``pattern.search`` on string values."""
    return np.array(
        [lf.label if isinstance(v, str) and lf.pattern.search(v) else ABSTAIN for v in values]
    )


# ---------------------------------------------------------------- decorator
def test_decorator_with_and_without_parentheses():
    @labeling_function
    def bare(x):
        return 1

    @labeling_function()
    def empty(x):
        return 0

    @labeling_function("custom")
    def positional(x):
        return 1

    @labeling_function(name="kw")
    def keyword(x):
        """Docstring kept."""
        return 1

    assert [lf.name for lf in (bare, empty, positional, keyword)] == [
        "bare",
        "empty",
        "custom",
        "kw",
    ]
    assert all(isinstance(lf, LabelingFunction) for lf in (bare, empty, positional, keyword))
    assert keyword.__doc__ == "Docstring kept."
    assert bare(Row(text="x")) == 1 and empty(Row(text="x")) == 0


def test_resources_are_passed_as_keywords():
    @labeling_function(resources={"words": {"spam", "eggs"}})
    def has_word(x, words):
        return 1 if set(x.text.split()) & words else ABSTAIN

    assert has_word(Row(text="green eggs")) == 1
    assert has_word(Row(text="ham")) == ABSTAIN


def test_preprocessors_run_in_order_on_a_copy_of_the_row():
    def lower(x):
        x.text = x.text.lower()
        return x

    def strip(x):
        x.text = x.text.strip()
        return x

    @labeling_function(pre=[lower, strip])
    def exact(x):
        return 1 if x.text == "hello" else 0

    row = Row(text="  HELLO ")
    assert exact(row) == 1
    assert row.text == "  HELLO "  # the other LFs still see the original row


def test_preprocessor_returning_none_is_an_error():
    @labeling_function(pre=[lambda x: None])
    def lf(x):
        return 1

    with pytest.raises(ValueError, match="preprocessor of LF 'lf' returned None"):
        lf(Row(text="a"))


def test_vectorized_decorator_with_and_without_column():
    @labeling_function(vectorized=True)
    def long_text(df):
        return np.where(df["text"].str.len() > 3, 1, ABSTAIN)

    @labeling_function(vectorized=True, column="text")
    def has_a(texts):
        return np.where(texts.str.contains("a"), 0, ABSTAIN)

    bare = labeling_function(lambda df: np.zeros(len(df), dtype=int), vectorized=True)
    frame = pd.DataFrame({"text": ["abcd", "xy", "a"]})
    assert isinstance(long_text, VectorizedLabelingFunction) and long_text.kind == "vectorized"
    assert isinstance(bare, VectorizedLabelingFunction)
    assert long_text(frame).tolist() == [1, -1, -1]
    assert has_a(frame).tolist() == [0, -1, 0]
    with pytest.raises(KeyError, match="reads column 'text'"):
        has_a(pd.DataFrame({"body": ["a"]}))


def test_decorator_argument_errors():
    with pytest.raises(ValueError, match="column= is for vectorized"):
        labeling_function(column="text")
    with pytest.raises(TypeError, match="takes a string"):
        labeling_function(name=3)
    with pytest.raises(ValueError, match="non-empty string name"):
        LabelingFunction("", lambda x: 1)
    with pytest.raises(TypeError, match="must be callable"):
        LabelingFunction("x", 3)


def test_plain_function_is_rejected_with_a_hint():
    def plain(x):
        return 1

    with pytest.raises(TypeError, match=r"plain function.*@labeling_function\(\)"):
        as_labeling_function(plain)
    with pytest.raises(TypeError, match="expected a labeling function"):
        as_labeling_function(42)


def test_row_access():
    row = Row(text="hi", n=3)
    assert row.text == row["text"] == "hi"
    assert "n" in row and row.get("missing", 7) == 7
    with pytest.raises(KeyError, match="row has no field 'body'; fields are"):
        row["body"]


# ---------------------------------------------------------------- keyword_lf / regex_lf
def test_keyword_lf_matches_whole_words_ignoring_case():
    lf = keyword_lf("subscribe", ["subscribe", "sub"], 1)
    texts = [
        "Please SUBSCRIBE!",
        "sub to me",
        "subway ride",
        "unsubscribed",
        "résub",
        "sub_channel",
        "x",
    ]
    assert lf(pd.DataFrame({"text": texts})).tolist() == [1, 1, -1, -1, -1, -1, -1]


def test_keyword_lf_case_sensitive_and_substring():
    sensitive = keyword_lf("Check", "Check", 1, case_sensitive=True)
    substring = keyword_lf("sub", "sub", 0, whole_word=False)
    frame = pd.DataFrame({"text": ["Check this", "check this", "subway"]})
    assert sensitive(frame).tolist() == [1, -1, -1]
    assert substring(frame).tolist() == [-1, -1, 0]


def test_keyword_lf_escapes_regex_characters():
    lf = keyword_lf("odd", ["c++", "a.b", "$$$", "(x)"], 1)
    texts = ["I code c++ daily", "axb", "a.b", "win $$$ now", "(x) marks", "cpp"]
    assert lf(pd.DataFrame({"text": texts})).tolist() == [1, -1, 1, 1, 1, -1]


def test_keyword_and_regex_lfs_never_match_missing_or_non_string_values():
    values = pd.Series(
        ["spam here", None, np.nan, 12345, pd.NA, b"spam", ["spam"], "SPAM"], dtype=object
    )
    frame = pd.DataFrame({"text": values})
    assert keyword_lf("k", "spam", 1)(frame).tolist() == [1, -1, -1, -1, -1, -1, -1, 1]
    assert regex_lf("digits", r"\d+", 1)(frame).tolist() == [-1] * 8
    numeric = pd.DataFrame({"text": [1, 22, 333]})
    assert regex_lf("d", r"\d", 1)(numeric).tolist() == [-1, -1, -1]


def test_keyword_lf_argument_errors():
    with pytest.raises(ValueError, match="keywords must be non-empty strings"):
        keyword_lf("k", [], 1)
    with pytest.raises(ValueError, match="keywords must be non-empty strings"):
        keyword_lf("k", ["ok", ""], 1)
    for label in (True, -1, 1.0, ""):
        with pytest.raises(ValueError, match=r"label must be a class name or (a class )?index"):
            keyword_lf("k", "a", label)


def test_regex_lf_patterns_and_flags():
    frame = pd.DataFrame({"text": ["Check it out", "CHECK\nOUT", "nothing", "checkout"]})
    assert regex_lf("co", r"check.*out", 1)(frame).tolist() == [1, -1, -1, 1]
    assert regex_lf("dotall", r"check.*out", 1, flags=re.I | re.S)(frame).tolist() == [1, 1, -1, 1]
    compiled = re.compile(r"^check", re.MULTILINE)  # a compiled pattern keeps its own flags
    assert regex_lf("comp", compiled, 0)(frame).tolist() == [-1, -1, -1, 0]
    assert regex_lf("co", r"check.*out", 1).pattern.flags & re.IGNORECASE


def test_regex_lf_errors():
    with pytest.raises(ValueError, match=r"LF 'bad': invalid regular expression '\('"):
        regex_lf("bad", "(", 1)
    with pytest.raises(TypeError, match=r"str or re\.Pattern"):
        regex_lf("bytes", b"x", 1)
    with pytest.raises(TypeError, match="not bytes"):
        regex_lf("bytes", re.compile(b"x"), 1)


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize(
    "pattern",
    [
        r"check.*out",
        r"\bsub\w*",
        r"end$",
        r"^\s*hi",
        r"sub\sscribe",
        r"(?<!x)end",  # lookbehind: Python's re only
        r"\d{3,}",
        r"[^\x00-\x7f]",
        r"a{,2}b",  # RE2 reads "{,2}" literally
        r"[[:alpha:]]+!",  # a POSIX class in RE2, a character set in Python
        r"(\w)\1",  # backreference
        r"\Z",
        r"caf\u00e9",
        r"(?i:ſ)",
        r"k\W",
        r"£\d+",
        r"é+",
    ],
)
def test_regex_lf_votes_as_python_re_on_odd_texts(pattern):
    texts = [
        "check it out", "CHECK OUT", "subscribe now", "ſubscribe", "SUBſCRIBE", "Kelvin", "the end",
        "the end\n", "end\nnot", "sub\u00a0scribe", "sub\x0bscribe", "sub scribe", "x end", "café",
        "CAFÉ", "123456", "١٢٣٤", "aab", "a{,2}b", "alpha!", "aa", "ıİ", "ⓚ k!", "\ufeffend", "",
        "emoji 😀 end", "tab\tend", "win £100", "ÉÉ é", None, 7,
    ]  # fmt: skip
    frame = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    for flags in (0, re.IGNORECASE, re.MULTILINE | re.DOTALL):
        lf = regex_lf("p", pattern, 1, flags=flags)
        assert lf(frame).tolist() == _python_votes(lf, texts).tolist(), (pattern, flags)


def test_fast_path_is_used_where_it_is_exact():
    assert regex_lf("a", r"check.*out", 1)._plan is not None
    assert keyword_lf("k", ["subscribe", "check out"], 1)._plan is not None
    assert regex_lf("b", r"(?<!x)end", 1)._plan is None  # lookbehind
    assert keyword_lf("k", ["ık"], 1)._plan is None  # non-ASCII keyword, case-insensitive
    assert keyword_lf("k", ["ık"], 1, case_sensitive=True)._plan is not None
    assert regex_lf("c", r"£\d+", 1)._plan is not None  # caseless non-ASCII: still exact
    assert regex_lf("d", r"é+", 1)._plan is None


@pytest.mark.slow
def test_unicode_assumptions_of_the_fast_path_hold_for_every_code_point():
    """Rows without an 'unsafe' character: Python's re and RE2 agree on \\w, case and \\s."""
    pa = pytest.importorskip("pyarrow")
    pc = pytest.importorskip("pyarrow.compute")
    # On a Unicode version outside _CHECKED_UNICODE the library re-derives the class at first
    # use; this check is what allows adding a version to that set.
    chars = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    everything = "".join(chars)
    python_word = set(re.findall(r"\w", everything))
    python_case = set(re.findall(r"(?i)[a-z]", everything))
    cased = {c for c in chars if c.lower() != c or c.upper() != c}
    candidates = sorted(python_word | python_case | cased)
    unsafe = pc.match_substring_regex(pa.array(candidates), _UNSAFE_CHARS).to_pylist()
    assert all(unsafe), [hex(ord(c)) for c, u in zip(candidates, unsafe, strict=True) if not u][:20]
    python_check = [c for c in sorted(python_word | python_case) if not _UNSAFE_CHARS_PY.search(c)]
    assert python_check == ["_"] or not python_check, [hex(ord(c)) for c in python_check[:20]]
    re2_case = pc.match_substring_regex(pa.array(chars), "(?i)[a-z]").to_numpy(zero_copy_only=False)
    flagged = pc.match_substring_regex(pa.array(chars), _UNSAFE_CHARS).to_numpy(
        zero_copy_only=False
    )
    assert not (re2_case & ~flagged).any()
    ascii_chars = [chr(c) for c in range(0x80)]
    python_space = set(re.findall(r"\s", "".join(ascii_chars) + everything))
    re2_space_hits = pc.match_substring_regex(pa.array(ascii_chars + chars), r"^\s$").to_pylist()
    re2_space = {c for c, hit in zip(ascii_chars + chars, re2_space_hits, strict=True) if hit}
    only_python = pc.match_substring_regex(
        pa.array(sorted(python_space)), _PYTHON_ONLY_SPACE
    ).to_pylist()
    assert {c for c, o in zip(sorted(python_space), only_python, strict=True) if not o} == re2_space


def test_keyword_lfs_vote_as_python_re_on_the_raw_corpora(shared_data):
    texts = pd.concat(
        [
            read_uci_youtube(shared_data / "youtube_uci_raw")["text"],
            read_uci_sms(shared_data / "sms_uci_raw")["text"],
        ],
        ignore_index=True,
    )
    lfs = [
        keyword_lf("subscribe", ["subscribe", "sub"], 1),
        keyword_lf("free", ["free", "win", "prize"], 1),
        keyword_lf("song", "song", 0),
        regex_lf("check_out", r"check.{0,10}out", 1),
        regex_lf("word_boundary", r"\blove\b", 0),
        regex_lf("phone", r"\b0\d{9,10}\b", 1),
    ]
    for lf in lfs:
        votes = lf(pd.DataFrame({"text": texts}))
        assert votes.tolist() == _python_votes(lf, texts).tolist(), lf.name
        assert (votes != ABSTAIN).sum() > 20, lf.name  # the LFs do vote on real data


# ---------------------------------------------------------------- Snorkel objects
@pytest.mark.slow
def test_snorkel_lfs_are_accepted_and_match_snorkels_applier(shared_data):
    snorkel_labeling = pytest.importorskip("snorkel.labeling")
    from snorkel.preprocess import preprocessor

    @preprocessor(memoize=True)
    def lower_text(x):
        x.text_lower = x.text.lower()
        return x

    @snorkel_labeling.labeling_function()
    def check_out(x):
        return 1 if "check out" in x.text.lower() else -1

    @snorkel_labeling.labeling_function(pre=[lower_text])
    def song(x):
        return 0 if "song" in x.text_lower else -1

    @snorkel_labeling.labeling_function(resources={"words": ("http", "www")})
    def link(x, words):
        return 1 if any(w in x.text for w in words) else -1

    data = read_uci_youtube(shared_data / "youtube_uci_raw")
    lfs = [check_out, song, link]
    expected = snorkel_labeling.PandasLFApplier(lfs).apply(data, progress_bar=False)
    ours = apply_lfs(lfs, data, progress=False)
    assert ours.lf_names == ["check_out", "song", "link"]
    np.testing.assert_array_equal(ours.to_numpy(), expected)
    assert (expected != -1).sum() > 300
    assert all(isinstance(as_labeling_function(lf), BaseLabelingFunction) for lf in lfs)


# ---------------------------------------------------------------- load_lfs
_MODULE = """
from weaklabel import ABSTAIN, keyword_lf, labeling_function

@labeling_function()
def first(x):
    return 1 if "a" in x.text else ABSTAIN

second = keyword_lf("second", "b", 0)
"""


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_load_lfs_from_a_file_path_discovers_in_definition_order(tmp_path):
    lfs = load_lfs(str(_write(tmp_path / "mine.py", _MODULE)))
    assert [lf.name for lf in lfs] == ["first", "second"]
    assert load_lfs(tmp_path / "mine.py")[1].kind == "vectorized"  # a Path works too


def test_load_lfs_by_dotted_name_and_lfs_list_order(tmp_path, monkeypatch):
    package = tmp_path / "my_lfs_pkg"
    package.mkdir()
    _write(package / "__init__.py", "")
    _write(package / "spam.py", _MODULE + "\nLFS = [second, first]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [lf.name for lf in load_lfs("my_lfs_pkg.spam")] == ["second", "first"]


def test_load_lfs_accepts_snorkel_lfs_in_a_module(tmp_path):
    pytest.importorskip("snorkel")
    _write(
        tmp_path / "snorkel_lfs.py",
        """
        from snorkel.labeling import labeling_function

        @labeling_function()
        def has_http(x):
            return 1 if "http" in x.text else -1
        """,
    )
    (lf,) = load_lfs(str(tmp_path / "snorkel_lfs.py"))
    assert lf.name == "has_http" and lf(Row(text="http://x")) == 1


def test_load_lfs_module_that_fails_to_import_names_it(tmp_path):
    broken = _write(tmp_path / "broken.py", "import numpy\nraise RuntimeError('bad config')\n")
    with pytest.raises(
        ImportError, match=r"LF module .*broken\.py failed to import: RuntimeError: bad config"
    ):
        load_lfs(str(broken))
    syntax = _write(tmp_path / "syntax.py", "def f(:\n")
    with pytest.raises(ImportError, match=r"syntax\.py failed to import: SyntaxError"):
        load_lfs(str(syntax))
    missing_dep = _write(tmp_path / "needs_dep.py", "import not_a_real_package_xyz\n")
    with pytest.raises(ImportError, match="not_a_real_package_xyz"):
        load_lfs(str(missing_dep))


def test_load_lfs_dotted_module_errors(tmp_path, monkeypatch):
    with pytest.raises(ImportError, match="no LF module named 'no_such_lf_module'"):
        load_lfs("no_such_lf_module")
    _write(tmp_path / "dotted_broken.py", "import not_a_real_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ImportError, match=r"LF module 'dotted_broken' failed to import.*not_a_real_package_xyz"
    ):
        load_lfs("dotted_broken")
    with pytest.raises(FileNotFoundError, match="no LF module file"):
        load_lfs(str(tmp_path / "absent.py"))


def test_load_lfs_module_without_lfs_or_with_bad_ones(tmp_path):
    with pytest.raises(ValueError, match="defines no labeling functions"):
        load_lfs(str(_write(tmp_path / "empty.py", "X = 1\n")))
    with pytest.raises(ValueError, match="defines no labeling functions"):
        load_lfs(str(_write(tmp_path / "empty_list.py", "LFS = []\n")))
    with pytest.raises(TypeError, match=r"plain\.py.*plain function"):
        load_lfs(str(_write(tmp_path / "plain.py", "def f(x):\n    return 1\nLFS = [f]\n")))
    with pytest.raises(TypeError, match="LFS must be a list"):
        load_lfs(str(_write(tmp_path / "lfs_str.py", "LFS = 'first'\n")))


def test_load_lfs_duplicate_names(tmp_path):
    text = _MODULE + "\nthird = keyword_lf('second', 'c', 1)\n"
    with pytest.raises(ValueError, match=r"duplicate LF names: \['second'\]"):
        load_lfs(str(_write(tmp_path / "dups.py", text)))


@pytest.mark.slow
def test_unchecked_unicode_versions_are_checked_at_first_use(monkeypatch):
    from weaklabel import lf as lf_module

    monkeypatch.setattr(lf_module, "_CHECKED_UNICODE", frozenset())
    lf_module._unsafe_chars.cache_clear()
    try:
        assert lf_module._unsafe_chars() == _UNSAFE_CHARS  # nothing to add on this Python
    finally:
        lf_module._unsafe_chars.cache_clear()
