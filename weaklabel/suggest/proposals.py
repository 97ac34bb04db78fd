"""LF proposals from an LLM, checked like every other candidate.

The prompt holds the task, the class names, a few labeled rows per class and the error
slices of the source being fixed; the model answers with JSON proposals — keyword lists,
regular expressions and, when allowed, short Python functions ``lf(text) -> bool``. Requests
go through the LLM labelers' client (retries, rate limits, the key never logged) and cache
(a rerun with the same prompt pays nothing), under a budget of ``max_requests`` calls.

Keyword and regex proposals become ``Suggestion`` candidates and
pass the same gate and greedy selection as the generated ones (``suggest_lfs(...,
candidates=...)``). Python proposals run only in the sandbox (``sandbox``), pass the
same gate, and are reported (and written commented out) for a person to read before any
of their code runs in a pipeline. Proposals that name no class, hold no keyword or do not
compile are listed in ``rejected`` with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from weaklabel.apply import as_frame
from weaklabel.exceptions import LLMError
from weaklabel.suggest.candidates import Suggestion, class_tag, deduplicate, slug

__all__ = [
    "LLMProposals",
    "ProposalSettings",
    "PythonProposal",
    "ask_for_proposals",
    "build_messages",
    "parse_proposals",
    "propose_lfs",
    "request_proposals",
]

SYSTEM_PROMPT = (
    "You write labeling functions for weak supervision: simple, precise rules that vote a class "
    "on the texts they match and abstain elsewhere. Answer with one JSON object only."
)


class ProposalSettings(BaseModel):
    """Where to ask and how much to spend."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Chat model name.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (None: OpenAI).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")
    max_requests: int = Field(1, ge=1, description="Budget: LLM calls per proposal round.")
    examples_per_class: int = Field(4, ge=0, description="Labeled rows shown per class.")
    slices_shown: int = Field(4, ge=0, description="Error slices described in the prompt.")
    allow_python: bool = Field(False, description="Ask for short Python LFs too (run only in the sandbox).")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1500, ge=64)
    timeout: float = Field(60.0, gt=0)


@dataclass
class PythonProposal:
    """An LLM-written ``lf(text) -> bool`` voting ``label``, with its sandboxed numbers."""

    name: str
    label: int
    code: str
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "code": self.code, "stats": self.stats}


@dataclass
class LLMProposals:
    """What the model proposed, parsed: candidates, Python proposals, and what was rejected."""

    candidates: list[Suggestion]
    python: list[PythonProposal]
    rejected: list[dict[str, Any]]
    n_requests: int
    """Requests sent to the endpoint (cached answers cost none)."""


# ---------------------------------------------------------------- prompt
def _clip(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_messages(
    task: str,
    class_names: Sequence[str],
    texts: Sequence[str],
    y: np.ndarray,
    *,
    slices: Any = None,
    settings: ProposalSettings,
    focus_slice: int | None = None,
    random_state: int = 0,
) -> list[dict[str, str]]:
    """The chat messages of one proposal request (seeded choice of example rows)."""
    rng = np.random.default_rng(random_state)
    lines = [f"Task: {task}", "Classes: " + ", ".join(class_names), "", "Labeled examples:"]
    for c, name in enumerate(class_names):
        rows = np.flatnonzero(np.asarray(y) == c)
        for i in rng.permutation(rows)[: settings.examples_per_class]:
            lines.append(f"- [{name}] {_clip(texts[i])}")
    chosen = list(slices.slices[: settings.slices_shown]) if slices is not None else []
    if focus_slice is not None and slices is not None:
        chosen = [slices.slices[focus_slice]]
    if chosen:
        lines += ["", f"The current source ({slices.source}) errs most on these slices of the data:"]
        for s in chosen:
            lines.append(f"* {s.description}: {s.n_errors} errors on {s.size} rows")
            for e in s.examples[:2]:
                lines.append(f"  - [{e['expected']}, labeled {e['vote']}] {_clip(e.get('text', ''), 160)}")
        lines.append("Propose rules that get these rows right.")
    kinds = ['{"name": "...", "label": "<class>", "keywords": ["word or phrase", ...]}',
             '{"name": "...", "label": "<class>", "regex": "<Python regular expression>"}']
    if settings.allow_python:
        kinds.append('{"name": "...", "label": "<class>", "python": "def lf(text):\\n    return ..."}')
    lines += [
        "", "Answer with JSON: {\"lfs\": [ ... ]}, each item one of:", *kinds,
        "Keywords match whole words, ignoring case. Prefer precise rules over broad ones; 5 to 20 rules.",
    ]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


# ---------------------------------------------------------------- request
def request_proposals(
    messages_list: Sequence[list[dict[str, str]]], settings: ProposalSettings, *, cache: Any = None
) -> tuple[list[str], int]:
    """The answers' texts (cached ones reused, at most ``max_requests`` sent) and how many were sent."""
    from weaklabel.llm import LLMSettings
    from weaklabel.llm.cache import LLMCache, cache_key
    from weaklabel.llm.client import ChatClient, ChatRequest, run_sync

    cache = cache if cache is not None else LLMCache()
    client_settings = LLMSettings.build("lf_proposals", model=settings.model, base_url=settings.base_url,
                                        api_key_env=settings.api_key_env, max_concurrency=2, timeout=settings.timeout)
    client = ChatClient(client_settings, labeler="lf_proposals")
    bodies: list[dict[str, Any]] = [{"messages": m, "temperature": settings.temperature, "max_tokens": settings.max_tokens}
              for m in messages_list[: settings.max_requests]]
    keys = [cache_key(kind="lf_proposals", endpoint=client.endpoint, model=settings.model, **b) for b in bodies]
    found = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in found]
    requests = [ChatRequest(keys[i], bodies[i], sum(len(m["content"]) for m in bodies[i]["messages"]) // 4)
                for i in missing]
    fresh: dict[str, dict[str, Any]] = {}

    def on_answer(pos: int, record: dict[str, Any]) -> None:
        fresh[requests[pos].key] = record
        cache.put(requests[pos].key, record, labeler="lf_proposals", model=settings.model)

    failed = run_sync(lambda: client.fetch(requests, on_answer)) if requests else {}
    if failed:
        raise LLMError(f"LF proposals: {len(failed)} request(s) failed every retry ({next(iter(failed.values()))})",
                       "lf_proposals")
    records = [found.get(key) or fresh.get(key) or {} for key in keys]
    return [r.get("text") or "" for r in records], len(requests)


# ---------------------------------------------------------------- parsing
def _json_object(text: str) -> Any:
    cleaned = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    return json.loads(cleaned[start : end + 1])


def _class_index(label: Any, class_names: Sequence[str]) -> int | None:
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(class_names):
        return label
    lookup = {str(n).strip().lower(): i for i, n in enumerate(class_names)}
    return lookup.get(str(label).strip().lower())


def parse_proposals(answers: Sequence[str], class_names: Sequence[str], *, origin: str = "llm") -> LLMProposals:
    """Candidates and Python proposals from the model's JSON answers; the rest in ``rejected``."""
    candidates: list[Suggestion] = []
    python: list[PythonProposal] = []
    rejected: list[dict[str, Any]] = []
    for answer in answers:
        try:
            items = _json_object(answer).get("lfs", [])
            if not isinstance(items, list):
                raise ValueError("'lfs' is not a list")
        except (ValueError, AttributeError) as exc:
            rejected.append({"proposal": _clip(answer, 200), "reason": f"unreadable answer: {exc}"})
            continue
        for item in items:
            reason, made = _one_proposal(item, class_names, origin)
            if reason:
                rejected.append({"proposal": item, "reason": reason})
            elif isinstance(made, PythonProposal):
                python.append(made)
            else:
                candidates.append(made)
    return LLMProposals(deduplicate(candidates), python, rejected, 0)


def _one_proposal(item: Any, class_names: Sequence[str], origin: str) -> tuple[str | None, Any]:
    if not isinstance(item, dict):
        return "not a JSON object", None
    label = _class_index(item.get("label"), class_names)
    if label is None:
        return f"label {item.get('label')!r} is not one of {list(class_names)}", None
    tag = class_tag(label, class_names)
    base = slug(str(item.get("name") or "proposal"), 24)
    if "python" in item:
        return None, PythonProposal(f"py_{base}_{tag}", label, str(item["python"]))
    if "regex" in item:
        pattern = item["regex"]
        try:
            re.compile(pattern, re.IGNORECASE)
        except (re.error, TypeError) as exc:
            return f"regex does not compile: {exc}", None
        return None, Suggestion(name=f"llm_{base}_{tag}", kind="regex", label=label, family="llm",
                                description=f"{origin}: {item.get('name') or pattern}", pattern=pattern,
                                label_name=class_names[label], origin=origin)
    words = item.get("keywords")
    if isinstance(words, str):
        words = [words]
    words = [w.strip() for w in words or [] if isinstance(w, str) and w.strip()]
    if not words:
        return "no keywords, regex or python", None
    return None, Suggestion(name=f"llm_{base}_{tag}", kind="keyword", label=label, family="llm",
                            description=f"{origin}: {item.get('name') or words[0]}", keywords=sorted(set(words)),
                            label_name=class_names[label], origin=origin)


def ask_for_proposals(
    task: str,
    labeled: Any,
    y: Any,
    class_names: Sequence[str],
    settings: ProposalSettings,
    *,
    slices: Any = None,
    cache: Any = None,
    random_state: int = 0,
) -> LLMProposals:
    """Send the proposal prompt(s) and parse the answers: one general request, then one per
    error slice while the ``max_requests`` budget lasts."""
    texts, gold = _texts(labeled), _gold(y)
    messages = [build_messages(task, class_names, texts, gold, slices=slices, settings=settings,
                               random_state=random_state)]
    if slices is not None:
        messages += [build_messages(task, class_names, texts, gold, slices=slices, settings=settings,
                                    focus_slice=i, random_state=random_state + i + 1)
                     for i in range(len(slices.slices))]
    answers, sent = request_proposals(messages, settings, cache=cache)
    parsed = parse_proposals(answers, class_names, origin=settings.model)
    parsed.n_requests = sent
    return parsed


def propose_lfs(
    task: str,
    labeled: Any,
    y: Any,
    unlabeled: Any,
    class_names: Sequence[str],
    settings: ProposalSettings,
    *,
    slices: Any = None,
    cache: Any = None,
    suggest_settings: Any = None,
    **suggest_options: Any,
):
    """Ask the LLM for LFs, then gate and select them on the labeled rows like generated ones.

    ``suggest_options`` go to ``suggest_lfs`` (existing sources,
    ``L_labeled``/``L_unlabeled``, settings fields). Returns its
    ``SuggestionResult``, with the Python proposals (sandboxed and
    gated, never run in-process) in ``result.python`` and the unusable ones in
    ``result.rejected``.
    """
    from weaklabel.suggest.suggester import suggest_lfs

    proposals = ask_for_proposals(task, labeled, y, class_names, settings, slices=slices, cache=cache)
    result = suggest_lfs(labeled, y, unlabeled, class_names=class_names, candidates=proposals.candidates,
                         focus=slices, settings=suggest_settings, **suggest_options)
    result.python = _check_python(proposals, _texts(labeled), _texts(unlabeled), _gold(y), class_names,
                                  result.settings)
    result.rejected = proposals.rejected
    result.n_requests = proposals.n_requests
    return result


def _texts(rows: Any) -> list[str]:
    return as_frame(rows)["text"].fillna("").astype(str).tolist()


def _gold(y: Any) -> np.ndarray:
    return np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)


def _check_python(
    proposals: LLMProposals, texts_l: list[str], texts_u: list[str], gold: np.ndarray,
    class_names: Sequence[str], settings: Any,
) -> list[PythonProposal]:
    """Run each Python proposal in the sandbox on the labeled and unlabeled rows and gate it;
    those that cannot run go to ``proposals.rejected``."""
    from weaklabel.suggest.sandbox import SandboxError, run_python_lf
    from weaklabel.suggest.suggester import gate

    known = gold >= 0
    prior = (np.bincount(gold[known], minlength=len(class_names)) + 1.0) / (known.sum() + len(class_names))
    kept: list[PythonProposal] = []
    for proposal in proposals.python:
        try:
            run_l = run_python_lf(proposal.code, texts_l)
            run_u = run_python_lf(proposal.code, texts_u)
        except SandboxError as exc:
            proposals.rejected.append({"proposal": proposal.to_dict(), "reason": str(exc)})
            continue
        proxy = Suggestion(name=proposal.name, kind="regex", label=proposal.label, family="llm",
                           description="python", pattern="python")
        passed = gate([proxy], run_l.fires[known, None], gold[known], prior, settings)
        proposal.stats = {**proxy.stats, "coverage": round(float(run_u.fires.mean()) if texts_u else 0.0, 4),
                          "errors": run_l.n_errors + run_u.n_errors, "passed_gate": bool(passed[0])}
        kept.append(proposal)
    return kept
