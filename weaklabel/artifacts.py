"""Write a run's artifacts, all in safe, portable formats, and its self-contained HTML report.

Files in the output directory:

- ``label_matrix.npz`` (train) and ``label_matrix_<split>.npz``: the votes.
- ``lf_summary.csv``: per-source coverage, overlaps, conflicts (and accuracy with gold).
- ``probs.parquet``: row id, split, one probability column per class, predicted label.
- ``label_model.json``: the fitted label model's parameters.
- ``student/``: the trained student (its own safe format).
- ``metrics.json``: every score of the run.
- ``config.json``: the resolved configuration.
- ``report.html``: tables and plots, images embedded.

They are written into a staging folder inside the output directory and moved into place
only once all of them are complete, so a full disk or a read-only folder leaves the
previous run's artifacts as they were, never a half-written file; the optional artifacts
of a previous run that this one does not write (a student, a report) are removed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.analysis import lf_summary, plot_lf_summary
from weaklabel.label_models.base import probs_columns
from weaklabel.metrics import calibration_curve, confusion_matrix
from weaklabel.run_result import RunResult

__all__ = ["comparison_table", "probs_frame", "write_artifacts"]


def _gold_or_none(y: np.ndarray | None) -> np.ndarray | None:
    return y if y is not None and np.any(y >= 0) else None


def _class_names(result: RunResult) -> list[str]:
    L = result.splits["train"].L
    return L.class_names or [str(c) for c in range(L.cardinality)]


def probs_frame(result: RunResult) -> pd.DataFrame:
    """All splits' probabilistic labels: row id, split, ``prob_<class>`` columns, predicted label."""
    names = _class_names(result)
    frames = []
    for split_name, probs in result.probs.items():
        split = result.splits[split_name]
        frame = pd.DataFrame(probs_columns(probs, split.L.votes, names))
        frame.insert(0, "split", split_name)
        frame.insert(0, "row_id", split.data.index.astype(str))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def comparison_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Accuracy and F1 of majority vote, the label model and the student on every gold split."""
    rows = []
    for split_name, scores in metrics.items():
        if not isinstance(scores, dict) or "label_model" not in scores:
            continue
        for method in ("majority_vote", "label_model", "student"):
            if method in scores:
                rows.append({"split": split_name, "method": method, **scores[method]})
    return pd.DataFrame(rows)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _writers(result: RunResult, student_probs: dict[str, np.ndarray]) -> list[tuple[str, Callable[[Path], Any]]]:
    """(file name, ``write(path)``) for every artifact of ``result``."""
    writers: list[tuple[str, Callable[[Path], Any]]] = []
    for split_name, split in result.splits.items():
        if len(split.data):
            filename = "label_matrix.npz" if split_name == "train" else f"label_matrix_{split_name}.npz"
            writers.append((filename, split.L.save))
    train = result.splits["train"]
    summary = lf_summary(train.L, _gold_or_none(train.y))
    writers.append(("lf_summary.csv", summary.to_csv))
    writers.append(("probs.parquet", lambda path: probs_frame(result).to_parquet(path, index=False)))
    if hasattr(result.label_model, "save"):
        writers.append(("label_model.json", result.label_model.save))
    if result.student is not None:
        writers.append(("student", result.student.save))
    metrics = json.dumps(_json_safe(result.metrics), indent=2)
    writers.append(("metrics.json", lambda path: path.write_text(metrics)))
    writers.append(("config.json", lambda path: path.write_text(result.config.model_dump_json(indent=2))))
    if result.config.report:
        writers.append(
            ("report.html", lambda path: path.write_text(render_report(result, summary, student_probs), encoding="utf-8"))
        )
    return writers


def _reason(exc: OSError) -> str:
    cause = exc.__cause__
    return exc.strerror or (cause.strerror if isinstance(cause, OSError) else None) or str(exc)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_artifacts(result: RunResult, student_probs: dict[str, np.ndarray]) -> Path:
    """Write every artifact of ``result`` into its output directory, all or nothing.

    A file that cannot be written (read-only folder, full disk) raises an OSError naming it;
    the output directory then holds what it held before.
    """
    out = Path(result.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".artifacts-", dir=out))
    except OSError as exc:
        raise OSError(f"cannot write the artifacts to {out}: {_reason(exc)}") from exc
    try:
        writers = _writers(result, student_probs)
        for name, write in writers:
            try:
                write(stage / name)
            except OSError as exc:
                raise OSError(
                    f"cannot write {name} to {out}: {_reason(exc)}; no artifact of this run was kept"
                ) from exc
        optional = {f"label_matrix_{name}.npz" for name in result.splits}
        optional |= {"label_model.json", "student", "report.html"}
        for name in sorted(optional | {name for name, _ in writers}):
            _remove(out / name)  # a student folder is not replaced by a move; stale ones go
            if (stage / name).exists():
                os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


# ---------------------------------------------------------------- report
def _figure_tag(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{encoded}">'


def _reliability_figure(y: np.ndarray, probs: np.ndarray, title: str) -> Any:
    import matplotlib.pyplot as plt

    curve = calibration_curve(y, probs)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    ax.plot(curve["confidence"], curve["accuracy"], marker="o", label="probabilistic labels")
    ax.set_xlabel("confidence of the top class")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {float(curve['ece']):.3f})")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _confusion_figure(y: np.ndarray, pred: np.ndarray, names: list[str], title: str) -> Any:
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y, pred, len(names))
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.1 * len(names) + 2))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > cm.max() / 2 else "black")
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.3f}", border=0, classes="table")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table.table { border-collapse: collapse; font-size: 0.85rem; }
table.table td, table.table th { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
.muted { color: #666; } img { max-width: 100%; }
"""


def render_report(result: RunResult, summary: pd.DataFrame, student_probs: dict[str, np.ndarray]) -> str:
    """The run as one self-contained HTML page."""
    names = _class_names(result)
    config = result.config
    parts = [
        f"<h1>weaklabel report: {html.escape(config.name)}</h1>",
        f"<p class='muted'>label model: {html.escape(config.label_model.kind)} · student: "
        f"{html.escape(config.student.kind)} · seed {config.seed} · "
        + ", ".join(f"{s.name}: {len(s.data)} rows" for s in result.splits.values())
        + "</p>",
        "<h2>Scores</h2>",
    ]
    comparison = comparison_table(result.metrics)
    parts.append(_table(comparison) if len(comparison) else "<p>No split has gold labels.</p>")
    parts += ["<h2>Labeling sources (train split)</h2>", _table(summary)]
    parts.append(_figure_tag(plot_lf_summary(summary).figure))
    gold_split = next(
        (result.splits[s] for s in ("test", "valid", "train") if s in result.probs and result.splits[s].has_gold),
        None,
    )
    if gold_split is not None:
        parts += [
            f"<h2>Calibration of the probabilistic labels ({gold_split.name})</h2>",
            _figure_tag(_reliability_figure(gold_split.y, result.probs[gold_split.name], "reliability")),
        ]
        if gold_split.name in student_probs:
            pred = student_probs[gold_split.name].argmax(axis=1)
            parts += [
                f"<h2>Student confusion matrix ({gold_split.name})</h2>",
                _figure_tag(_confusion_figure(gold_split.y, pred, names, "student")),
            ]
    reports = result.metrics.get("llm_labelers") or {}
    if reports:
        parts += ["<h2>LLM labelers</h2>", _table(pd.DataFrame(reports).T)]
    timings = pd.DataFrame({"seconds": result.timings})
    parts += ["<h2>Timings</h2>", _table(timings)]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>weaklabel: {html.escape(config.name)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
