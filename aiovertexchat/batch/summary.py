"""What a batch run did: counts, tokens, estimated cost, latency percentiles. Sans-IO.

Only items recorded by this run count (a result is added once its line is durable); items
found done in the output/errors files are reported as skipped. Cost is estimated with the
price table at on-demand prices: this tool calls the online Chat Completions API, which is
billed per request at on-demand rates, not at Vertex batch-prediction rates (those are about
`batch_discount` times lower and apply only to Vertex batch prediction jobs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .._protocol.pricing import ZERO_COST, Cost, PriceTable
from .histogram import LatencyHistogram
from .result import BatchResult

__all__ = ["BatchSummary"]

_PERCENTILES = (50, 90, 99)


@dataclass
class BatchSummary:
    """Totals of one run; `add()` each recorded result, then `to_dict()` / `render()`."""

    prices: PriceTable | None = None
    succeeded: int = 0
    failed: int = 0
    skipped_succeeded: int = 0
    """Items skipped because the output already had them."""
    skipped_failed: int = 0
    """Items skipped because the errors file already had them (no --retry-failed)."""
    total: int | None = None
    """Input items (whole input, skipped included), when known."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost: Cost = ZERO_COST
    unpriced: Counter[str] = field(default_factory=Counter)
    """Succeeded items whose model has no price, by model."""
    errors_by_code: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    failed_rate_limited: int = 0
    """Items that ended with a 429."""
    rate_limited: int = 0
    """429 answers seen, retried ones included (from the client's counters)."""
    retries: int = 0
    """Attempts beyond the first (from the client's counters)."""

    def add(self, result: BatchResult) -> None:
        self.latency.add(result.latency)
        if not result.ok:
            self.failed += 1
            self.errors_by_code[result.error_code or "unknown"] += 1
            if result.status_code == 429:
                self.failed_rate_limited += 1
            return
        self.succeeded += 1
        usage = result.usage
        if usage is None:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.cached_tokens += usage.cached_tokens
        model = result.model or (result.completion.model if result.completion else "") or "?"
        price = self.prices.lookup(model) if self.prices is not None else None
        if price is None or self.prices is None:
            self.unpriced[model] += 1
        else:
            self.cost = self.cost + self.prices.cost(model, usage)

    @property
    def skipped(self) -> int:
        return self.skipped_succeeded + self.skipped_failed

    @property
    def done(self) -> int:
        """Items this run recorded."""
        return self.succeeded + self.failed

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def remaining(self) -> int | None:
        if self.total is None:
            return None
        return max(0, self.total - self.skipped - self.done)

    def to_dict(self, *, elapsed: float, state: str = "completed") -> dict[str, Any]:
        """Machine-readable summary (what --summary-json writes)."""
        latency = {f"p{q}": self.latency.percentile(q) for q in _PERCENTILES}
        latency["mean"] = self.latency.mean
        latency["max"] = self.latency.max if self.latency.count else None
        discount = self.prices.batch_discount if self.prices is not None else None
        return {
            "state": state,
            "items": {
                "total": self.total,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "skipped": self.skipped,
                "skipped_succeeded": self.skipped_succeeded,
                "skipped_failed": self.skipped_failed,
                "remaining": self.remaining(),
            },
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "reasoning": self.reasoning_tokens,
                "cached": self.cached_tokens,
                "total": self.tokens,
            },
            "cost_usd": {
                "total": round(self.cost.total_usd, 6),
                "input": round(self.cost.input_usd, 6),
                "cached_input": round(self.cost.cached_input_usd, 6),
                "output": round(self.cost.output_usd, 6),
                "reasoning": round(self.cost.reasoning_usd, 6),
                "pricing": "on-demand (online API), not Vertex batch prediction",
                "batch_prediction_discount": discount,
                "unpriced_items": sum(self.unpriced.values()),
                "unpriced_models": sorted(self.unpriced),
            },
            "latency_s": latency,
            "elapsed_s": round(elapsed, 3),
            "items_per_s": round(self.done / elapsed, 3) if elapsed > 0 else None,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "errors_by_code": dict(self.errors_by_code.most_common()),
        }

    def render(self, *, elapsed: float, state: str = "completed") -> str:
        """The human-readable summary, a few lines."""
        total = f" of {self.total:,}" if self.total is not None else ""
        lines = [
            f"batch {state} in {_duration(elapsed)}: {self.succeeded:,} succeeded, "
            f"{self.failed:,} failed, {self.skipped:,} skipped{total}"
            + (f", {self.remaining():,} not done" if self.remaining() else ""),
            f"tokens: prompt {self.prompt_tokens:,} · completion {self.completion_tokens:,} · "
            f"reasoning {self.reasoning_tokens:,} · cached {self.cached_tokens:,}",
        ]
        cost = f"estimated cost: ${self.cost.total_usd:,.4f} at on-demand prices (online API"
        if self.prices is not None:
            cost += (f"; Vertex batch prediction would bill about "
                     f"{self.prices.batch_discount:.0%} of this, but is not what ran")
        cost += ")"
        if self.unpriced:
            models = ", ".join(sorted(self.unpriced))
            count = sum(self.unpriced.values())
            noun = "item" if count == 1 else "items"
            cost += f"; {count:,} {noun} unpriced (no price for {models})"
        lines.append(cost)
        if self.latency.count:
            parts = [f"p{q} {_ms(self.latency.percentile(q))}" for q in _PERCENTILES]
            lines.append("latency: " + " · ".join(parts))
        lines.append(f"429s: {self.rate_limited:,} · retries: {self.retries:,}")
        if self.errors_by_code:
            codes = ", ".join(f"{code} {n:,}" for code, n in self.errors_by_code.most_common(8))
            lines.append(f"failures by code: {codes}")
        return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
