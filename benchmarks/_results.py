"""Shared output helpers for the benchmark scripts: one place that writes result tables."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["RESULTS_DIR", "SHARED_DATA", "machine_info", "write_results"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
SHARED_DATA = Path(os.environ.get("WEAKLABEL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (no host names or paths)."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(name: str, tables: dict[str, pd.DataFrame], notes: str = "", **meta: Any) -> Path:
    """Print each table and write them to ``benchmarks/results/<name>.md`` and ``.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    info = {**machine_info(), **meta}
    lines = [f"# {name}", "", f"Measured {info['date']} on {info['cpus']} CPU cores, Python {info['python']}.", ""]
    if notes:
        lines += [notes.strip(), ""]
    for title, table in tables.items():
        print(f"\n## {title}\n{table.to_string()}")
        lines += [f"## {title}", "", table.to_markdown() if _has_tabulate() else table.to_string(), ""]
    md_path = RESULTS_DIR / f"{name}.md"
    md_path.write_text("\n".join(lines))
    payload = {"meta": info, "tables": {t: json.loads(df.to_json(orient="table")) for t, df in tables.items()}}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nwrote {md_path.relative_to(ROOT)}")
    return md_path


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
