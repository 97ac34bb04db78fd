"""What an LLM labeler spent and produced: requests, cache hits, abstains, tokens, cost, time.

Prices are a table of US dollars per million tokens, ``{model: (input, output)}``, given
to the labeler (``prices=``). weaklabel ships no prices: they change, and a stale table
would report wrong costs. A model missing from the table has an unknown cost (``None``),
except in-process local models, which cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

__all__ = ["CostBudget", "LLMReport", "cost_of", "report_table"]

Prices = Mapping[str, tuple[float, float]]


def cost_of(prices: Prices | None, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for the tokens at ``prices[model]`` (per million tokens); None when unpriced."""
    if not prices or model not in prices:
        return None
    per_input, per_output = prices[model]
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1e6


@dataclass
class LLMReport:
    """One labeler's usage for one ``apply_batch`` call (or calibration run).

    ``rows`` counts the rows given; ``rows_in_budget`` those inside ``max_rows`` /
    ``max_cost``; ``cache_hits`` rows answered from the cache; ``requests_sent`` HTTP
    attempts (retries included) or local model rows; ``errors`` rows whose transient
    failures outlasted every retry (ABSTAIN, not cached, asked again on the next run);
    ``refused`` rows the endpoint refused for good in this run, by kind in
    ``refusal_kinds`` (``context_length``, ``content_filter``, ``http_400``...: ABSTAIN,
    recorded in the cache); ``refused_before`` rows a previous run recorded as refused
    (ABSTAIN, not asked again unless ``retry_failed=True``); ``no_text`` rows with no value
    in any prompt field (ABSTAIN, never sent); ``unparsable`` answers naming no label
    (refusals, empty answers and 200 bodies that fit no chat completion included, the
    latter also counted in ``malformed``); ``abstains`` all ABSTAIN votes.
    """

    labeler: str
    model: str
    backend: str
    decoding: str
    rows: int = 0
    rows_in_budget: int = 0
    cache_hits: int = 0
    requests_sent: int = 0
    retries: int = 0
    errors: int = 0
    refused: int = 0
    refused_before: int = 0
    no_text: int = 0
    unparsable: int = 0
    malformed: int = 0
    abstains: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    wall_time: float = 0.0
    retry_kinds: dict[str, int] = field(default_factory=dict)
    refusal_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in_budget / self.wall_time if self.wall_time > 0 else float("nan")

    def add_usage(self, other: LLMReport) -> None:
        """Count another pass's requests, tokens and cost in this report (a side trip such as
        the content-free inputs of the bias correction)."""
        self.requests_sent += other.requests_sent
        self.retries += other.retries
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost = None if self.cost is None or other.cost is None else self.cost + other.cost

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": self.rows_per_second}

    def __str__(self) -> str:
        cost = "unknown (no price for this model)" if self.cost is None else f"${self.cost:.4f}"
        return (
            f"LLM labeler {self.labeler!r} ({self.backend}, {self.model}, {self.decoding}): "
            f"{self.rows} rows, {self.rows_in_budget} in budget, {self.cache_hits} from cache, "
            f"{self.requests_sent} requests ({self.retries} retries), {self.errors} errors, "
            f"{self.refused + self.refused_before} refused{_kinds(self.refusal_kinds)}, {self.no_text} without text, "
            f"{self.unparsable} unparsable, {self.abstains} abstains; tokens "
            f"{self.prompt_tokens} in / {self.completion_tokens} out; cost {cost}; "
            f"{self.wall_time:.1f}s"
        )


def _kinds(counts: Mapping[str, int]) -> str:
    return f" ({', '.join(f'{kind}: {n}' for kind, n in sorted(counts.items()))})" if counts else ""


def report_table(reports: Iterable[LLMReport]) -> pd.DataFrame:
    """Several labelers' reports side by side, one row each."""
    frame = pd.DataFrame([r.as_dict() for r in reports])
    return frame.set_index("labeler") if len(frame) else frame


class CostBudget:
    """Stop sending new requests once the spent plus in-flight estimated cost reaches ``max_cost``.

    A request reserves its estimated cost before it is sent and settles to its real
    cost when answered (or releases it when it fails), so concurrency cannot overshoot
    the budget by more than the estimates' error.
    """

    def __init__(self, max_cost: float, prices: Prices, model: str) -> None:
        if model not in prices:
            raise ValueError(
                f"max_cost needs the price of model {model!r}; pass prices={{{model!r}: "
                "(dollars per million input tokens, per million output tokens)}"
            )
        self.max_cost = max_cost
        self.prices = prices
        self.model = model
        self.spent = 0.0
        self.reserved = 0.0

    def estimate(self, prompt_tokens: int, completion_tokens: int) -> float:
        return cost_of(self.prices, self.model, prompt_tokens, completion_tokens) or 0.0

    def try_reserve(self, amount: float) -> bool:
        if self.spent + self.reserved + amount > self.max_cost:
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual
