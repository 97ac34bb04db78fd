"""``report.html``: a run as one self-contained page, readable offline and sent as one file.

The static twin of the review app (``python -m weaklabel.review``): the same numbers
(``weaklabel.run_summary``), without interactivity except sorting tables by a column
(a few lines of inline script; no file is fetched). Sections: scores; coverage and class
balance per split with shift warnings; the sources (table, coverage-vs-accuracy chart with
labels placed apart, example rows per source); the label model's and the student's confusion
matrices and per-class precision, recall and F1, by class name; calibration; the LLM
labelers' quality and usage; where the sources err (``weaklabel.error_slices.report_section``);
timings.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.error_slices import report_section as error_slices_report_section
from weaklabel.lf import ABSTAIN
from weaklabel.metrics import calibration_curve, confusion_matrix
from weaklabel.run_result import RunResult
from weaklabel.run_summary import (
    SplitVotes,
    class_labels,
    class_report,
    comparison_table,
    llm_quality,
    llm_usage_table,
    source_examples,
    split_coverage,
)

__all__ = ["render_report"]

_EXAMPLES = 3
"""Example rows per source and kind."""
_TEXT_CHARS = 240


def _figure_tag(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


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


def _place_labels(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Label positions (in the points' display units) near each point, moved up or down in
    steps of ``height`` until no two labels of ``width`` overlap: a greedy pass, densest
    region first."""
    placed: list[tuple[float, float]] = []
    out = np.zeros_like(points)
    steps = [0.0] + [s * k for k in range(1, 40) for s in (1.0, -1.0)]
    for i in np.argsort(-points[:, 1], kind="stable"):
        x, y = points[i]
        for step in steps:
            candidate = y + step * height
            if all(abs(candidate - py) >= height or abs(x - px) >= width for px, py in placed):
                break
        placed.append((x, candidate))
        out[i] = (x, candidate)
    return out


def _sources_figure(summary: pd.DataFrame, n_classes: int) -> Any:
    """Coverage against accuracy on gold rows, each source named by its number in the table,
    the numbers placed apart so that none hides another."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    shown = summary[np.isfinite(summary["emp_accuracy"])]
    ax.scatter(shown["coverage"], shown["emp_accuracy"], s=36, alpha=0.8, color="tab:blue")
    ax.axhline(1.0 / n_classes, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"chance (1/{n_classes})", (1.0, 1.0 / n_classes), xycoords=("axes fraction", "data"),
                fontsize=7, color="grey", ha="right", va="bottom")
    ax.set_xlim(-0.02, max(0.1, float(summary["coverage"].max()) * 1.15))
    ax.set_ylim(-0.02, 1.08)
    fig.canvas.draw()
    display = ax.transData.transform(shown[["coverage", "emp_accuracy"]].to_numpy(dtype=float)) if len(shown) else np.zeros((0, 2))
    labels = _place_labels(display + np.array([6.0, 0.0]), width=22, height=10)
    inverse = ax.transData.inverted()
    for number, point, label in zip(shown["#"], display, labels, strict=True):
        target = inverse.transform(label)
        ax.annotate(str(number), tuple(inverse.transform(point)), xytext=tuple(target), textcoords="data", fontsize=7,
                    va="center", arrowprops={"arrowstyle": "-", "color": "#999", "lw": 0.5})
    ax.set_xlabel("coverage (share of train rows voted on)")
    ax.set_ylabel("accuracy on gold rows")
    ax.set_title("Labeling sources: coverage vs accuracy (numbers as in the table)")
    ax.grid(alpha=0.3)
    return fig


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    table = frame.to_html(float_format=lambda v: f"{v:.3f}", border=0, classes="table sortable", index=index)
    return f'<div class="table-wrap">{table}</div>'


def _examples(result: RunResult, names: list[str], predicted: dict[str, np.ndarray]) -> str:
    """Per source, a folded list of example rows: where it votes, where it differs from the
    label model, where it is wrong on gold rows (valid split)."""
    split_name = "valid" if "valid" in result.probs and result.splits["valid"].has_gold else "train"
    split = result.splits[split_name]
    L = split.L
    gold = split.y if split.has_gold else None
    texts = split.data["text"].fillna("").astype(str).to_numpy()
    blocks = []
    for j, source in enumerate(L.lf_names):
        found = source_examples(L.votes[:, j], predicted[split_name], gold, limit=_EXAMPLES)
        items = []
        for kind, positions in found.items():
            rows = "".join(
                f"<li>{html.escape(texts[i][:_TEXT_CHARS])} <small>(votes {html.escape(names[L.votes[i, j]])}; "
                f"label model {html.escape(names[predicted[split_name][i]])}"
                + (f"; gold {html.escape(names[gold[i]])}" if gold is not None and gold[i] >= 0 else "")
                + ")</small></li>"
                for i in positions
            )
            items.append(f"<h4>where it {html.escape(kind)}</h4><ul>{rows or '<li class=muted>none</li>'}</ul>")
        voted = int((L.votes[:, j] != ABSTAIN).sum())
        blocks.append(f"<details><summary>{html.escape(source)} <span class='muted'>({voted} votes on {split_name})</span>"
                      f"</summary>{''.join(items)}</details>")
    return f"<h2>Example rows per source ({split_name} split)</h2>" + "".join(blocks)


def _class_sections(result: RunResult, names: list[str], student_probs: dict[str, np.ndarray]) -> str:
    """The label model's and the student's confusion matrix and per-class precision, recall
    and F1 on the first gold split of test, valid."""
    gold_split = next((s for s in ("test", "valid") if s in result.probs and result.splits[s].has_gold), None)
    if gold_split is None:
        return ""
    split = result.splits[gold_split]
    parts = []
    for title, probs in (("Label model", result.probs), ("Student", student_probs)):
        if gold_split not in probs:
            continue
        confusion, per_class = class_report(split.gold, probs[gold_split].argmax(axis=1), names)
        parts.append(
            f"<h2>{title} per class ({gold_split})</h2><div class='grid'>"
            f"<div><h3>Confusion matrix (gold rows, predicted columns)</h3>{_table(confusion)}</div>"
            f"<div><h3>Precision, recall, F1</h3>{_table(per_class)}</div></div>"
        )
    return "".join(parts)


def _llm_section(result: RunResult) -> str:
    reports = result.metrics.get("llm_labelers") or {}
    if not reports:
        return ""
    parts = ["<h2>LLM labelers</h2>"]
    valid = result.splits.get("valid")
    names = [spec.name for spec in result.config.llm_labelers]
    if valid is not None and valid.has_gold and len(valid.data):
        quality = llm_quality(names, valid.L.lf_names, valid.L.votes, valid.gold, reports)
        if len(quality):
            parts += ["<h3>Quality on the valid split's gold rows</h3>", _table(quality),
                      "<p class='muted'>accuracy counts abstains as wrong; threshold, calibration score and "
                      "AUC appear when the labeler's report records them.</p>"]
    parts += ["<h3>Usage</h3>", _table(llm_usage_table(reports))]
    return "".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } h4 { margin: 0.4rem 0 0.2rem; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table.table { border-collapse: collapse; font-size: 0.8rem; }
table.table td, table.table th { padding: 0.2rem 0.5rem; border-bottom: 1px solid #eee; text-align: right; }
table.sortable th { cursor: pointer; } table.sortable th:hover { color: #3949ab; }
.muted { color: #666; } img { max-width: 100%; }
.warning { background: #fff4d6; border: 1px solid #e0b000; border-radius: 5px; padding: 0.4rem 0.7rem; margin: 0.3rem 0; }
details { margin: 0.2rem 0; } details ul { margin: 0.2rem 0 0.6rem; font-size: 0.85rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
"""

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.title = "sort";
    th.addEventListener("click", function () {
      var body = table.tBodies[0], ascending = th.dataset.order !== "asc";
      var value = function (row) { var t = row.cells[column] ? row.cells[column].textContent : "";
        var n = parseFloat(t); return isNaN(n) ? t : n; };
      Array.from(body.rows).sort(function (a, b) {
        var x = value(a), y = value(b);
        var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
      th.dataset.order = ascending ? "asc" : "desc";
    });
  });
});
"""


def render_report(result: RunResult, summary: pd.DataFrame, student_probs: dict[str, np.ndarray]) -> str:
    """The run as one self-contained HTML page (``summary``: ``lf_summary`` of the train split)."""
    L_train = result.splits["train"].L
    names = class_labels(L_train.class_names, L_train.cardinality)
    config = result.config
    predicted = {name: probs.argmax(axis=1) for name, probs in result.probs.items()}
    parts = [
        f"<h1>weaklabel report: {html.escape(config.name)}</h1>",
        f"<p class='muted'>label model: {html.escape(config.label_model.kind)} · student: "
        f"{html.escape(config.student.kind)} · seed {config.seed} · "
        + ", ".join(f"{s.name}: {len(s.data)} rows" for s in result.splits.values())
        + ". Click a table's column to sort it.</p>",
        "<h2>Scores</h2>",
    ]
    comparison = comparison_table(result.metrics)
    parts.append(_table(comparison, index=False) if len(comparison) else "<p>No split has gold labels.</p>")
    splits = [
        SplitVotes(name, result.splits[name].L.votes, predicted[name],
                   result.splits[name].y if result.splits[name].has_gold else None)
        for name in result.probs
    ]
    coverage, warnings = split_coverage(splits, names)
    parts += ["<h2>Coverage and class balance per split</h2>", _table(coverage)]
    parts += [f"<div class='warning'>{html.escape(w)}</div>" for w in warnings]
    numbered = summary.copy()
    numbered.insert(0, "#", np.arange(1, len(numbered) + 1))
    parts += ["<h2>Labeling sources (train split)</h2>", _table(numbered)]
    if "emp_accuracy" in numbered:
        parts.append(_figure_tag(_sources_figure(numbered, len(names)), "coverage vs accuracy of the sources"))
    parts.append(_examples(result, names, predicted))
    parts.append(_class_sections(result, names, student_probs))
    gold_split = next(
        (result.splits[s] for s in ("test", "valid", "train") if s in result.probs and result.splits[s].has_gold),
        None,
    )
    if gold_split is not None:
        parts += [
            f"<h2>Calibration of the probabilistic labels ({gold_split.name})</h2>",
            _figure_tag(_reliability_figure(gold_split.gold, result.probs[gold_split.name], "reliability"), "reliability"),
        ]
        if gold_split.name in student_probs:
            pred = student_probs[gold_split.name].argmax(axis=1)
            parts += [
                f"<h2>Student confusion matrix ({gold_split.name})</h2>",
                _figure_tag(_confusion_figure(gold_split.gold, pred, names, "student"), "student confusion matrix"),
            ]
    parts.append(_llm_section(result))
    parts.append(error_slices_report_section(result))
    timings = pd.DataFrame({"seconds": result.timings})
    parts += ["<h2>Timings</h2>", _table(timings)]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>weaklabel: {html.escape(config.name)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}<script>{_SORT_SCRIPT}</script></body></html>"
    )
