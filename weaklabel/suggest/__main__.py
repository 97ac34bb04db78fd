"""``python -m weaklabel.suggest``: suggest labeling functions for a fit config from labeled rows.

Reads the config's data (its train split are the rows to label), the LF modules and WRENCH
votes it already has (it may have none: start from nothing), and labeled rows — a
CSV/TSV/JSONL/Parquet file with the config's text and label columns, or ``valid`` for the
config's valid split — then prints the kept LFs and what each adds, and writes them as a
module that ``weaklabel.load_lfs`` loads and ``weaklabel.fit`` runs once listed in
``lfs.modules``. LLM labelers in the config are not run (no paid calls here).

Example::

    python -m weaklabel.suggest --config configs/youtube.yaml --labeled valid \\
        --out labeling_functions/youtube_suggested.py

Bad input (a missing file, an unknown column, an existing output file) prints the problem
(and the fix) in one or two lines and exits with status 2, as ``python -m weaklabel.fit`` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from weaklabel.config import ConfigError, FitConfig, load_config
from weaklabel.exceptions import WeaklabelError
from weaklabel.lf import BaseLabelingFunction, load_lfs
from weaklabel.suggest.suggester import SuggestionResult, SuggestSettings, suggest_lfs

__all__ = ["main"]

logger = logging.getLogger("weaklabel")
_NO_SOURCES = "the run has no source of votes"


class _UserError(WeaklabelError, ValueError):
    """Bad command-line input: reported in one line, exit status 2."""


def _load(config_path: str, overrides: list[str], out: Path) -> FitConfig:
    """The config; one with no source of votes yet is read as if it listed ``out`` (the
    module this command writes), which is then left out again."""
    try:
        return load_config(config_path, overrides)
    except ConfigError as exc:
        if _NO_SOURCES not in str(exc):
            raise
    placeholder = str(out.resolve())
    config = load_config(config_path, [*overrides, f"lfs.modules={json.dumps([placeholder])}"])
    config.lfs.modules = [m for m in config.lfs.modules if m != placeholder]
    return config


def _class_names(config: FitConfig, splits: dict[str, Any], labeled: pd.DataFrame | None) -> list[str] | None:
    if config.data.class_names:
        return list(config.data.class_names)
    for split in splits.values():
        for L in split.votes:
            if L.class_names:
                return list(L.class_names)
    if config.data.source == "bundled":
        return ["HAM", "SPAM"]
    for frame in (splits["train"].data, labeled):
        if frame is not None and frame.attrs.get("class_names"):
            return list(frame.attrs["class_names"])
    return None


def _labeled_rows(spec: str, config: FitConfig, splits: dict[str, Any], class_names: list[str] | None):
    """(rows, gold, existing votes of the dataset on them or None)."""
    from weaklabel.data import load_table

    if spec == "valid":
        valid = splits["valid"]
        if not valid.has_gold or not len(valid.data):
            raise _UserError("--labeled valid: the config's valid split has no gold labels")
        votes = valid.L.to_numpy() if valid.votes else None
        return valid.data, valid.y, votes
    path = Path(spec)
    if not path.is_file():
        raise _UserError(f"--labeled: no file at {path} (give a CSV/TSV/JSONL/Parquet file, or 'valid')")
    label_column = config.data.label_column or "label"
    try:
        frame, y = load_table(path, text_column=config.data.text_column, label_column=label_column,
                              class_names=class_names)
    except (KeyError, ValueError) as exc:
        raise _UserError(f"--labeled: {exc.args[0] if exc.args else exc}") from None
    if y is None or not (y >= 0).any():
        raise _UserError(f"--labeled: {path} has no gold labels in column {label_column!r}")
    return frame.set_axis(pd.RangeIndex(len(frame))), y, None


def _existing(config: FitConfig) -> list[BaseLabelingFunction]:
    lfs: list[BaseLabelingFunction] = []
    for module in config.lfs.modules:
        try:
            lfs.extend(load_lfs(module))
        except (ImportError, FileNotFoundError, ValueError, TypeError) as exc:
            raise _UserError(f"lfs.modules: {exc}") from None
    return lfs


def _print_table(result: SuggestionResult) -> None:
    if not len(result):
        print("No candidate passed the gate and added held-out value; nothing to write.")
        return
    table = result.table()
    shown = pd.DataFrame({
        "LF": table["name"], "votes": table["votes"], "matches": table["matches"].astype(str).str.slice(0, 32),
        "precision": [f"{p:.2f} (≥{lb:.2f})" for p, lb in zip(table["precision"], table["precision_lb"], strict=True)],
        "support": table["support"],
        "coverage": (100 * table["coverage"]).round(1).astype(str) + "%",
        "overlap": (100 * table["overlap"]).round(0).astype(int).astype(str) + "%",
        "new rows": table["new_rows"],
        "gain": table["gain"].round(2),
        "held-out acc": table["accuracy_after"].round(3),
    })
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(shown.to_string(index=False))
    print(f"\nHeld-out (leave-one-out) accuracy of the weighted vote on the {result.n_labeled} labeled rows: "
          f"{result.accuracy_before:.3f} -> {result.accuracy_after:.3f}")
    print("Coverage of the unlabeled rows by class (share of rows with a vote for it):")
    print((100 * result.coverage_by_class).round(1).to_string())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m weaklabel.suggest",
        description="Suggest labeling functions from labeled rows for a weaklabel.fit config.",
    )
    parser.add_argument("--config", required=True, help="the fit config (YAML/TOML/JSON)")
    parser.add_argument("--labeled", required=True,
                        help="CSV/TSV/JSONL/Parquet file with the config's text and label columns, or 'valid'")
    parser.add_argument("--out", required=True, help="the LF module to write, e.g. labeling_functions/x_suggested.py")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (as in weaklabel.fit)")
    parser.add_argument("--max-lfs", type=int, help="budget: most LFs kept")
    parser.add_argument("--min-precision", type=float, help="lowest accepted precision lower bound")
    parser.add_argument("--min-gain", type=float, help="least held-out gain (nats) to keep an LF")
    parser.add_argument("--json", help="also write the suggestions and their numbers as JSON here")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="warnings only")
    return parser


def run(args: argparse.Namespace) -> SuggestionResult:
    from weaklabel.pipeline import load_splits

    out = Path(args.out)
    if out.suffix != ".py":
        raise _UserError(f"--out must be a .py file, got {out}")
    if out.exists() and not args.force:
        raise _UserError(f"--out {out} exists; pass --force to replace it")
    config = _load(args.config, args.overrides, out)
    overrides = {key: value for key, value in (("max_lfs", args.max_lfs), ("min_precision", args.min_precision),
                                               ("min_gain", args.min_gain)) if value is not None}
    try:
        settings = SuggestSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')} ({e['loc'][0]}): {e['msg']}"
                             for e in exc.errors())
        raise _UserError(problems) from None
    splits = load_splits(config.data, config.seed)
    if config.llm_labelers:
        logger.warning("  the config's LLM labelers are not run by suggest; their votes are not considered")
    class_names = _class_names(config, splits, None)
    labeled, y, labeled_votes = _labeled_rows(args.labeled, config, splits, class_names)
    class_names = class_names or _class_names(config, splits, labeled)
    train = splits["train"]
    dataset_votes = labeled_votes is not None and bool(train.votes)
    k = len(class_names) if class_names else int(max(y.max(), *(L.cardinality - 1 for L in train.votes))) + 1
    existing = _existing(config)
    result = suggest_lfs(
        labeled, y, train.data, cardinality=k, class_names=class_names, existing=existing,
        L_labeled=labeled_votes if dataset_votes else None,
        L_unlabeled=train.L.to_numpy() if dataset_votes else None,
        reserved_names=[*(lf.name for lf in existing), *(train.L.lf_names if train.votes else [])],
        settings=settings,
    )
    _print_table(result)
    if len(result):
        result.write(out, overwrite=args.force)
        print(f"\nwrote {out}: review it, then add it to lfs.modules in {args.config}")
    if args.json:
        result.to_json(args.json)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    from weaklabel.fit import error_message

    try:
        run(args)
    except WeaklabelError as exc:  # the fit CLI's contract: the problem (and the fix), exit 2
        print(error_message(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

