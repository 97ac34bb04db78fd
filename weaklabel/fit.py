"""``python -m weaklabel.fit``: from raw data to votes, probabilistic labels, a student and a report.

The command line and notebooks share one code path: ``run(config)`` accepts a config file,
a dict or a ``FitConfig``, with optional ``key=value`` overrides.

Examples
--------
Command line::

    python -m weaklabel.fit --config configs/youtube_demo.yaml --set student.kind=none

Exit status: 0 when the run completes; 2 with a short message on stderr (the problem and
the fix, no traceback) when the cause is the user's to fix — the config, the data, an LF,
the output directory, an endpoint that refuses; 1 with a traceback for anything else (a
bug in weaklabel); 130 when interrupted.

Python::

    from weaklabel.fit import run
    result = run("configs/youtube_demo.yaml", overrides=["label_model.kind=majority_vote"])
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from weaklabel._fingerprint import is_user_file
from weaklabel.config import FitConfig, load_config
from weaklabel.exceptions import LabelingFunctionError, WeaklabelError
from weaklabel.pipeline import run_pipeline
from weaklabel.run_result import RunResult

__all__ = ["error_message", "is_internal", "main", "options_help", "run"]

logger = logging.getLogger("weaklabel")


def run(config: str | Path | dict[str, Any] | FitConfig, overrides: list[str] | None = None) -> RunResult:
    """Validate ``config`` (with ``overrides``), run the pipeline and write the artifacts."""
    return run_pipeline(load_config(config, overrides))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        if get_origin(candidate) is list:
            inner = _model_of(get_args(candidate)[0])
            if inner:
                return inner
    return None


def options_help(model: type[BaseModel] = FitConfig, prefix: str = "") -> list[str]:
    """One line per config key: dotted name, default and description (for --help and docs)."""
    lines = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _model_of(info.annotation)
        if nested is not None:
            is_list = get_origin(info.annotation) is list
            lines.append(f"  {key}{'[i]' if is_list else ''}:  {(nested.__doc__ or '').strip()}")
            lines += options_help(nested, f"{key}{'[i]' if is_list else ''}.")
            continue
        value = None if info.is_required() else info.get_default(call_default_factory=True)
        default = "required" if info.is_required() else f"default {str(value) if isinstance(value, Path) else value!r}"
        lines.append(f"  {key}  ({default})  {info.description or ''}")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m weaklabel.fit",
        description="Apply LFs and LLM labelers, fit a label model, train a student, write a report.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (YAML/TOML/JSON; override any with --set key=value):\n"
        + "\n".join(options_help()),
    )
    parser.add_argument("--config", required=True, help="YAML, TOML or JSON config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set student.kind=none (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    return parser


def _print_summary(result: RunResult) -> None:
    import pandas as pd

    from weaklabel.analysis import lf_summary
    from weaklabel.run_summary import comparison_table, llm_usage_table

    pd.set_option("display.width", 160)
    if result.config.task == "multilabel":
        from weaklabel.multilabel.pipeline import print_summary

        print_summary(result)
        return
    train = result.splits["train"]
    gold = train.y if train.has_gold else None
    print("\nLF summary (train split):")
    print(lf_summary(train.L, gold).drop(columns=["j"]).round(3).to_string())
    reports = result.metrics.get("llm_labelers") or {}
    if reports:
        print("\nLLM labelers (failures by kind abstain; see the report):")
        print(llm_usage_table(reports).to_string())
    table = comparison_table(result.metrics)
    if len(table):
        print("\nScores:")
        print(table.round(4).to_string(index=False))
    print(f"\nArtifacts in {result.output_dir}/ (open report.html)")


def _user_frame(error: BaseException) -> str | None:
    """``file:line`` of the innermost frame of ``error``'s traceback in the user's code, or
    ``None`` when no frame is (the error arose in weaklabel or a library it called)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if is_user_file(frame.filename)]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def is_internal(error: WeaklabelError) -> bool:
    """Whether ``error`` reports a bug in weaklabel rather than a problem the user can fix:
    an LF error whose cause is not a weaklabel error and arose outside the user's code (in
    weaklabel's own LLM labeler, say)."""
    cause = error.__cause__
    return (
        isinstance(error, LabelingFunctionError)
        and cause is not None
        and not isinstance(cause, WeaklabelError)
        and _user_frame(cause) is None
    )


def error_message(error: WeaklabelError) -> str:
    """What the command line prints for an error the user can fix: the problem and the fix.

    An LF that raised is named with the row, the line of its code that failed and the
    setting that makes it abstain instead; an LLM labeler's error wrapped by the applier is
    shown as the labeler's own message.
    """
    cause = error.__cause__
    if isinstance(error, LabelingFunctionError) and isinstance(cause, WeaklabelError):
        return error_message(cause)
    message = str(error).strip()
    if isinstance(error, LabelingFunctionError) and cause is not None:
        where = _user_frame(cause)
        message = (
            f"{message.splitlines()[0]}{f' (at {where})' if where else ''}\n"
            "  fix the LF, or set lfs.on_error: abstain to let it abstain on such rows"
        )
    return f"error: {message}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        config = load_config(args.config, args.overrides)
        if args.quiet:
            config.progress = False
        result = run_pipeline(config)
    except WeaklabelError as exc:
        if is_internal(exc):
            raise  # a bug: the traceback is what a report needs
        print(error_message(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: cached LF votes and LLM answers are kept; rerun to continue", file=sys.stderr)
        return 130
    _print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
