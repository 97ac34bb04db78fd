"""The tutorial notebooks are committed executed (the docs site shows them as they are):
every code cell ran, in order, from the code committed, and no machine path is in the outputs.

``pytest --nbmake notebooks`` (CI) executes them again from a fresh kernel; this test checks,
in a fraction of a second, that what the site shows comes from the code it shows. After
editing a notebook: ``python tools/execute_notebooks.py notebooks/NAME.ipynb``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_FIX = "run: python tools/execute_notebooks.py notebooks/{name}"
_MACHINE_PATH = re.compile(r"(?<![\w<])/(?:work|home|root|tmp|private|Users|var/folders)/[\w.-]")


def _tool():
    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_outputs_come_from_the_committed_code(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    fix = _FIX.format(name=path.name)
    stamp = notebook["metadata"].get("weaklabel", {}).get("executed_sources_sha256")
    assert stamp is not None, f"{path.name} is committed without executing it ({fix})"
    assert stamp == _tool().sources_hash(notebook), f"{path.name}'s code changed since its outputs were made ({fix})"
    counts = [cell.get("execution_count") for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name} did not run top to bottom once ({fix})"
    errors = [o for c in notebook["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"{path.name} is committed with an error output ({fix})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_machine_path_in_the_outputs(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")] + [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            for text in texts:
                found = _MACHINE_PATH.search("".join(text))
                assert found is None, f"{path.name} cell {number} shows a machine path near {found.group()!r}"
