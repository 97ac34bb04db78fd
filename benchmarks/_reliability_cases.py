"""The cases of the reliability catalogue (see ``benchmarks/reliability.py``).

Each case writes its inputs into a fresh folder (``setup``), runs once through the command
line (``via="cli"``: ``config.yaml``) or a Python snippet (``via="api"``), and is
classified: an error case is a ``clear error`` when the message matches ``names`` (what a
message must name: the key, file, LF or value); a run that completes is ``handled`` when
``check`` says its result is right. Files listed in ``ctx.protect`` must survive byte for
byte. Data comes from the YouTube comments bundled with weaklabel.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_openai_server import FakeOpenAIServer, Hang, Reply, Status, row_text

__all__ = ["CASES", "Case", "Context"]

KEY = "sk-test-" + "Rq7w" * 10  # what a key looks like; the fake server takes anything
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 10.0, "max_retries": 3}


@dataclass
class Context:
    """One case's folder, its inputs and what must survive."""

    folder: Path
    server: FakeOpenAIServer | None = None
    config: dict[str, Any] | None = None
    config_text: str | None = None
    config_name: str = "config.yaml"
    cli_args: list[str] = field(default_factory=list)
    api_body: str = ""
    env: dict[str, str] = field(default_factory=dict)
    protect: list[str] = field(default_factory=list)
    protected: dict[str, bytes | None] = field(default_factory=dict)
    secret: str | None = None
    expected_rows: int | None = None

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def write_config(self) -> None:
        if self.config_text is not None:
            self.write(self.config_name, self.config_text)
        elif self.config is not None:
            self.write(self.config_name, yaml.safe_dump(self.config, sort_keys=False))


@dataclass
class Case:
    id: str
    category: str
    what: str
    setup: Callable[[Context], None]
    expect: str = "error"  # "error": the right outcome is a clear error; "ok": a right result
    names: str = "."  # regex an error message must match to be clear
    via: str = "cli"
    check: Callable[[Path, Any, Context], tuple[bool, str]] | None = None
    server: Callable[[], FakeOpenAIServer] | None = None
    timeout: float = 180.0
    free_before_error: bool = True  # no request should be sent before this error


# ---------------------------------------------------------------- inputs
@cache
def _corpus() -> pd.DataFrame:
    from weaklabel.data import load_youtube_spam

    data = load_youtube_spam()
    return data.drop_duplicates("text").reset_index(drop=True)


def _rows(n: int = 300) -> pd.DataFrame:
    data = _corpus().sample(n=n, random_state=0).reset_index(drop=True)
    return data.assign(label=np.where(data["label"] == 1, "spam", "ham"))[["text", "label", "split"]]


def base(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "case", "output_dir": "out", "cache_dir": "cache", "progress": False, "report": False,
        "data": {"source": "bundled", "max_rows": 200},
        "lfs": {"modules": ["labeling_functions.youtube"]},
        "label_model": {"kind": "label_model"},
        "student": {"kind": "tfidf", "options": {"char_ngram_range": None}},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            config[section] = {**config.get(section, {}), name: value}
        else:
            config[key] = value
    return config


def table_config(path: str, **data: Any) -> dict[str, Any]:
    return base(data={"source": "table", "path": path, "label_column": "label", "split_column": "split",
                      "class_names": ["ham", "spam"], **data})


def llm_labeler(ctx: Context, **changes: Any) -> dict[str, Any]:
    url = ctx.server.base_url if ctx.server is not None else "http://127.0.0.1:9/v1"
    labeler = {"name": "chat_spam", "backend": "openai", "model": "fake-model", "base_url": url,
               "api_key_env": "CASE_KEY", "decoding": "text", "prompt": "Spam or ham?\n{text}",
               "labels": {"spam": 1, "ham": 0}, "options": dict(FAST)}
    labeler.update(changes)
    ctx.env["CASE_KEY"] = KEY
    ctx.secret = KEY
    return labeler


def llm_config(ctx: Context, **changes: Any) -> dict[str, Any]:
    config = base(data={"source": "bundled", "max_rows": 60}, llm_labelers=[llm_labeler(ctx)])
    config.update(changes)
    return config


def _fails(body: dict[str, Any] | None) -> bool:
    """One row in about eight, chosen by its text."""
    return sum(row_text(body).encode()) % 8 == 0


def _user_files(ctx: Context, folder: str = "out") -> None:
    ctx.write(f"{folder}/notes.md", "my notes\n")
    ctx.protect.append(f"{folder}/notes.md")


# ---------------------------------------------------------------- checks
def _out(folder: Path, ctx: Context) -> Path:
    return folder / (ctx.config or {}).get("output_dir", "out")


def rows_are(n: int) -> Callable[[Path, Any, Context], tuple[bool, str]]:
    def check(folder: Path, run: Any, ctx: Context) -> tuple[bool, str]:
        found = len(pd.read_parquet(_out(folder, ctx) / "probs.parquet"))
        return found == n, f"completed with {found} rows, the file holds {n}"
    return check


def completes(folder: Path, run: Any, ctx: Context) -> tuple[bool, str]:
    ok = (_out(folder, ctx) / "probs.parquet").is_file()
    return ok, "completed" if ok else "completed without probs.parquet"


def warns(pattern: str) -> Callable[[Path, Any, Context], tuple[bool, str]]:
    import re

    def check(folder: Path, run: Any, ctx: Context) -> tuple[bool, str]:
        found = re.search(pattern, run.stderr, re.I)
        return bool(found), "completed with a warning" if found else "completed without a word"
    return check


def llm_column(min_voted: float, some_abstain: bool) -> Callable[[Path, Any, Context], tuple[bool, str]]:
    """The LLM labeler's column: most rows voted, and (for per-row faults) some abstained."""
    def check(folder: Path, run: Any, ctx: Context) -> tuple[bool, str]:
        with np.load(folder / "out" / "label_matrix.npz", allow_pickle=False) as saved:
            names = [str(n) for n in saved["lf_names"]] if "lf_names" in saved else None
            votes = saved["votes"]
        column = votes[:, names.index("chat_spam")] if names and "chat_spam" in names else votes[:, -1]
        voted = float((column != -1).mean())
        ok = voted >= min_voted and (not some_abstain or voted < 1.0)
        return ok, f"completed: the LLM labeler voted on {voted:.0%} of train rows"
    return check


def same_votes_as_fresh(folder: Path, run: Any, ctx: Context) -> tuple[bool, str]:
    """After an edit, the cached votes must equal votes computed from scratch."""
    import subprocess
    import sys

    config = yaml.safe_load((folder / "config.yaml").read_text())
    config.update(cache_dir="fresh_cache", output_dir="fresh_out")
    (folder / "fresh.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ctx.env["TREE"], str(folder)])}
    subprocess.run([sys.executable, "-m", "weaklabel.fit", "--config", "fresh.yaml", "--quiet"],
                   cwd=folder, env=env, capture_output=True, check=True, timeout=300)
    with np.load(folder / "out" / "label_matrix.npz") as a, np.load(folder / "fresh_out" / "label_matrix.npz") as b:
        same = np.array_equal(a["votes"], b["votes"])
    return same, "votes match a fresh run" if same else "stale cached votes reused after the edit"


# ---------------------------------------------------------------- the cases
CASES: list[Case] = []


def case(id: str, category: str, what: str, **options: Any) -> Callable[[Callable[[Context], None]], None]:
    def register(setup: Callable[[Context], None]) -> None:
        CASES.append(Case(id, category, what, setup, **options))
    return register


def _simple(id: str, category: str, what: str, config: dict[str, Any] | None = None, *,
            text: str | None = None, args: list[str] | None = None, **options: Any) -> None:
    def setup(ctx: Context) -> None:
        ctx.config, ctx.config_text = config, text
        ctx.cli_args = list(args or [])
    CASES.append(Case(id, category, what, setup, **options))


# config --------------------------------------------------------------------------------
@case("c01", "config", "the config file does not exist", names="no config file|absent")
def _(ctx: Context) -> None:
    ctx.config_name = "absent.yaml"


@case("c02", "config", "YAML syntax error", names=r"cannot parse|config\.yaml")
def _(ctx: Context) -> None:
    ctx.config_text = "name: [unclosed\nseed: 1\n"


@case("c03", "config", "config file that is not UTF-8", names=r"UTF-8|utf-8|decode")
def _(ctx: Context) -> None:
    ctx.write("config.yaml", b"name: caf\xe9\n")


_simple("c04", "config", "top level is a list", text="- a\n- b\n", names=r"mapping")
_simple("c05", "config", "unknown top-level key (typo)", base(studnet={"kind": "none"}), names="studnet")
_simple("c06", "config", "unknown nested key", base(label_model__kinds="x"), names=r"kinds")
_simple("c07", "config", "wrong type for seed", base(seed="abc"), names=r"seed")
_simple("c08", "config", "unknown label_model.kind", base(label_model__kind="magic"), names=r"label_model\.kind")
_simple("c09", "config", "label_model.options typo", base(label_model__options={"tool": 0.1}), names=r"tool")
_simple("c10", "config", "label_model.options impossible value", base(label_model__options={"tol": -1}), names=r"tol")
_simple("c11", "config", "student.options typo", base(student__options={"char_ngrams": None}), names=r"char_ngrams")
_simple("c12", "config", "student.options impossible value", base(student__options={"class_weight": "heavy"}),
        names=r"class_weight")
_simple("c13", "config", "--set without '='", base(), args=["--set", "seed"], names=r"--set|key=value")
_simple("c14", "config", "--set into a scalar", base(), args=["--set", "seed.x=1"], names=r"seed")
_simple("c15", "config", "--set a list position that does not exist", base(),
        args=["--set", "lfs.modules.3=x"], names=r"lfs\.modules|position|index")
_simple("c16", "config", "--set a list position that is not a number", base(),
        args=["--set", "lfs.modules.first=x"], names=r"lfs\.modules|first")
_simple("c17", "config", "data.source table without data.path", base(data={"source": "table"}), names=r"data\.path")
_simple("c18", "config", "data.path does not exist", base(data={"source": "table", "path": "absent.csv"}),
        names=r"absent\.csv")
_BOMB = "[&a [lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
    f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
) + "]"
_simple("c19", "config", "YAML alias bomb ('billion laughs') in label_model.options",
        text="lfs: {modules: [labeling_functions.youtube]}\nstudent: {kind: none}\noutput_dir: out\n"
        f"progress: false\nlabel_model:\n  kind: majority_vote\n  options:\n    weights: {_BOMB}\n",
        names=r"alias|values|expand|weights", timeout=120)
_simple("c20", "config", "YAML nested 5000 levels deep", text="name: " + "[" * 5000 + "]" * 5000 + "\n",
        names=r"deep|nest")
_simple("c21", "config", "output_dir is an existing file", base(output_dir="taken"), names=r"output_dir|taken")
CASES[-1].setup = lambda ctx: (setattr(ctx, "config", base(output_dir="taken")), ctx.write("taken", "a file"),
                               ctx.protect.append("taken"))
_simple("c22", "config", "cache_dir is an existing file", base(cache_dir="taken"), names=r"cache_dir|taken")
CASES[-1].setup = lambda ctx: (setattr(ctx, "config", base(cache_dir="taken")), ctx.write("taken", "a file"),
                               ctx.protect.append("taken"))
_simple("c23", "config", "valid + test fractions leave no train rows",
        base(data={"source": "table", "path": "rows.csv", "valid_fraction": 0.6, "test_fraction": 0.6}),
        names=r"fraction|train split")
CASES[-1].setup = lambda ctx: (setattr(ctx, "config", base(data={"source": "table", "path": "rows.csv",
                                                              "valid_fraction": 0.6, "test_fraction": 0.6})),
                               _rows(100).to_csv(ctx.folder / "rows.csv", index=False))
_simple("c24", "config", "lfs.n_jobs is 0", base(lfs={"modules": ["labeling_functions.youtube"], "n_jobs": 0}),
        names=r"n_jobs")


@case("c25", "config", "class_names repeat a name", names=r"class_names|ham")
def _(ctx: Context) -> None:
    _rows(100).to_csv(ctx.folder / "rows.csv", index=False)
    ctx.config = table_config("rows.csv", class_names=["ham", "ham"])


@case("c26", "secrets", "an API key pasted where the variable name belongs (api_key_env)",
      names=r"api_key_env")
def _(ctx: Context) -> None:
    ctx.config = base(llm_labelers=[llm_labeler(ctx, api_key_env=KEY)])


@case("c27", "secrets", "an API key pasted in a --set without '='", names=r"--set")
def _(ctx: Context) -> None:
    ctx.config = base(llm_labelers=[llm_labeler(ctx)])
    ctx.cli_args = ["--set", f"llm_labelers.0.api_key_env {KEY}"]


@case("c28", "llm", "api_key_env names a variable that is not set (OpenAI endpoint)",
      names=r"NOT_SET_KEY|environment variable")
def _(ctx: Context) -> None:
    labeler = llm_labeler(ctx, api_key_env="NOT_SET_KEY", base_url=None)
    ctx.config = base(llm_labelers=[labeler])


@case("c29", "llm", "prompt reads a column the data lacks", names=r"title", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, llm_labelers=[llm_labeler(ctx, prompt="Spam?\n{title}")])


@case("c30", "llm", "prompt with an unclosed brace", names=r"prompt|brace|\{", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, llm_labelers=[llm_labeler(ctx, prompt="Spam?\n{text")])


@case("c31", "llm", "few_shot without gold labels on the valid split", names=r"few_shot", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    _rows(120).drop(columns="label").to_csv(ctx.folder / "rows.csv", index=False)
    ctx.config = llm_config(ctx, data={"source": "table", "path": "rows.csv", "split_column": "split"},
                            llm_labelers=[llm_labeler(ctx, few_shot=2)])


@case("c32", "llm", "two LLM labelers with the same name", names=r"unique|duplicat|chat_spam",
      server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, llm_labelers=[llm_labeler(ctx), llm_labeler(ctx)])


@case("c33", "llm", "LLM label map outside the classes ({spam: 5})", names=r"labels|5", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, llm_labelers=[llm_labeler(ctx, labels={"spam": 5, "ham": 0})])


@case("c34", "llm", "label_model.options typo in a run with an LLM labeler", names=r"tool", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, label_model={"kind": "label_model", "options": {"tool": 0.1}})


@case("c35", "llm", "student.options typo in a run with an LLM labeler", names=r"epoch", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, student={"kind": "tfidf", "options": {"epoch": 3}})


@case("c36", "llm", "dev weights without dev labels (label model fails at fit) in an LLM run",
      names=r"weights|y_dev|dev", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.config = llm_config(ctx, label_model={"kind": "majority_vote", "use_dev": False,
                                              "options": {"weights": "dev"}})


# LF modules and LF code -----------------------------------------------------------------
_LF_MODULES = {
    "l01": ("LF module not found (dotted name)", None, r"labeling_functions\.nope"),
    "l02": ("LF module .py path does not exist", None, r"absent_lfs\.py"),
    "l03": ("LF module with a syntax error", "def vote(x:\n    return 1\n", r"SyntaxError"),
    "l04": ("LF module importing a missing package", "import not_a_real_package_xyz\n", r"not_a_real_package_xyz"),
    "l05": ("LF module raising on import", "raise RuntimeError('no API key configured')\n", r"no API key configured"),
    "l06": ("LF module defining no LFs", "THRESHOLD = 3\n", r"no labeling functions"),
    "l07": ("LF names repeated across modules", "from labeling_functions.youtube import *\n", r"repeat|duplicat"),
    "l08": ("an LF that raises on some rows",
            "from weaklabel import labeling_function\n@labeling_function()\ndef shouts(x):\n"
            "    return 1 if x.text.isupper() and x.titel else -1\n", r"shouts"),
    "l09": ("an LF returning None", "from weaklabel import labeling_function\n@labeling_function()\n"
            "def maybe(x):\n    return 1 if 'subscribe' in x.text.lower() else None\n", r"maybe.*None|None.*maybe"),
    "l10": ("an LF voting class 5 of 2", "from weaklabel import labeling_function\n@labeling_function()\n"
            "def five(x):\n    return 5 if 'subscribe' in x.text.lower() else -1\n", r"five|\b5\b"),
    "l11": ("an LF reading a column the data lacks",
            "from weaklabel import keyword_lf\nLFS = [keyword_lf('title_words', ['x'], 1, column='title')]\n", r"title"),
}


def _lf_case(id: str, what: str, source: str | None, names: str) -> None:
    def setup(ctx: Context) -> None:
        modules = {"l01": ["labeling_functions.nope"], "l02": ["absent_lfs.py"]}.get(id, ["my_lfs.py"])
        if id == "l07":
            modules = ["labeling_functions.youtube", "my_lfs.py"]
        if source is not None:
            ctx.write("my_lfs.py", source)
        ctx.config = base(lfs={"modules": modules})
    CASES.append(Case(id, "LF code", what, setup, names=names))


for _id, (_what, _source, _names) in _LF_MODULES.items():
    _lf_case(_id, _what, _source, _names)


# data ----------------------------------------------------------------------------------
def _csv_case(id: str, what: str, content: str | bytes | Callable[[], str], names: str = ".", *,
              expect: str = "error", check: Callable | None = None, file: str = "rows.csv", **data: Any) -> None:
    def setup(ctx: Context) -> None:
        ctx.write(file, content() if callable(content) else content)
        ctx.config = table_config(file, **data)
        ctx.protect.append(file)
    CASES.append(Case(id, "data", what, setup, names=names, expect=expect, check=check))


def _clean_csv(n: int = 300) -> str:
    return _rows(n).to_csv(index=False)


def _damaged_quotes() -> str:
    """A stray quote opening a real comment, closed two rows later by a comment ending in a
    quote: valid by RFC 4180 (no strict reader complains), three rows read as one."""
    lines = _clean_csv().splitlines()
    plain = [i for i, line in enumerate(lines) if i > 30 and not line.startswith('"')]
    first = next(i for i in plain if i + 1 in plain and i + 2 in plain)
    lines[first] = '"' + lines[first]
    text, label, split = lines[first + 2].rsplit(",", 2)
    lines[first + 2] = f'{text} 12",{label},{split}'
    return "\n".join(lines) + "\n"


def _with_line(number: int, change: Callable[[str], str]) -> str:
    """The clean CSV with its line ``number`` (1-based, header included) changed."""
    lines = _clean_csv().splitlines()
    lines[number - 1] = change(lines[number - 1])
    return "\n".join(lines) + "\n"


def _short_row() -> str:
    return _with_line(12, lambda line: line.rsplit(",", 1)[0])  # the split field is missing


def _mixed_labels() -> str:
    rows = _rows()
    rows.loc[rows.index[::7], "label"] = "1"
    return rows.to_csv(index=False)


_csv_case("d01", "CSV header names a column twice", lambda: _rows().assign(extra=lambda d: d["text"].str[::-1]).to_csv(
    index=False).replace(",extra\n", ",text\n", 1), r"text|twice|more than once|duplicat",
    check=lambda f, r, c: (False, "completed reading one of the two 'text' columns"))
_csv_case("d02", "CSV with a damaged quote that merges rows", _damaged_quotes, r"quote|line",
          check=rows_are(300))
_csv_case("d03", "CSV row with an extra field", lambda: _with_line(5, lambda line: line + ",extra"),
          r"line|field|expected")
_csv_case("d04", "CSV row missing a field", _short_row, r"line 12|field", check=rows_are(300))
_csv_case("d05", "CSV that is not UTF-8", lambda: _clean_csv().replace("love", "l\xf6ve"), r"UTF-8|utf-8|codec")
CASES[-1].setup = lambda ctx: (ctx.write("rows.csv", _clean_csv().replace("love", "l\xf6ve").encode("latin-1",
                                         errors="replace")), setattr(ctx, "config", table_config("rows.csv")))
_csv_case("d06", "an empty file (0 bytes)", "", r"rows\.csv|empty")
_csv_case("d07", "a header and no rows", "text,label,split\n", r"empty|no rows|train split")
_csv_case("d08", "binary garbage named .csv", lambda: "", r"rows\.csv")
CASES[-1].setup = lambda ctx: (ctx.write("rows.csv", bytes(range(256)) * 40),
                               setattr(ctx, "config", table_config("rows.csv")))
_csv_case("d09", "JSONL with a malformed line", lambda: "".join(
    json.dumps(r) + "\n" for r in _rows(50).to_dict("records")) + '{"text": "x"\n', r"line 51", file="rows.jsonl")
_csv_case("d10", "JSONL line holding a list", lambda: "".join(
    json.dumps(r) + "\n" for r in _rows(50).to_dict("records")) + '["x"]\n', r"line 51", file="rows.jsonl")
_csv_case("d11", "JSONL record naming 'text' twice", lambda: "".join(
    json.dumps(r) + "\n" for r in _rows(50).to_dict("records")).replace('{"text"', '{"text": "first", "text"', 1),
    r"text|twice|more than once", file="rows.jsonl", check=lambda f, r, c: (False, "one of the texts was dropped"))
_csv_case("d12", "JSONL with numbers in the text column", lambda: "".join(
    json.dumps({**r, "text": 42 if i % 10 == 0 else r["text"]}) + "\n" for i, r in enumerate(_rows(100).to_dict("records"))),
    r"text|string", file="rows.jsonl")
_csv_case("d13", "a corrupt Parquet file", "PAR1 not really", r"parquet", file="rows.parquet")
_csv_case("d14", "Parquet whose text column holds numbers", "", r"text|string", file="rows.parquet")
CASES[-1].setup = lambda ctx: (_rows(60).assign(text=range(60)).to_parquet(ctx.folder / "rows.parquet"),
                               setattr(ctx, "config", table_config("rows.parquet")))
_csv_case("d15", "unknown table format (.xlsx)", "x", r"xlsx", file="rows.xlsx")
_csv_case("d16", "text_column missing from the table", lambda: _clean_csv().replace("text,", "body,", 1), r"text")
_csv_case("d17", "label_column missing from the table", lambda: _clean_csv().replace(",label,", ",tag,", 1), r"label")
_csv_case("d18", "split column with an unknown value", lambda: _clean_csv().replace(",train", ",training"), r"split|training")
_csv_case("d19", "split_column missing from the table", lambda: _clean_csv().replace(",split", ",part", 1), r"split")
_csv_case("d20", "labels that differ from class_names in case ('Spam')", lambda: _clean_csv().replace(",spam,", ",Spam,"),
          r"Spam")
_csv_case("d21", "label names whose sorted order flips the classes (no class_names)",
          lambda: _clean_csv().replace(",ham,", ",valid,"), r"class", expect="ok",
          check=warns(r"class order|class_names"), class_names=None)
_csv_case("d22", "numeric label outside the classes", lambda: _rows().assign(
    label=[0, 1, 2] * 100).to_csv(index=False), r"label 2|\b2\b")
_csv_case("d23", "labels mixing class indices and names", _mixed_labels, r"label|mix|'1'", class_names=None)
_csv_case("d24", "no text in any row", lambda: _rows().assign(text="").to_csv(index=False), r"vot|text")
_csv_case("d25", "a .txt table separated by tabs, its texts holding commas", lambda: _rows(100).to_csv(
    index=False, sep="\t"), expect="ok", check=rows_are(100), file="rows.txt")
_csv_case("d26", "CSV with a byte-order mark", lambda: "\ufeff" + _clean_csv(), expect="ok", check=rows_are(300))
_csv_case("d27", "CSV with texts spanning lines (properly quoted)", lambda: _rows().assign(
    text=lambda d: d["text"] + "\nsecond line, with a comma").to_csv(index=False), expect="ok", check=rows_are(300))
_csv_case("d28", "TSV with a damaged quote at a field start", lambda: "\n".join(
    ('"' + line if i == 5 else line) for i, line in enumerate(_rows().to_csv(index=False, sep="\t").splitlines())) + "\n",
    r"quote|line", file="rows.tsv", check=rows_are(300))


@case("d29", "data", "WRENCH folder that does not exist", names=r"absent_wrench|WRENCH")
def _(ctx: Context) -> None:
    ctx.config = base(data={"source": "wrench", "path": "absent_wrench"})


def _wrench(ctx: Context, damage: Callable[[dict], Any] | None = None, label_json: Any = None) -> None:
    folder = ctx.folder / "wrench"
    folder.mkdir()
    rows = _rows(120)
    for split in ("train", "valid", "test"):
        part = rows[rows["split"] == split] if split != "train" else rows[rows["split"] == "train"]
        entries = {str(i): {"label": int(r.label == "spam"), "data": {"text": r.text},
                            "weak_labels": [int("subscribe" in r.text.lower()) * 2 - 1, -1]}
                   for i, r in zip(part.index, part.itertuples(), strict=True)}
        if damage is not None and split == "train":
            entries = damage(entries)
        text = entries if isinstance(entries, str) else json.dumps(entries)
        (folder / f"{split}.json").write_text(text)
    (folder / "label.json").write_text(json.dumps(label_json or {"0": "ham", "1": "spam"}))
    ctx.config = base(data={"source": "wrench", "path": "wrench"}, lfs={"modules": []})


case("d30", "data", "WRENCH train.json that is not valid JSON", names=r"train\.json")(
    lambda ctx: _wrench(ctx, lambda e: json.dumps(e)[:-40]))
case("d31", "data", "WRENCH vote outside the classes", names=r"weak label|\b5\b")(
    lambda ctx: _wrench(ctx, lambda e: {**e, next(iter(e)): {**e[next(iter(e))], "weak_labels": [5, -1]}}))
case("d32", "data", "WRENCH label.json missing a class index", names=r"label\.json")(
    lambda ctx: _wrench(ctx, label_json={"0": "ham", "2": "spam"}))


# output directory and caches ----------------------------------------------------------------
def _output_case(id: str, what: str, files: dict[str, str], expect: str = "error", **config: Any) -> None:
    def setup(ctx: Context) -> None:
        for name, content in files.items():
            ctx.write(f"out/{name}", content)
            ctx.protect.append(f"out/{name}")
        ctx.config = base(**config)
    CASES.append(Case(id, "output", what, setup, expect=expect,
                      names=r"report\.html|config\.json|student|label_model\.json|output_dir",
                      check=completes))


_output_case("o01", "the user's report.html in output_dir (run without a report)", {"report.html": "<p>mine</p>"})
_output_case("o02", "the user's config.json in output_dir", {"config.json": '{"mine": true}'})
_output_case("o03", "the user's student/ folder in output_dir (run without a student)",
             {"student/model.bin": "weights"}, student={"kind": "none"})
_output_case("o04", "the user's label_model.json in output_dir", {"label_model.json": "{}"})
_output_case("o05", "the user's notes beside the artifacts", {"notes.md": "notes", "data/rows.csv": "text\nx\n"},
             expect="ok")


@case("o06", "output", "output_dir is the folder holding the config, the data and the LF module",
      expect="ok", check=completes)
def _(ctx: Context) -> None:
    ctx.write("my_lfs.py", "from labeling_functions.youtube import LFS\n")
    _rows().to_csv(ctx.folder / "rows.csv", index=False)
    ctx.config = {**table_config("rows.csv"), "output_dir": ".", "lfs": {"modules": ["my_lfs.py"]}}
    ctx.protect += ["my_lfs.py", "rows.csv"]


@case("o07", "output", "a second run into the folder of a first (with the user's notes added)",
      expect="ok", check=completes)
def _(ctx: Context) -> None:
    _run_first(ctx, base(report=True))
    ctx.config = base(report=False)
    _user_files(ctx)


def _run_first(ctx: Context, config: dict[str, Any]) -> None:
    """Write ``out/`` with a first run of the tree under test, before the case runs."""
    import subprocess
    import sys

    ctx.write("first.yaml", yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ctx.env["TREE"], str(ctx.folder)])}
    subprocess.run([sys.executable, "-m", "weaklabel.fit", "--config", "first.yaml", "--quiet"],
                   cwd=ctx.folder, env=env, capture_output=True, check=True, timeout=300)


@case("o08", "cache", "corrupt cached LF votes", expect="ok", check=warns(r"corrupt"))
def _(ctx: Context) -> None:
    _run_first(ctx, base())
    for path in (ctx.folder / "cache" / "lf_votes").glob("*.npz"):
        path.write_bytes(b"\x00garbage" * 50)
    ctx.config = base()


@case("o09", "cache", "corrupt LLM answer cache", names=r"llm\.sqlite|cache", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    ctx.write("cache/llm.sqlite", bytes(random.Random(0).randrange(256) for _ in range(4096)))
    ctx.protect.append("cache/llm.sqlite")
    ctx.config = llm_config(ctx)


@case("o10", "cache", "the LLM cache path is a folder", names=r"llm\.sqlite|cache", server=FakeOpenAIServer)
def _(ctx: Context) -> None:
    (ctx.folder / "cache" / "llm.sqlite").mkdir(parents=True)
    ctx.config = llm_config(ctx)


# caches that must see edits -----------------------------------------------------------------
_EDIT_LFS = """
from pathlib import Path
from weaklabel import ABSTAIN, labeling_function
from helpers import is_spammy
WORDS = Path(__file__).with_name("words.txt").read_text().split()

@labeling_function()
def helper_rule(x):
    return 1 if isinstance(x.text, str) and is_spammy(x.text) else ABSTAIN

@labeling_function()
def word_list(x):
    return 1 if isinstance(x.text, str) and any(w in x.text.lower() for w in WORDS) else ABSTAIN

@labeling_function()
def own_rule(x):
    return 0 if isinstance(x.text, str) and "song" in x.text.lower() else ABSTAIN
"""


def _edit_case(id: str, what: str, edit: tuple[str, str]) -> None:
    def setup(ctx: Context) -> None:
        ctx.write("my_lfs.py", _EDIT_LFS)
        ctx.write("helpers.py", "def is_spammy(text):\n    return 'subscribe' in text.lower()\n")
        ctx.write("words.txt", "channel\n")
        config = base(lfs={"modules": ["my_lfs.py"]}, student={"kind": "none"})
        _run_first(ctx, config)
        ctx.write(*edit)
        ctx.config = config
    CASES.append(Case(id, "cache", what, setup, expect="ok", check=same_votes_as_fresh))


_edit_case("e01", "LF helper module edited between runs", ("helpers.py", "def is_spammy(text):\n    return 'check' in text\n"))
_edit_case("e02", "data file read by the LF module edited between runs", ("words.txt", "video\n"))
_edit_case("e03", "the LF module itself edited between runs", ("my_lfs.py", _EDIT_LFS.replace('"song"', '"love"')))

_STREAM = """
import importlib, sys
from pathlib import Path
import pandas as pd
from weaklabel import load_lfs
from weaklabel.stream import apply_lfs_to_shards
Path("stream_helper.py").write_text("def is_spammy(text):\\n    return 'subscribe' in text\\n")
Path("stream_lfs.py").write_text("from weaklabel import ABSTAIN, labeling_function\\nimport stream_helper\\n"
    "@labeling_function()\\ndef spammy(x):\\n    return 1 if stream_helper.is_spammy(x.text) else ABSTAIN\\n")
sys.path.insert(0, ".")
pd.DataFrame({"text": ["subscribe now", "nice song", "check my channel"] * 50}).to_parquet("rows.parquet")
lfs = load_lfs("stream_lfs.py")
apply_lfs_to_shards(lfs, "rows.parquet", "shards", batch_rows=40, cardinality=2, progress=False)
Path("stream_helper.py").write_text("def is_spammy(text):\\n    return 'channel' in text\\n")
importlib.reload(importlib.import_module("stream_helper"))
votes = apply_lfs_to_shards(lfs, "rows.parquet", "shards", batch_rows=40, cardinality=2, progress=False)
got = votes.to_label_matrix().votes[:3, 0].tolist()
return {"ok": got == [-1, -1, 1], "note": f"resumed with votes {got}, the edited helper gives [-1, -1, 1]"}
"""
case("e04", "cache", "stream: LF helper edited, then the run resumed", via="api", expect="ok",
     names=r"spammy|changed|shards")(lambda ctx: setattr(ctx, "api_body", _STREAM))


# integrity ----------------------------------------------------------------------------------
_FIT_MODEL = """
import json
from pathlib import Path
import numpy as np
from weaklabel import apply_lfs, load_lfs
from weaklabel.data import load_youtube_spam
from weaklabel.label_models import BaseLabelModel, LabelModel
data = load_youtube_spam().iloc[:300]
L = apply_lfs(load_lfs("labeling_functions.youtube"), data, cardinality=2, progress=False)
model = LabelModel(cardinality=2).fit(L)
path = model.save(Path("label_model.json"))
"""
_STUDENT = """
from pathlib import Path
import numpy as np
from weaklabel.data import load_youtube_spam
from weaklabel.students import TfidfStudent
data = load_youtube_spam().iloc[:300]
student = TfidfStudent(char_ngram_range=None).fit(data["text"].tolist(), data["label"].to_numpy())
folder = student.save(Path("student"))
"""
_INTEGRITY = {
    "i01": ("label_model.json with its checksum removed and a parameter edited", _FIT_MODEL + """
saved = json.loads(path.read_text())
saved.pop("checksum")
saved["fitted"]["class_balance_"] = [0.99, 0.01]
path.write_text(json.dumps(saved))
loaded = BaseLabelModel.load(path)
return {"ok": False, "note": "loaded an edited model without a checksum"}
""", r"checksum|corrupt|label_model\.json"),
    "i02": ("label_model.json with a parameter cut to the wrong shape", _FIT_MODEL + """
saved = json.loads(path.read_text())
saved["fitted"]["class_balance_"] = saved["fitted"]["class_balance_"][:1]
path.write_text(json.dumps(saved))
BaseLabelModel.load(path)
return {"ok": False, "note": "loaded a damaged model"}
""", r"checksum|corrupt"),
    "i03": ("student config.json edited (a hyperparameter and the vocabulary)", _STUDENT + """
import json
config = json.loads((folder / "config.json").read_text())
config["params"]["C"] = 0.001
config["vocabularies"][0] = list(reversed(config["vocabularies"][0]))
(folder / "config.json").write_text(json.dumps(config))
TfidfStudent.load(folder)
return {"ok": False, "note": "loaded an edited student"}
""", r"checksum|corrupt|student"),
    "i04": ("student arrays.npz swapped for other arrays of the same names", _STUDENT + """
with np.load(folder / "arrays.npz") as arrays:
    swapped = {name: np.flip(arrays[name]) for name in arrays.files}
np.savez(folder / "arrays.npz", **swapped)
loaded = TfidfStudent.load(folder)
return {"ok": False, "note": "loaded swapped student arrays"}
""", r"checksum|corrupt|student"),
    "i05": ("label_matrix.npz truncated", """
from weaklabel import LabelMatrix
path = LabelMatrix([[0, 1], [1, -1]], ["a", "b"]).save("votes.npz")
path.write_bytes(path.read_bytes()[:100])
LabelMatrix.load(path)
return {"ok": False, "note": "loaded a truncated matrix"}
""", r"votes\.npz"),
}
for _id, (_what, _body, _names) in _INTEGRITY.items():
    case(_id, "integrity", _what, via="api", names=_names)(lambda ctx, body=_body: setattr(ctx, "api_body", body))


# LLM endpoints --------------------------------------------------------------------------------
class _OddServer(FakeOpenAIServer):
    """Answers some rows with a 200 whose fields have unexpected types."""

    def _completion(self, number: int, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        completion = super()._completion(number, body, reply)
        if _fails(body):
            completion["choices"][0]["message"]["content"] = 123
            completion["usage"] = "n/a"
        return completion


class _FilterServer(FakeOpenAIServer):
    """Answers some rows as a content filter does: no content, finish_reason content_filter."""

    def _completion(self, number: int, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        completion = super()._completion(number, body, reply)
        if _fails(body):
            completion["choices"][0]["message"]["content"] = None
            completion["choices"][0]["finish_reason"] = "content_filter"
        return completion


def _script_server(rule: Callable[[int, dict | None], Any], **options: Any) -> Callable[[], FakeOpenAIServer]:
    return lambda: FakeOpenAIServer(script=rule, **options)


def _llm_case(id: str, what: str, server: Callable[[], FakeOpenAIServer], expect: str, names: str = ".",
              check: Callable | None = None, timeout: float = 180.0, **labeler: Any) -> None:
    def setup(ctx: Context) -> None:
        ctx.config = llm_config(ctx, llm_labelers=[llm_labeler(ctx, **labeler)])
    CASES.append(Case(id, "llm", what, setup, expect=expect, names=names, check=check, server=server,
                      timeout=timeout, free_before_error=False))


_llm_case("m01", "the key is refused (401 on every request)", _script_server(lambda n, b: Status(401, message="bad key")),
          "error", r"401|API key|CASE_KEY")
_llm_case("m02", "the model does not exist (404)", _script_server(lambda n, b: Status(404, message="no such model")),
          "error", r"404|model")
_llm_case("m03", "one row in eight is refused for good (400: context length)",
          _script_server(lambda n, b: Status(400, message="maximum context length exceeded") if _fails(b) else None),
          "ok", check=llm_column(0.6, True))
_llm_case("m04", "one row in eight gets a 200 whose fields have unexpected types", _OddServer, "ok",
          check=llm_column(0.6, True))
_llm_case("m05", "the server accepts connections and never answers (default timeouts)",
          _script_server(lambda n, b: Hang()), "error", r"timed out|timeout|deadline|answer", timeout=300,
          options={})
_llm_case("m06", "one row in eight is blocked by a content filter", _FilterServer, "ok", check=llm_column(0.6, True))
_llm_case("m07", "answers outside the label map ('maybe')",
          _script_server(lambda n, b: Reply("maybe") if _fails(b) else None), "ok", check=llm_column(0.6, True))
_GAVE_UP = r"chat_spam.*(fail|no answer|abstain|error|retr)"
_llm_case("m08", "nothing listens on the port (connection refused)", lambda: FakeOpenAIServer(), "error",
          r"connect|refused|127\.0\.0\.1", check=warns(_GAVE_UP), base_url="http://127.0.0.1:9/v1")
_llm_case("m09", "429 on every request", _script_server(lambda n, b: Status(429, retry_after=0.0)), "error",
          r"429|rate", check=warns(_GAVE_UP))
_llm_case("m10", "500 on a third of the requests (transient)",
          lambda: FakeOpenAIServer(fault_rate=0.3, faults=(Status(500),)), "ok", check=llm_column(0.95, False))
_llm_case("m11", "one row in eight always gets a body that is not JSON",
          _script_server(lambda n, b: _malformed() if _fails(b) else None), "ok", check=llm_column(0.6, True))
_llm_case("m12", "a run against a working endpoint: the key never reaches artifacts, caches or logs",
          lambda: FakeOpenAIServer(), "ok", check=completes)


def _malformed() -> Any:
    from fake_openai_server import Malformed

    return Malformed()

