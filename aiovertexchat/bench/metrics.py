"""Per-request timelines and the metrics derived from them (sans-IO: numbers in, numbers out).

A `RequestRecord` holds raw timestamps from one clock (`time.perf_counter()` seconds in the
runner; any monotonic numbers in tests). Every latency is measured from `call_at`, the moment
the bench called `create()` — not from the scheduled send time, whose difference
(`schedule_lag`) is reported in the client-health panel instead, so a slow client shows up as
lag, never as server latency. Definitions (README "bench" section has the same text):

- ttfh: headers received; ttfc: first chunk of any kind; ttft: first chunk with non-empty
  `content`; ttfr: first chunk with non-empty `reasoning`.
- e2e: until the stream ended (`[DONE]` or end of body) or the request failed.
- token chunks: chunks carrying non-empty content or reasoning (role-only, finish-only and
  usage-only chunks are not). ITL gaps are the differences of consecutive token-chunk arrival
  times within one request: inter-*chunk* latency. Chunks that arrive in one network read share
  a timestamp (gap 0). When a server puts several tokens in a chunk, a gap covers several tokens;
  TPOT is the per-token figure.
- output tokens: billable output from `usage` (completion tokens, plus reasoning tokens when the
  server reports them apart); without `usage`, the client-side count (flagged).
- tpot: (end - first output token) / (decode tokens - 1), where the first output token is the
  first content *or* reasoning chunk (for a model that streams no reasoning: exactly TTFT, so
  this is the issue's (e2e - ttft)/(output_tokens - 1)). Reasoning tokens that were billed but
  never streamed were generated before the first visible token and are left out of the decode
  tokens. Undefined (excluded, and counted) for fewer than two decode tokens.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._protocol.pricing import Cost, PriceTable, billable_tokens
from ..types import Usage
from .sample_stats import Distribution
from .slo import SLO

__all__ = ["CostSummary", "RequestRecord", "Summary", "TurnSummary", "mean_in_flight",
           "summarize"]


@dataclass
class RequestRecord:
    """Everything measured about one request."""

    index: int
    scheduled_at: float
    """When the request was due: its slot on the arrival timeline (open loop) or the moment its
    worker became free (closed loop)."""
    call_at: float | None = None
    started_at: float | None = None
    headers_at: float | None = None
    first_chunk_at: float | None = None
    first_content_at: float | None = None
    first_reasoning_at: float | None = None
    end_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    usage: Usage | None = None
    client_tokens: int = 0
    error: str | None = None
    """Exception class name when the request failed (`RateLimitError`, `APITimeoutError`...)."""
    error_message: str | None = None
    status_code: int | None = None
    prompt_words: int = 0
    prompt_tokens_client: int | None = None
    """The prompt in tokenizer tokens, counted by the bench (`--tokenizer`)."""
    session: int | None = None
    """The conversation this request belongs to (multi-turn sessions), else None."""
    turn: int = 1
    """1 for a conversation's first request, 2 for the next (with the history), ..."""
    pool_wait_s: float | None = None
    """Connection steps before the response (aiohttp tracing; None when not measured or not
    taken): waiting for a pooled connection, DNS, connecting (TCP and TLS together)."""
    dns_s: float | None = None
    connect_s: float | None = None
    first_byte_s: float | None = None
    """From the request written to the response headers: server wait plus network."""
    reused_connection: bool | None = None
    sent_at: float | None = None
    """When the request line and headers were written."""

    # -- derived ------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.error is None and self.end_at is not None

    def _since_call(self, at: float | None) -> float | None:
        return None if at is None or self.call_at is None else at - self.call_at

    @property
    def schedule_lag(self) -> float | None:
        return None if self.call_at is None else self.call_at - self.scheduled_at

    @property
    def gate_wait(self) -> float | None:
        """Time inside the client before the request was sent (its own slot/limiter waits)."""
        return self._since_call(self.started_at)

    @property
    def ttfh(self) -> float | None:
        return self._since_call(self.headers_at)

    @property
    def ttfc(self) -> float | None:
        return self._since_call(self.first_chunk_at)

    @property
    def ttft(self) -> float | None:
        return self._since_call(self.first_content_at)

    @property
    def ttfr(self) -> float | None:
        return self._since_call(self.first_reasoning_at)

    @property
    def e2e(self) -> float | None:
        return self._since_call(self.end_at)

    @property
    def ttst(self) -> float | None:
        """Time to the second token chunk (first decode step after the first token)."""
        return self._since_call(self.token_times[1]) if len(self.token_times) > 1 else None

    @property
    def usage_missing(self) -> bool:
        return self.usage is None

    @property
    def output_tokens(self) -> int:
        if self.usage is None:
            return self.client_tokens
        return billable_tokens(self.usage).output

    @property
    def prompt_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.prompt_tokens

    @property
    def reasoning_tokens(self) -> int:
        return 0 if self.usage is None else self.usage.reasoning_tokens

    @property
    def cached_tokens(self) -> int:
        return 0 if self.usage is None else self.usage.cached_tokens

    @property
    def first_output_at(self) -> float | None:
        firsts = [t for t in (self.first_content_at, self.first_reasoning_at) if t is not None]
        return min(firsts) if firsts else None

    @property
    def decode_tokens(self) -> int:
        tokens = self.output_tokens
        if self.first_reasoning_at is None and self.usage is not None:
            tokens -= billable_tokens(self.usage).reasoning  # hidden thinking came before
        return tokens

    @property
    def tpot(self) -> float | None:
        first, end, tokens = self.first_output_at, self.end_at, self.decode_tokens
        if first is None or end is None or tokens < 2:
            return None
        return (end - first) / (tokens - 1)

    @property
    def itl_gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.token_times)]

    @property
    def itl_max(self) -> float | None:
        gaps = self.itl_gaps
        return max(gaps) if gaps else None

    def slo_values(self) -> dict[str, float | None]:
        return {
            "ttft": self.ttft,
            "ttfc": self.ttfc,
            "tpot": self.tpot,
            "itl": self.itl_max,
            "e2e": self.e2e,
        }

    def is_good(self, slo: SLO) -> bool:
        return self.ok and not slo.violations(self.slo_values())


@dataclass(frozen=True)
class CostSummary:
    """Dollars for the measured requests, from their `usage` and the price table."""

    total_usd: float
    input_usd: float
    cached_input_usd: float
    output_usd: float
    reasoning_usd: float
    requests_priced: int
    per_request_usd: float | None
    """total / requests with usage: the mean cost of one request."""
    per_million_output_usd: float | None
    """total / output tokens * 1e6: all spend (input included) per 1M tokens produced."""
    per_good_request_usd: float | None
    """total / good requests: all spend, failures and SLO misses included, per good request."""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class TurnSummary:
    """Requests of one turn index across the sessions of a run (multi-turn sessions)."""

    turn: int
    requests: int
    ok: int
    ttft: Distribution | None
    e2e: Distribution | None
    prompt_tokens_mean: float | None
    """The server's `prompt_tokens` (the history grows with each turn)."""
    cached_tokens_mean: float | None
    """The server's `cached_tokens`: prefix-cache hits on the history."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.to_dict() if isinstance(value, Distribution) else value
        return out


def _by_turn(records: Sequence[RequestRecord]) -> list[TurnSummary]:
    if not any(r.session is not None for r in records):
        return []
    turns: dict[int, list[RequestRecord]] = {}
    for r in records:
        turns.setdefault(r.turn, []).append(r)
    out = []
    for turn in sorted(turns):
        group = turns[turn]
        ok = [r for r in group if r.ok]
        prompts = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
        cached = [r.cached_tokens for r in ok if r.usage is not None]
        out.append(TurnSummary(
            turn=turn, requests=len(group), ok=len(ok),
            ttft=_dist([r.ttft for r in ok]), e2e=_dist([r.e2e for r in ok]),
            prompt_tokens_mean=math.fsum(prompts) / len(prompts) if prompts else None,
            cached_tokens_mean=math.fsum(cached) / len(cached) if cached else None,
        ))
    return out


@dataclass(frozen=True)
class Summary:
    """Aggregate metrics of a set of measured requests over a measurement window."""

    requests: int
    ok: int
    errors: dict[str, int]
    error_rate: float
    duration_s: float
    request_throughput: float
    """Successful requests per second of the window."""
    output_token_throughput: float
    """Output tokens of successful requests per second of the window."""
    total_token_throughput: float
    """Prompt + output tokens of successful requests per second of the window."""
    prompt_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    usage_missing: int
    client_tokens: int
    token_discrepancy: float | None
    """(client-side count - usage count) / usage count over successful requests with usage."""
    token_chunks: int
    tokens_per_chunk: float | None
    ttfh: Distribution | None
    ttfc: Distribution | None
    ttft: Distribution | None
    ttfr: Distribution | None
    tpot: Distribution | None
    tpot_excluded: int
    """Successful requests without a TPOT (fewer than two decode tokens)."""
    itl: Distribution | None
    e2e: Distribution | None
    output_tokens_per_request: Distribution | None
    good: int | None
    good_fraction: float | None
    goodput: float | None
    slo_violations: dict[str, int]
    cost: CostSummary | None
    cost_note: str | None
    by_turn: list[TurnSummary] = field(default_factory=list)
    """Multi-turn sessions: metrics by turn index (TTFT growth with the history)."""

    def latency(self, name: str) -> Distribution | None:
        value = getattr(self, name)
        return value if isinstance(value, Distribution) else None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, (Distribution, CostSummary)):
                value = value.to_dict()
            elif name == "by_turn":
                value = [t.to_dict() for t in value]
            result[name] = value
        return result


def _dist(values: Sequence[float | None]) -> Distribution | None:
    return Distribution.of(v for v in values if v is not None)


def _cost(
    records: Sequence[RequestRecord], model: str, prices: PriceTable | None, good: int | None
) -> tuple[CostSummary | None, str | None]:
    if prices is None:
        return None, "no price table"
    if prices.lookup(model) is None:
        return None, f"no price for model {model!r} (pass --prices FILE)"
    total = Cost(0.0, 0.0, 0.0, 0.0)
    priced = 0
    output = 0
    for record in records:
        if record.usage is not None:
            total = total + prices.cost(model, record.usage)
            priced += 1
            output += record.output_tokens
    note = None
    # Failed requests have no usage; whether a stream that broke midway is billed cannot be
    # known, so only successful requests without usage are worth a note.
    unpriced = sum(1 for r in records if r.ok and r.usage is None)
    if unpriced:
        note = f"{unpriced} successful request(s) sent no usage and are not priced"
    return (
        CostSummary(
            total_usd=total.total_usd,
            input_usd=total.input_usd,
            cached_input_usd=total.cached_input_usd,
            output_usd=total.output_usd,
            reasoning_usd=total.reasoning_usd,
            requests_priced=priced,
            per_request_usd=total.total_usd / priced if priced else None,
            per_million_output_usd=total.total_usd / output * 1e6 if output else None,
            per_good_request_usd=(total.total_usd / good) if good else None,
        ),
        note,
    )


def summarize(
    records: Sequence[RequestRecord],
    *,
    window_start: float,
    slo: SLO,
    model: str,
    prices: PriceTable | None,
    duration: float | None = None,
) -> Summary:
    """Aggregate the measured (never warm-up) requests of one run.

    The window runs from `window_start` (when the measured phase began) to the last request's
    end; throughputs and goodput are per second of it. Latency distributions use successful
    requests only; failures are counted by class in `errors`. `duration` replaces the window
    (pooling several repeats: the sum of their windows).
    """
    ok = [r for r in records if r.ok]
    errors = Counter(r.error or "Incomplete" for r in records if not r.ok)
    ends = [r.end_at for r in records if r.end_at is not None]
    if duration is None:
        duration = max(ends) - window_start if ends else 0.0
    per_second = (1.0 / duration) if duration > 0 else 0.0

    with_usage = [r for r in ok if r.usage is not None]
    usage_tokens = sum(r.output_tokens for r in with_usage)
    client_tokens = sum(r.client_tokens for r in with_usage)
    output_tokens = sum(r.output_tokens for r in ok)
    prompt_tokens = sum(r.prompt_tokens or 0 for r in ok)
    token_chunks = sum(len(r.token_times) for r in ok)

    good: int | None = None
    violations: Counter[str] = Counter()
    if slo:
        good = 0
        for r in ok:
            broken = slo.violations(r.slo_values())
            violations.update(broken)
            good += not broken
    cost, cost_note = _cost(records, model, prices, good)
    requests = len(records)
    return Summary(
        requests=requests,
        ok=len(ok),
        errors=dict(sorted(errors.items())),
        error_rate=(requests - len(ok)) / requests if requests else 0.0,
        duration_s=duration,
        request_throughput=len(ok) * per_second,
        output_token_throughput=output_tokens * per_second,
        total_token_throughput=(prompt_tokens + output_tokens) * per_second,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=sum(r.reasoning_tokens for r in ok),
        cached_tokens=sum(r.cached_tokens for r in ok),
        usage_missing=sum(1 for r in ok if r.usage is None),
        client_tokens=client_tokens,
        token_discrepancy=(client_tokens - usage_tokens) / usage_tokens if usage_tokens else None,
        token_chunks=token_chunks,
        tokens_per_chunk=output_tokens / token_chunks if token_chunks else None,
        ttfh=_dist([r.ttfh for r in ok]),
        ttfc=_dist([r.ttfc for r in ok]),
        ttft=_dist([r.ttft for r in ok]),
        ttfr=_dist([r.ttfr for r in ok]),
        tpot=_dist([r.tpot for r in ok]),
        tpot_excluded=sum(1 for r in ok if r.tpot is None),
        itl=Distribution.of(itertools.chain.from_iterable(r.itl_gaps for r in ok)),
        e2e=_dist([r.e2e for r in ok]),
        output_tokens_per_request=Distribution.of(float(r.output_tokens) for r in ok),
        good=good,
        good_fraction=(good / requests if requests else 0.0) if good is not None else None,
        goodput=good * per_second if good is not None else None,
        slo_violations=dict(sorted(violations.items())),
        cost=cost,
        cost_note=cost_note,
        by_turn=_by_turn(records),
    )


def mean_in_flight(
    intervals: Sequence[tuple[float, float]], start: float, end: float
) -> float:
    """Time-averaged number of intervals covering [start, end] (Little's law on the window).

    For a zero-length window, the number of intervals covering that instant.
    """
    if end <= start:
        return float(sum(1 for a, b in intervals if a <= start <= b))
    covered = math.fsum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)
    return covered / (end - start)
