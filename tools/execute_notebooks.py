"""Execute the tutorial notebooks in place, so the docs site shows their outputs.

The notebooks are committed executed: the docs site renders them as they are (building the
site runs nothing), and CI checks that every code cell ran, in order, from the sources
committed (the hash stamped here; ``tests/test_notebooks_committed.py``) while
``pytest --nbmake notebooks`` runs them again from a fresh kernel. Run this after editing a
notebook::

    python tools/execute_notebooks.py                     # all of notebooks/
    python tools/execute_notebooks.py notebooks/01_quickstart.ipynb

Paths of this machine (the repository, the data folder, temporary folders) are replaced in
the outputs by placeholders, so no machine path reaches the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STAMP_KEY = "weaklabel"


def sources_hash(notebook: dict) -> str:
    """sha256 of the code cells' sources, in order: what the committed outputs came from."""
    digest = hashlib.sha256()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            digest.update(source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _machine_paths() -> list[tuple[str, str]]:
    """(path, placeholder), longest first: the data folder, the repository, temp folders."""
    data = os.environ.get("WEAKLABEL_SHARED_DATA") or str(ROOT.parent / "shared" / "data")
    pairs = [
        (str(Path(data).resolve()), "<data>"),
        (str(ROOT), "<repo>"),
        (str(Path.home()), "~"),
        (tempfile.gettempdir(), "<tmp>"),
    ]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def scrub(text: str, pairs: list[tuple[str, str]]) -> str:
    for path, placeholder in pairs:
        text = text.replace(path, placeholder)
    return re.sub(r"<tmp>/[\w.-]+", "<tmp>/...", text)


_WIDGET = "application/vnd.jupyter.widget-view+json"


def _scrub_outputs(notebook: dict) -> None:
    """Machine paths replaced; progress-bar widgets dropped (without the live kernel they
    would show as frozen at 0%)."""
    pairs = _machine_paths()
    for cell in notebook["cells"]:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if _WIDGET not in o.get("data", {})]
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = scrub("".join(output["text"]), pairs)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = scrub("".join(value), pairs)


def execute(path: Path, timeout: int) -> float:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)  # the progress bars' widget state
    _scrub_outputs(notebook)
    notebook.metadata[STAMP_KEY] = {"executed_sources_sha256": sources_hash(notebook)}
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for path in args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        print(f"{path.name}: {execute(path.resolve(), args.timeout):.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
