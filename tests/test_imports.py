"""Light imports: importing weaklabel or any estimator pulls in no heavy library until used.

Checked in a fresh interpreter (which modules got imported), never by timing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "torch", "transformers", "openai", "pandas", "pyarrow", "matplotlib")


def _imported_after(statement: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import weaklabel",
        "from weaklabel import LabelModel, MajorityVote, DawidSkene, ABSTAIN, WeaklabelError",
        "from weaklabel.label_models import LabelModel, StackedLabelModel, SnorkelLabelModel, "
        "load_label_model",
        "from weaklabel.students import TfidfStudent, TransformerStudent",
    ],
)
def test_estimators_import_nothing_heavy(statement):
    assert _imported_after(statement) == set()


def test_heavy_libraries_load_when_used():
    used = _imported_after(
        "import numpy as np\n"
        "from weaklabel.label_models import MajorityVote\n"
        "MajorityVote().fit(np.array([[0, 1], [1, 1]]))"
    )
    assert used == set()  # a majority vote needs numpy only
    assert "sklearn" in _imported_after(
        "from weaklabel.students import TfidfStudent\n"
        "TfidfStudent().fit(['spam offer', 'nice song', 'spam deal', 'nice tune'], [1, 0, 1, 0])"
    )
