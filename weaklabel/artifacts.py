"""Write a run's artifacts, all in safe, portable formats, and its self-contained HTML report.

Files in the output directory:

- ``label_matrix.npz`` (train) and ``label_matrix_<split>.npz``: the votes.
- ``lf_summary.csv``: per-source coverage, overlaps, conflicts (and accuracy with gold).
- ``probs.parquet``: row id, split, one probability column per class, votes per row, the
  predicted class's name (``predicted_label``) and index (``predicted_index``).
- ``label_model.json``: the fitted label model's parameters.
- ``student/``: the trained student (its own safe format).
- ``metrics.json``: every score of the run; the classes, confusion matrices and per-class
  scores by class name.
- ``config.json``: the resolved configuration.
- ``report.html``: tables and plots, images embedded.

- ``weaklabel_run.json``: which of these files a weaklabel run wrote.

They are written into a staging folder inside the output directory and moved into place
only once all of them are complete, so a full disk or a read-only folder leaves the
previous run's artifacts as they were, never a half-written file. The output directory may
hold other files: a run never touches a file it did not write. ``weaklabel_run.json``
lists what earlier runs wrote; only those files are replaced (or removed, when this run
does not write them again, so that the folder never mixes two runs). A file under an
artifact's name that no weaklabel run wrote stops the run before any work, with the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._json import json_safe
from weaklabel.analysis import lf_summary
from weaklabel.config import config_json
from weaklabel.exceptions import OutputDirError
from weaklabel.label_models.base import probs_columns
from weaklabel.report import render_report
from weaklabel.run_result import RunResult
from weaklabel.run_summary import class_labels, comparison_table

__all__ = [
    "ARTIFACT_NAMES",
    "RUN_MANIFEST",
    "check_output_dir",
    "comparison_table",
    "probs_frame",
    "write_artifacts",
    "write_staged",
]

RUN_MANIFEST = "weaklabel_run.json"
"""The file in an output directory that lists the artifacts weaklabel runs wrote there."""
ARTIFACT_NAMES = frozenset(
    {
        "label_matrix.npz",
        "label_matrix_valid.npz",
        "label_matrix_test.npz",
        "lf_summary.csv",
        "probs.parquet",
        "label_model.json",
        "student",
        "metrics.json",
        "config.json",
        "report.html",
        "label_model",  # task multilabel: a folder of per-label models
        "label_summary.csv",  # task multilabel: coverage and scores per label
    }
)
_FOLDER_ARTIFACTS = frozenset({"student", "label_model"})
"""Every name a run may write in its output directory (besides the manifest)."""
_MANIFEST_FORMAT = "weaklabel.run-artifacts"
_MANIFEST_VERSION = 1
_STAGING_PREFIX = ".weaklabel-staging-"


def _gold_or_none(y: np.ndarray | None) -> np.ndarray | None:
    return y if y is not None and np.any(y >= 0) else None


def probs_frame(result: RunResult) -> pd.DataFrame:
    """All splits' probabilistic labels: row id, split, ``prob_<class>`` columns, ``n_votes``,
    ``predicted_label`` (the class name) and ``predicted_index``."""
    L = result.splits["train"].L
    names = class_labels(L.class_names, L.cardinality)
    frames = []
    for split_name, probs in result.probs.items():
        split = result.splits[split_name]
        frame = pd.DataFrame(probs_columns(probs, split.L.votes, names))
        frame.insert(0, "split", split_name)
        frame.insert(0, "row_id", split.data.index.astype(str))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


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
    metrics = json.dumps(json_safe(result.metrics), indent=2)
    writers.append(("metrics.json", lambda path: path.write_text(metrics)))
    writers.append(("config.json", lambda path: path.write_text(config_json(result.config))))
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


def _read_run_manifest(out: Path) -> set[str]:
    """The artifact names earlier runs wrote in ``out`` (empty when none did)."""
    path = out / RUN_MANIFEST
    if not path.exists() and not path.is_symlink():
        return set()
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("it is not a plain file")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
            raise ValueError(f"its format is not {_MANIFEST_FORMAT!r}")
        names = manifest.get("artifacts")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError("it has no list of artifacts")
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # JSONDecodeError is a ValueError
        raise OutputDirError(
            f"{path} is not a weaklabel run manifest ({exc}); weaklabel cannot tell which files "
            "in that folder are its own: move the folder's contents away or choose another output_dir"
        ) from exc
    return set(names) & ARTIFACT_NAMES


def _is_ours(out: Path, name: str, owned: set[str]) -> bool:
    """Whether ``out / name`` is absent or an artifact an earlier run wrote (as it wrote it:
    a folder for the student, a plain file otherwise, never a link to elsewhere)."""
    path = out / name
    if not path.exists() and not path.is_symlink():
        return True
    kind_ok = path.is_dir() if name in _FOLDER_ARTIFACTS else path.is_file()
    return name in owned and kind_ok and not path.is_symlink()


def check_output_dir(out: Path) -> set[str]:
    """Check that the run may write its artifacts in ``out``; returns the names earlier runs
    wrote there. Nothing is created or changed.

    Raises ``OutputDirError`` when ``out`` is not a folder, cannot be written, or holds
    a file under an artifact's name that no weaklabel run wrote (it would be replaced).
    """
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output_dir {out} is a file, not a folder; choose another output_dir")
    owned = _read_run_manifest(out) if out.is_dir() else set()
    foreign = sorted(name for name in ARTIFACT_NAMES if out.is_dir() and not _is_ours(out, name, owned))
    if foreign:
        raise OutputDirError(
            f"output_dir {out} holds {', '.join(foreign)}, which no weaklabel run wrote there "
            f"(they are not in {RUN_MANIFEST}); the run would replace them. "
            "Move them away or choose another output_dir"
        )
    existing = next(parent for parent in (out, *out.parents) if parent.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OutputDirError(f"output_dir: cannot write to {existing}: {exc.strerror or exc}") from exc
    return owned


def _write_run_manifest(out: Path, names: Iterable[str], run_name: str) -> None:
    """Write the manifest atomically: a crash leaves the old one or the new one."""
    payload = {
        "format": _MANIFEST_FORMAT,
        "version": _MANIFEST_VERSION,
        "run": run_name,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "artifacts": sorted(names),
    }
    tmp = out / f"{_STAGING_PREFIX}{RUN_MANIFEST}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(tmp, out / RUN_MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale_staging(out: Path) -> None:
    """Staging folders and files left by a run that was killed while writing (only ours:
    they carry weaklabel's staging prefix)."""
    for path in out.glob(f"{_STAGING_PREFIX}*"):
        if not path.is_symlink():
            _remove(path)


def write_artifacts(result: RunResult, student_probs: dict[str, np.ndarray]) -> Path:
    """Write every artifact of ``result`` into its output directory, all or nothing.

    Only files that weaklabel runs wrote are replaced or removed (see the module docstring);
    a file that cannot be written (read-only folder, full disk) raises an
    ``OutputDirError`` naming it, and the output directory then holds what it held before.
    """
    return write_staged(Path(result.output_dir), _writers(result, student_probs), result.config.name)


def write_staged(out: Path, writers: list[tuple[str, Callable[[Path], Any]]], run_name: str) -> Path:
    """Run ``writers`` (artifact name, ``write(path)``) into a staging folder, then move
    the artifacts into ``out`` all or nothing (see ``write_artifacts``)."""
    owned = check_output_dir(out)  # again: files may have appeared while the run worked
    try:
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out)
        stage = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    except OSError as exc:
        raise OutputDirError(f"cannot write the artifacts to {out}: {_reason(exc)}") from exc
    try:
        for name, write in writers:
            try:
                write(stage / name)
            except OSError as exc:
                raise OutputDirError(
                    f"cannot write {name} to {out}: {_reason(exc)}; no artifact of this run was kept"
                ) from exc
        written = {name for name, _ in writers}
        try:
            # Listed first, so that a crash while moving never leaves an unlisted artifact.
            _write_run_manifest(out, owned | written, run_name)
            for name in sorted(owned | written):
                _remove(out / name)  # a folder is not replaced by a move; stale artifacts go
                if name in written:
                    os.replace(stage / name, out / name)
            _write_run_manifest(out, written, run_name)
        except OSError as exc:
            raise OutputDirError(f"cannot move the artifacts into {out}: {_reason(exc)}") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
