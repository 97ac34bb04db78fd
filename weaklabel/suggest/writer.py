"""Write suggestions as a plain LF module a person reviews, edits and keeps.

The module is ordinary Python: one ``keyword_lf`` / ``regex_lf`` call per LF at module
level (so ``weaklabel.load_lfs`` finds them and ``weaklabel.fit`` runs them unchanged),
each under a comment with what was measured and the suggestion's id. Files are built from
two templates (the header and one block per LF), so a review app can append one accepted
suggestion at a time with ``append_suggestion``; appending the same suggestion twice
does nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from weaklabel.suggest.candidates import Suggestion

__all__ = ["HEADER_TEMPLATE", "LF_TEMPLATE", "append_suggestion", "free_name", "render_suggestion", "write_lf_module"]

HEADER_TEMPLATE = '''"""Labeling functions suggested by weaklabel.suggest{source}.

Review each LF before you keep it: delete those that look like accidents of the sample, edit
keywords, merge near-duplicates. The comment above each LF says what was measured: precision
on the labeled rows (with its lower confidence bound) and how many it fired on, coverage of the
unlabeled rows, and the share of those rows where earlier sources also vote (overlap) or vote
another class (conflict). Load with weaklabel.load_lfs(<this file>) or list the file in a fit
config's lfs.modules.
"""

from weaklabel import keyword_lf, regex_lf

{constants}
'''

LF_TEMPLATE = """
# {comment}
# id: {id} ({family}) {description}
{name} = {call}
"""

_LF_LINE = re.compile(r"^(\w+)\s*=\s*(?:keyword_lf|regex_lf)\(", re.MULTILINE)
_CONSTANT_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*=\s*(\d+)\s*$", re.MULTILINE)
_ID_LINE = re.compile(r"^# id: (\S+)", re.MULTILINE)
_IMPORT_LINE = re.compile(r"^from weaklabel import [^\n]*\bkeyword_lf\b[^\n]*\bregex_lf\b", re.MULTILINE)


def class_constants(class_names: Sequence[str] | None, cardinality: int | None = None) -> dict[int, str]:
    """Upper-case constant names for the classes (``SPAM = 1``), unique and valid identifiers."""
    names = list(class_names) if class_names else [f"CLASS_{c}" for c in range(cardinality or 0)]
    out: dict[int, str] = {}
    for c, name in enumerate(names):
        constant = re.sub(r"\W+", "_", str(name)).strip("_").upper() or f"CLASS_{c}"
        if not re.match(r"[A-Z_]", constant) or constant in {"LFS", "ABSTAIN"}:
            constant = f"CLASS_{constant}"
        while constant in out.values():
            constant = f"{constant}_{c}"
        out[c] = constant
    return out


def _literal(text: str) -> str:
    """A readable Python literal: a raw string where that is exact, else repr."""
    if '"' not in text and "\n" not in text and not text.endswith("\\") and "\\" in text:
        return f'r"{text}"'
    return repr(text)


def _comment(s: Suggestion) -> str:
    stats = s.stats
    parts = []
    if stats.get("precision") is not None:
        parts.append(
            f"precision {stats['precision']:.2f} (lower bound {stats.get('precision_lb', 0):.2f}) "
            f"on {stats.get('support', 0)} labeled rows"
        )
    if "coverage" in stats:
        parts.append(f"coverage {100 * stats['coverage']:.1f}% of unlabeled rows")
        parts.append(f"overlap {100 * stats.get('overlap', 0):.0f}%, conflict {100 * stats.get('conflict', 0):.0f}%")
    if "gain" in stats:
        parts.append(f"held-out gain {stats['gain']:+.2f} nats")
    if s.origin != "labeled rows":
        parts.append(f"from {s.origin}")
    return " · ".join(parts) or "not measured"


def render_suggestion(s: Suggestion, label: str | None = None, name: str | None = None) -> str:
    """The block of one LF: comment lines and the ``keyword_lf`` / ``regex_lf`` call."""
    name = name or s.name
    label = label or str(s.label)
    if s.kind == "keyword":
        words = "[" + ", ".join(repr(w) for w in s.keywords or []) + "]"
        extra = "" if s.whole_word else ", whole_word=False"
        call = f"keyword_lf({name!r}, {words}, {label}{extra})"
    else:
        extra = "" if s.ignore_case else ", flags=0"
        call = f"regex_lf({name!r}, {_literal(s.pattern or '')}, {label}{extra})"
    description = s.description.replace("\n", " ")
    return LF_TEMPLATE.format(comment=_comment(s), id=s.id, family=s.family, description=description,
                              name=name, call=call)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".py.tmp", delete=False, encoding="utf-8") as f:
        f.write(text)
    os.replace(f.name, path)


def _header(class_names: Sequence[str] | None, cardinality: int | None, source: str) -> str:
    constants = class_constants(class_names, cardinality)
    lines = "\n".join(f"{constant} = {c}" for c, constant in constants.items())
    return HEADER_TEMPLATE.format(source=source, constants=lines)


def write_lf_module(
    path: str | Path,
    suggestions: Sequence[Suggestion],
    *,
    class_names: Sequence[str] | None = None,
    n_labeled: int | None = None,
    overwrite: bool = False,
    python: Sequence[Any] = (),
) -> Path:
    """Write ``suggestions`` as a new LF module at ``path`` (refuses to replace a file unless
    ``overwrite``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it, or append to it")
    if path.suffix != ".py":
        raise ValueError(f"an LF module is a .py file, got {path}")
    cardinality = max([s.label for s in suggestions], default=1) + 1
    source = f" from {n_labeled} labeled rows" if n_labeled else ""
    text = _header(class_names, cardinality, source)
    constants = class_constants(class_names, cardinality)
    taken: set[str] = set(constants.values()) | {"keyword_lf", "regex_lf"}
    for s in suggestions:
        name = free_name(s.name, taken)
        text += render_suggestion(s, constants.get(s.label), name)
    for proposal in python:
        text += _render_python(proposal, constants.get(proposal.label, str(proposal.label)))
    _atomic_write(path, text)
    return path


def _render_python(proposal: Any, label: str) -> str:
    """An LLM-written Python LF, commented out: it runs only once a person has read it."""
    stats = proposal.stats
    measured = (
        f"precision {stats.get('precision')} (lower bound {stats.get('precision_lb')}) on "
        f"{stats.get('support')} labeled rows · coverage {stats.get('coverage')} · "
        f"{'passed' if stats.get('passed_gate') else 'FAILED'} the gate (measured in the sandbox)"
    )
    body = "\n".join(f"#     {line}" for line in proposal.code.strip().splitlines())
    return (
        f"\n# LLM-written Python LF, not active: read it, then uncomment to use it. {measured}\n"
        f"# @labeling_function()\n# def {proposal.name}(x):\n#     return {label} if lf(x.text) else ABSTAIN\n"
        f"# where lf is:\n{body}\n"
    )


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... — the first not in ``taken`` (which it joins)."""
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        candidate = f"{name}_{count}"
    taken.add(candidate)
    return candidate


def append_suggestion(
    path: str | Path, suggestion: Suggestion, *, class_names: Sequence[str] | None = None
) -> bool:
    """Append one suggestion to the module at ``path`` (created from the header template if
    missing). Returns False, changing nothing, when a suggestion with the same id is there."""
    path = Path(path)
    if path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        text = _header(class_names, max(len(class_names or []), suggestion.label + 1), "")
    if suggestion.id in _ID_LINE.findall(text):
        return False
    constants = {int(value): name for name, value in _CONSTANT_LINE.findall(text)}
    taken = set(_LF_LINE.findall(text)) | set(constants.values()) | {"keyword_lf", "regex_lf"}
    if not _IMPORT_LINE.search(text):
        text = text.rstrip("\n") + "\n\nfrom weaklabel import keyword_lf, regex_lf\n"
    name = free_name(suggestion.name, taken)
    text = text.rstrip("\n") + "\n" + render_suggestion(suggestion, constants.get(suggestion.label), name)
    _atomic_write(path, text)
    return True
