"""Dollar cost of requests from their `usage`, with prices kept as data (`data/prices.json`).

Token accounting, defensively, because the endpoint's conventions are not documented:
- cached prompt tokens are taken to be part of `prompt_tokens` (OpenAI's convention) and billed
  at the cached price, the rest at the input price;
- reasoning (thinking) tokens bill as output. Whether `completion_tokens` already includes them
  is read off `total_tokens`: if the total exceeds prompt + completion, the reasoning tokens were
  reported apart and are added; otherwise they are inside `completion_tokens` already.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UnknownModelPriceError
from ..types import Usage

__all__ = ["Cost", "ModelPrice", "PriceTable", "UnknownModelPriceError", "billable_tokens"]


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    cached_input_long: float | None = None
    long_context_threshold: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelPrice:
        known = {name for name in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown price fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class BillableTokens:
    uncached_input: int
    cached_input: int
    output: int  # completion including reasoning
    reasoning: int


def billable_tokens(usage: Usage) -> BillableTokens:
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    reasoning = usage.reasoning_tokens
    output = usage.completion_tokens
    if reasoning and usage.total_tokens >= usage.prompt_tokens + output + reasoning:
        output += reasoning
    return BillableTokens(usage.prompt_tokens - cached, cached, output, reasoning)


@dataclass(frozen=True)
class Cost:
    input_usd: float
    cached_input_usd: float
    output_usd: float
    # The share of output_usd that paid for reasoning tokens (already included in output_usd).
    reasoning_usd: float

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.cached_input_usd + self.output_usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.input_usd + other.input_usd,
            self.cached_input_usd + other.cached_input_usd,
            self.output_usd + other.output_usd,
            self.reasoning_usd + other.reasoning_usd,
        )


ZERO_COST = Cost(0.0, 0.0, 0.0, 0.0)


class PriceTable:
    """Prices by model id; `google/` prefixes and `-NNN` version suffixes are looked through."""

    def __init__(
        self, models: dict[str, ModelPrice], *, per_tokens: int = 1_000_000,
        batch_discount: float = 0.5,
    ) -> None:
        self.models = models
        self.per_tokens = per_tokens
        self.batch_discount = batch_discount

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceTable:
        models = {name: ModelPrice.from_dict(entry) for name, entry in data["models"].items()}
        return cls(
            models,
            per_tokens=int(data.get("per_tokens", 1_000_000)),
            batch_discount=float(data.get("batch_discount", 0.5)),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    @classmethod
    def default(cls) -> PriceTable:
        text = resources.files("aiovertexchat").joinpath("data/prices.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))

    def lookup(self, model: str) -> ModelPrice | None:
        name = model.rsplit("/", 1)[-1]
        while name:
            price = self.models.get(name)
            if price is not None:
                return price
            head, sep, tail = name.rpartition("-")
            # Drop a trailing version or date part ("-001", "-preview-05-20") and try again.
            if not sep or not (tail.isdigit() or tail in ("preview", "exp", "latest")):
                return None
            name = head
        return None

    def price(self, model: str) -> ModelPrice:
        price = self.lookup(model)
        if price is None:
            raise UnknownModelPriceError(
                f"no price for model {model!r}; known: {', '.join(sorted(self.models))}. "
                "Pass a price file that lists it (see aiovertexchat/data/prices.json)."
            )
        return price

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> Cost:
        price = self.price(model)
        tokens = billable_tokens(usage)
        long = (
            price.long_context_threshold is not None
            and usage.prompt_tokens > price.long_context_threshold
        )
        input_rate = (price.input_long if long else None) or price.input
        output_rate = (price.output_long if long else None) or price.output
        cached_rate = (price.cached_input_long if long else None) or price.cached_input
        if cached_rate is None:
            cached_rate = input_rate  # no caching discount known for this model
        scale = (self.batch_discount if batch else 1.0) / self.per_tokens
        return Cost(
            input_usd=tokens.uncached_input * input_rate * scale,
            cached_input_usd=tokens.cached_input * cached_rate * scale,
            output_usd=tokens.output * output_rate * scale,
            reasoning_usd=tokens.reasoning * output_rate * scale,
        )
