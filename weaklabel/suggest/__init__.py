"""Suggest labeling functions from labeled rows (and, optionally, from an LLM's proposals).

The loop it speeds up: find where the sources err (``weaklabel.analysis.error_slices``),
get candidate LFs aimed at those rows, keep the ones that pass a validation gate on labeled
rows and add held-out value, review them as a plain Python module, and run them in
``weaklabel.fit`` like any hand-written LF.

- ``suggest_lfs`` — generate, gate, select and measure (see ``suggester``);
- ``propose_lfs`` — an LLM's proposals through the same gate (see ``proposals``);
  Python proposals run only in ``run_python_lf``'s sandbox;
- ``Suggestion`` — one ``keyword_lf`` / ``regex_lf`` call with its numbers, JSON-ready;
- ``write_lf_module`` / ``append_suggestion`` — the reviewable module;
- ``python -m weaklabel.suggest --config ... --labeled ... --out ...`` — the CLI.
"""

from weaklabel.suggest.candidates import (
    FAMILIES,
    Suggestion,
    generate_candidates,
    wilson_lower_bound,
)
from weaklabel.suggest.proposals import LLMProposals, ProposalSettings, PythonProposal, propose_lfs
from weaklabel.suggest.sandbox import SandboxError, run_python_lf
from weaklabel.suggest.suggester import SuggestionResult, SuggestSettings, gate, suggest_lfs
from weaklabel.suggest.writer import append_suggestion, render_suggestion, write_lf_module

__all__ = [
    "FAMILIES",
    "LLMProposals",
    "ProposalSettings",
    "PythonProposal",
    "SandboxError",
    "SuggestSettings",
    "Suggestion",
    "SuggestionResult",
    "append_suggestion",
    "gate",
    "generate_candidates",
    "propose_lfs",
    "render_suggestion",
    "run_python_lf",
    "suggest_lfs",
    "wilson_lower_bound",
    "write_lf_module",
]
