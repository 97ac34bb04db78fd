"""Coverage and accuracy of the bundled labeling-function modules on their raw corpora.

Recomputes the tables in the docstrings of ``labeling_functions/youtube.py`` and
``labeling_functions/sms.py``: per-LF coverage and empirical accuracy, overall coverage,
and a majority vote over the LFs against the majority-class baseline, on all rows, on the
rows the LFs were written on (development) and on rows kept out of that work (held out):

- YouTube: held out = the Shakira video (the demo's test split), development = the other four.
- SMS: held out = the 20% of messages not drawn by ``numpy.random.default_rng(0).random(n) < 0.8``.

Run from the repository root::

    python -m benchmarks.lf_modules            # prints the tables, writes benchmarks/results/
    python -m benchmarks.lf_modules --docstring  # prints the docstring blocks to paste

It also says whether each module's docstring still matches what its code measures (the
test ``tests/test_labeling_functions.py`` asserts the same).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import weaklabel
from weaklabel.data import load_wrench, read_uci_sms, read_uci_youtube
from weaklabel.metrics import score_predictions

__all__ = [
    "MODULES",
    "ModuleReport",
    "docstring_block",
    "docstring_matches",
    "docstring_numbers",
    "evaluate",
    "load_corpus",
    "majority_vote",
    "wrench_comparison",
]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WEAKLABEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODULES = ("youtube", "sms")
HAM, SPAM = 0, 1
_CLASS_NAMES = {HAM: "HAM", SPAM: "SPAM"}
_HELD_OUT = {
    "youtube": "the Shakira video (the demo's test split)",
    "sms": "a seeded 20% sample (numpy default_rng(0))",
}


@dataclass
class ModuleReport:
    """What :func:`evaluate` measured for one LF module."""

    name: str
    per_lf: pd.DataFrame
    overall: pd.DataFrame
    votes: np.ndarray
    y: np.ndarray


def load_corpus(name: str, shared_data: Path = SHARED_DATA) -> tuple[pd.DataFrame, np.ndarray]:
    """The raw corpus of module ``name`` and a boolean mask of its held-out rows."""
    if name == "youtube":
        data = read_uci_youtube(shared_data / "youtube_uci_raw")
        return data, (data["video"] == "Shakira").to_numpy()
    if name == "sms":
        data = read_uci_sms(shared_data / "sms_uci_raw")
        return data, ~(np.random.default_rng(0).random(len(data)) < 0.8)
    raise ValueError(f"unknown LF module {name!r}; choose from {MODULES}")


def majority_vote(votes: np.ndarray) -> np.ndarray:
    """SPAM where more LFs vote SPAM than HAM; ties and rows without votes are HAM.

    Deterministic on purpose (no random tie-break), so the docstring numbers are exact.
    """
    votes = np.asarray(votes)
    return np.where((votes == SPAM).sum(axis=1) > (votes == HAM).sum(axis=1), SPAM, HAM)


def evaluate(name: str, shared_data: Path = SHARED_DATA) -> ModuleReport:
    """Apply ``labeling_functions.<name>`` to its raw corpus and measure it against gold."""
    data, held_out = load_corpus(name, shared_data)
    lfs = weaklabel.load_lfs(f"labeling_functions.{name}")
    L = weaklabel.apply_lfs(lfs, data[["text"]], progress=False)
    votes, y = L.to_numpy(), data["label"].to_numpy()
    summary = weaklabel.lf_summary(L, y)
    held = weaklabel.lf_summary(votes[held_out], y[held_out], lf_names=L.lf_names)
    per_lf = pd.DataFrame(
        {
            "votes": ["/".join(_CLASS_NAMES[c] for c in p) or "-" for p in summary["polarity"]],
            "coverage": summary["coverage"],
            "accuracy": summary["emp_accuracy"],
            "held_out_accuracy": held["emp_accuracy"],
        }
    )
    majority_class = int(np.bincount(y).argmax())
    pred = majority_vote(votes)
    covered = (votes != weaklabel.ABSTAIN).any(axis=1)
    rows = {}
    for part, mask in (
        ("all", np.ones(len(y), bool)),
        ("development", ~held_out),
        ("held out", held_out),
    ):
        mv = score_predictions(y[mask], pred[mask], cardinality=2)
        base = score_predictions(y[mask], np.full(mask.sum(), majority_class), cardinality=2)
        rows[part] = {
            "n": int(mask.sum()),
            "coverage": covered[mask].mean(),
            "mv_accuracy": mv["accuracy"],
            "mv_f1": mv["f1"],
            "baseline_accuracy": base["accuracy"],
            "baseline_f1": base["f1"],
        }
    overall = pd.DataFrame.from_dict(rows, orient="index")
    overall.index.name = "rows"  # all, development, held out
    return ModuleReport(name, per_lf, overall, votes, y)


def wrench_comparison(name: str, shared_data: Path = SHARED_DATA) -> pd.DataFrame:
    """Our LFs against WRENCH's hand-written LFs (the peer) on WRENCH's test split of the corpus.

    Both are scored with the same :func:`majority_vote`, on the same rows.
    """
    data, gold_L, y = load_wrench(shared_data / name, split="test")
    ours = weaklabel.apply_lfs(
        weaklabel.load_lfs(f"labeling_functions.{name}"), data, progress=False
    )
    rows = {}
    for label, votes in ((f"weaklabel ({ours.votes.shape[1]} LFs)", ours.to_numpy()),
                         (f"WRENCH ({gold_L.votes.shape[1]} LFs)", gold_L.to_numpy())):  # fmt: skip
        scores = score_predictions(y, majority_vote(votes), cardinality=2)
        rows[label] = {
            "n": len(y),
            "coverage": (votes != weaklabel.ABSTAIN).any(axis=1).mean(),
            "mv_accuracy": scores["accuracy"],
            "mv_f1": scores["f1"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "label sources"
    return table


# ---------------------------------------------------------------- docstring round trip
def _rst_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    rule = " ".join("=" * w for w in widths)

    def line(cells: list[str]) -> str:
        return " ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [rule, line(header), rule, *(line(r) for r in rows), rule]


def _fmt(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.3f}"


def docstring_block(report: ModuleReport) -> str:
    """The measured part of the module docstring, in the format :func:`docstring_numbers` reads."""
    majority = "SPAM" if np.bincount(report.y).argmax() == SPAM else "HAM"
    lf_rows = [
        [name, r.votes, _fmt(r.coverage), _fmt(r.accuracy), _fmt(r.held_out_accuracy)]
        for name, r in report.per_lf.iterrows()
    ]
    overall_rows = [
        [part, str(int(r.n)), _fmt(r.coverage), _fmt(r.mv_accuracy), _fmt(r.mv_f1),
         _fmt(r.baseline_accuracy), _fmt(r.baseline_f1)]
        for part, r in report.overall.iterrows()
    ]  # fmt: skip
    lines = [
        "Per LF (coverage and empirical accuracy on all rows; accuracy on the held-out rows):",
        "",
        *_rst_table(["LF", "votes", "coverage", "accuracy", "held-out"], lf_rows),
        "",
        "Majority vote over the LFs (ties and rows without votes -> HAM) against always-"
        f"{majority}:",
        "",
        *_rst_table(
            ["rows", "n", "coverage", "MV acc", "MV F1", "base acc", "base F1"], overall_rows
        ),
    ]
    return "\n".join(lines)


_NUMBER = r"(-|\d+(?:\.\d+)?)"


def docstring_numbers(doc: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the two tables of :func:`docstring_block` back from a module docstring."""
    lf_rows = re.findall(
        rf"^(\w+) +(SPAM|HAM|HAM/SPAM|-) +{_NUMBER} +{_NUMBER} +{_NUMBER}$", doc, re.M
    )
    overall_rows = re.findall(
        rf"^(all|development|held out) +(\d+) +{' +'.join([_NUMBER] * 5)}$", doc, re.M
    )
    if not lf_rows or not overall_rows:
        raise ValueError(
            "docstring has no measured tables; paste `python -m benchmarks.lf_modules --docstring`"
        )
    num = lambda s: np.nan if s == "-" else float(s)  # noqa: E731
    per_lf = pd.DataFrame(
        [(n, v, *map(num, rest)) for n, v, *rest in lf_rows],
        columns=["lf", "votes", "coverage", "accuracy", "held_out_accuracy"],
    ).set_index("lf")
    overall = pd.DataFrame(
        [(p, int(n), *map(num, rest)) for p, n, *rest in overall_rows],
        columns=[
            "rows",
            "n",
            "coverage",
            "mv_accuracy",
            "mv_f1",
            "baseline_accuracy",
            "baseline_f1",
        ],
    ).set_index("rows")
    return per_lf, overall


def docstring_matches(report: ModuleReport, doc: str, tol: float = 0.01) -> list[str]:
    """Where the docstring disagrees with the measurement (empty when it is up to date)."""
    per_lf, overall = docstring_numbers(doc)
    problems = []
    if list(per_lf.index) != list(report.per_lf.index):
        problems.append(
            f"LFs in docstring {list(per_lf.index)} != LFs in code {list(report.per_lf.index)}"
        )
        return problems
    for name, row in report.per_lf.iterrows():
        if per_lf.at[name, "votes"] != row.votes:
            problems.append(
                f"{name}: docstring says it votes {per_lf.at[name, 'votes']}, it votes {row.votes}"
            )
    pairs = [
        (per_lf[c], report.per_lf[c], c) for c in ("coverage", "accuracy", "held_out_accuracy")
    ]
    pairs += [(overall[c], report.overall[c], c) for c in report.overall.columns if c != "n"]
    for written, measured, column in pairs:
        written, measured = written.reindex(measured.index).astype(float), measured.astype(float)
        bad = ~(
            np.isclose(written, measured, atol=tol, rtol=0) | (written.isna() & measured.isna())
        )
        problems += [
            f"{idx} {column}: docstring {written[idx]}, measured {measured[idx]:.3f}"
            for idx in measured.index[bad]
        ]
    if not (overall["n"].reindex(report.overall.index) == report.overall["n"]).all():
        problems.append("row counts differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docstring", action="store_true", help="print the docstring blocks only")
    args = parser.parse_args(argv)
    reports = {name: evaluate(name) for name in MODULES}
    if args.docstring:
        for name, report in reports.items():
            print(f"# labeling_functions/{name}.py\n\n{docstring_block(report)}\n")
        return 0

    # Imported here, not at the top: the tests load this file by path, without the
    # repository root on sys.path.
    from benchmarks._results import write_results

    stale, tables = {}, {}
    for name, report in reports.items():
        module = sys.modules[f"labeling_functions.{name}"]
        stale[name] = docstring_matches(report, module.__doc__ or "")
        tables[f"{name}: per LF"] = report.per_lf.round(3)
        tables[f"{name}: majority vote vs majority-class baseline"] = report.overall.round(3)
        tables[f"{name}: vs WRENCH's LFs on WRENCH's test split"] = wrench_comparison(name).round(3)
    status = [
        f"- `{name}`: docstring " + ("is STALE: " + "; ".join(problems) if problems else "matches")
        for name, problems in stale.items()
    ]
    notes = "\n".join(
        [
            "Held out: " + "; ".join(f"{k} = {v}" for k, v in _HELD_OUT.items()) + ".",
            "Majority vote: ties and rows without votes -> HAM.",
            "WRENCH's YouTube test split is the Shakira video (held out here too); its SMS test"
            " rows may fall in the 80% the SMS LFs were written on.",
            *status,
        ]
    )
    write_results("lf_modules", tables, notes=notes)
    print("\n" + "\n".join(status))
    return 1 if any(stale.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
