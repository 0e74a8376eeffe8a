"""The OpenTelemetry implementation of `Observer` / `CallTrace` (imported only when it is used).

One CLIENT span per call, named `chat {model}`, with the GenAI conventions' request attributes at
its start and response attributes at its end; one `aiovertexchat.attempt` event per request sent.
Metrics are recorded once per call at its end (durations, tokens, cost, waits), once per attempt
(attempt and retry counters), and read from the client's limiter when the reader collects (in
flight, queued, the adaptive limit): nothing is recorded per chunk.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
import weakref
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._protocol.pricing import PriceTable
from .._reliability.concurrency import ConcurrencyLimiter
from .._reliability.ratelimit import RateLimiter
from ..errors import FailureKind, classify_failure
from ..types import ChatCompletion, Usage
from . import CallTrace, EndedStream, names
from .content import capture_enabled, input_messages, output_messages
from .provider import provider_name, server_of

__all__ = ["OTelObserver", "error_type"]

T = TypeVar("T")
log = logging.getLogger("aiovertexchat.telemetry")

# Request parameter -> (attribute, type it must have). Others are not recorded.
_REQUEST_PARAMS: tuple[tuple[str, str, type | tuple[type, ...]], ...] = (
    ("max_completion_tokens", names.REQUEST_MAX_TOKENS, int),
    ("max_tokens", names.REQUEST_MAX_TOKENS, int),
    ("temperature", names.REQUEST_TEMPERATURE, (int, float)),
    ("top_p", names.REQUEST_TOP_P, (int, float)),
    ("top_k", names.REQUEST_TOP_K, (int, float)),
    ("seed", names.REQUEST_SEED, int),
    ("frequency_penalty", names.REQUEST_FREQUENCY_PENALTY, (int, float)),
    ("presence_penalty", names.REQUEST_PRESENCE_PENALTY, (int, float)),
    ("n", names.REQUEST_CHOICE_COUNT, int),
)
_STATUS_MESSAGE_LIMIT = 240

_prices: PriceTable | None = None


def _version() -> str:
    # The package metadata, not `aiovertexchat.__version__`: this layer imports nothing above it.
    try:
        return importlib.metadata.version("aiovertexchat")
    except importlib.metadata.PackageNotFoundError:
        return ""


_VERSION = _version()


def _price_table() -> PriceTable:
    global _prices
    if _prices is None:
        _prices = PriceTable.default()
    return _prices


def error_type(error: BaseException) -> str:
    """`error.type`: the failure's label ("429", "connect", "idle", "connection", ...) for the
    client's own errors, else the exception's class name ("CancelledError", ...)."""
    failure = classify_failure(error)
    if failure.kind is FailureKind.INTERNAL:
        return type(error).__qualname__
    return failure.label


def _request_attributes(
    params: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    attrs: dict[str, Any] = {names.REQUEST_STREAM: stream}
    for param, key, kind in _REQUEST_PARAMS:
        value = params.get(param)
        if value is not None and key not in attrs and isinstance(value, kind) and (
            not isinstance(value, bool)
        ):
            attrs[key] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        attrs[names.REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        attrs[names.REQUEST_STOP_SEQUENCES] = tuple(stop)
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping):
        wanted = fmt.get("type")
        attrs[names.OUTPUT_TYPE] = "json" if wanted in ("json_object", "json_schema") else "text"
    return attrs


def _histogram(meter: metrics.Meter, name: str, unit: str, description: str,
               buckets: tuple[float, ...]) -> metrics.Histogram:
    """A histogram with the conventions' bucket advice (an API before 1.28 takes none)."""
    try:
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=buckets)
    except TypeError:
        return meter.create_histogram(name, unit=unit, description=description)


class _Instruments:
    """The instruments of one meter provider, shared by every client that uses it."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = _histogram(
            meter, names.OPERATION_DURATION, "s", "GenAI operation duration.",
            names.DURATION_BUCKETS,
        )
        self.tokens = _histogram(
            meter, names.TOKEN_USAGE, "{token}", "Number of input and output tokens used.",
            names.TOKEN_BUCKETS,
        )
        self.ttfc = _histogram(
            meter, names.TIME_TO_FIRST_CHUNK, "s",
            "Time to receive the first chunk, from when the request is sent.",
            names.DURATION_BUCKETS,
        )
        self.per_chunk = _histogram(
            meter, names.TIME_PER_OUTPUT_CHUNK, "s",
            "Time per output chunk, for each chunk after the first one.",
            names.DURATION_BUCKETS,
        )
        self.cost = meter.create_counter(
            names.COST, unit="USD",
            description="Dollar cost of the calls, from their usage and the price table.",
        )
        self.attempts = meter.create_counter(
            names.ATTEMPT_COUNT, unit="{attempt}",
            description="Requests sent, retries included, by status or error type.",
        )
        self.retries = meter.create_counter(
            names.RETRY_COUNT, unit="{retry}", description="Retries, by retry cause.",
        )
        self.rate_limited = meter.create_counter(
            names.RATE_LIMITED, unit="{response}", description="429 answers, retried or not.",
        )
        self.waits = _histogram(
            meter, names.WAIT_DURATION, "s",
            "Time a call waited before sending, for a concurrency slot, a rate-limit token "
            "or an access token (waits of 0.1 ms or more).",
            names.WAIT_BUCKETS,
        )
        self.observers: weakref.WeakSet[OTelObserver] = weakref.WeakSet()
        meter.create_observable_gauge(
            names.CONCURRENCY_LIMIT, callbacks=[self._limits], unit="{request}",
            description="The adaptive concurrency limit now (summed over clients of a server).",
        )
        meter.create_observable_up_down_counter(
            names.IN_FLIGHT, callbacks=[self._in_flight], unit="{request}",
            description="Requests holding a concurrency slot (an open stream counts).",
        )
        meter.create_observable_up_down_counter(
            names.QUEUED, callbacks=[self._queued], unit="{request}",
            description="Requests waiting for a concurrency slot.",
        )
        meter.create_observable_up_down_counter(
            names.WAITING_FOR_RATE, callbacks=[self._waiting_for_rate], unit="{request}",
            description="Requests waiting for a rate-limit token.",
        )

    def _sum(self, read: Any) -> Iterable[Observation]:
        totals: dict[tuple[tuple[str, Any], ...], int] = {}
        for observer in list(self.observers):
            value = read(observer)
            if value is None:
                continue
            key = observer.gauge_key
            totals[key] = totals.get(key, 0) + value
        return [Observation(value, dict(key)) for key, value in totals.items()]

    def _limits(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._sum(lambda o: o.limiter.limit)

    def _in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._sum(lambda o: o.limiter.in_flight)

    def _queued(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._sum(lambda o: o.limiter.queued)

    def _waiting_for_rate(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._sum(lambda o: o.rate_limiter.waiting if o.rate_limiter else 0)


# Instruments per meter provider: a provider keeps the first instrument of a name (and its
# callbacks), so every client of one provider shares one set. The global provider is one key
# whether or not the application has set it yet: instruments made on the API's proxy before
# `set_meter_provider` are handed over to the real provider when it is set.
_INSTRUMENTS: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_global_instruments: _Instruments | None = None


def _instruments(meter_provider: Any) -> _Instruments:
    global _global_instruments
    if meter_provider is None:
        if _global_instruments is None:
            _global_instruments = _Instruments(metrics.get_meter(names.SCOPE, _VERSION))
        return _global_instruments
    found = _INSTRUMENTS.get(meter_provider)
    if found is None:
        meter = metrics.get_meter(names.SCOPE, _VERSION, meter_provider=meter_provider)
        found = _INSTRUMENTS[meter_provider] = _Instruments(meter)
    return found


class OTelObserver:
    """The telemetry of one client: a tracer, the shared instruments, the fixed attributes."""

    def __init__(
        self,
        *,
        url: str,
        limiter: ConcurrencyLimiter,
        rate_limiter: RateLimiter | None,
        tracer_provider: Any,
        meter_provider: Any,
        propagate: bool,
        environ: Mapping[str, str],
    ) -> None:
        address, port = server_of(url)
        self.provider = provider_name(address)
        self.base: dict[str, Any] = {
            names.OPERATION_NAME: names.OPERATION_CHAT,
            names.PROVIDER_NAME: self.provider,
            names.SERVER_ADDRESS: address,
            names.SERVER_PORT: port,
        }
        self.gauge_key = (
            (names.PROVIDER_NAME, self.provider),
            (names.SERVER_ADDRESS, address),
            (names.SERVER_PORT, port),
        )
        self.limiter = limiter
        self.rate_limiter = rate_limiter
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.tracer = trace.get_tracer(names.SCOPE, _VERSION, tracer_provider=tracer_provider)
        self.instruments = _instruments(meter_provider)
        self.instruments.observers.add(self)
        self.propagate = propagate
        self.capture_content = capture_enabled(environ, names.CAPTURE_CONTENT_ENV)
        self.chunk_latency = capture_enabled(environ, names.CHUNK_LATENCY_ENV)

    def _nobody_listens(self) -> bool:
        """No SDK behind the tracer nor the meter: the API's no-op providers, or the global
        ones before the application sets any (checked per call: it may set them at any time),
        and no trace context to pass on. Then a call costs a few checks, nothing more."""
        tracer_provider = self.tracer_provider
        if tracer_provider is None:
            tracer_provider = trace.get_tracer_provider()
        if not isinstance(tracer_provider, (trace.NoOpTracerProvider, trace.ProxyTracerProvider)):
            return False
        meter_provider = self.meter_provider
        if meter_provider is None:
            meter_provider = metrics.get_meter_provider()
        # The API's global stand-in until `set_meter_provider` is a private class, so it is
        # matched by name: if it is ever renamed, calls take the full path (correct, slower).
        if not (isinstance(meter_provider, metrics.NoOpMeterProvider)
                or type(meter_provider).__name__ == "_ProxyMeterProvider"):
            return False
        # A context extracted upstream (e.g. an instrumented web framework, no SDK) still
        # travels on to the server through the full path.
        return not trace.get_current_span().get_span_context().is_valid

    def start_call(
        self, *, model: str | None, params: Mapping[str, Any], body: bytes, stream: bool
    ) -> CallTrace:
        if self._nobody_listens():
            return _NULL_TRACE
        metric_attrs = dict(self.base)
        if model:
            metric_attrs[names.REQUEST_MODEL] = model
        span = self.tracer.start_span(
            f"chat {model}" if model else "chat",
            kind=SpanKind.CLIENT,
            attributes={**metric_attrs, **_request_attributes(params, stream)},
        )
        if self.capture_content and span.is_recording():
            messages = input_messages(body)
            if messages is not None:
                span.set_attribute(names.INPUT_MESSAGES, messages)
        return _Trace(self, span, metric_attrs, model)

    def close(self) -> None:
        self.instruments.observers.discard(self)


class _Trace:
    """One call: its span, the attributes its metrics carry, its waits and its clock."""

    __slots__ = ("_context", "_ended", "attrs", "model", "observer", "span", "started", "waits")

    def __init__(
        self, observer: OTelObserver, span: trace.Span, attrs: dict[str, Any], model: str | None
    ) -> None:
        self.observer = observer
        self.span = span
        self.attrs = attrs
        self.model = model
        self.started = time.perf_counter()
        self.waits: dict[str, float] = {}
        self._context: Any = None
        self._ended = False

    # -- during the call ----------------------------------------------------------------------
    async def timed(self, kind: str, waiting: Awaitable[T]) -> T:
        began = time.perf_counter()
        try:
            return await waiting
        finally:
            self.waits[kind] = self.waits.get(kind, 0.0) + time.perf_counter() - began

    def inject(self, headers: dict[str, str]) -> None:
        if not self.observer.propagate or not self.span.get_span_context().is_valid:
            return
        if self._context is None:
            self._context = trace.set_span_in_context(self.span)
        propagate.inject(headers, context=self._context)

    def _attempt(self, attempt: int, error: BaseException | None, status: int | None,
                 extra: dict[str, Any]) -> None:
        instruments = self.observer.instruments
        attrs = dict(self.attrs)
        if status is not None:
            attrs[names.HTTP_RESPONSE_STATUS_CODE] = status
        if error is not None:
            attrs[names.ERROR_TYPE] = error_type(error)
        instruments.attempts.add(1, attrs)
        if status == 429:
            instruments.rate_limited.add(1, self.attrs)
        span = self.span
        if span.is_recording():
            event: dict[str, Any] = {names.ATTEMPT_NUMBER: attempt, **extra}
            if status is not None:
                event[names.HTTP_RESPONSE_STATUS_CODE] = status
            if error is not None:
                event[names.ERROR_TYPE] = attrs[names.ERROR_TYPE]
            span.add_event(names.EVENT_ATTEMPT, event)

    def answered(self, attempt: int, status: int) -> None:
        self._attempt(attempt, None, status, {})

    def retrying(self, attempt: int, error: BaseException, cause: str, delay: float) -> None:
        self._attempt(attempt, error, getattr(error, "status_code", None),
                      {names.RETRY_CAUSE: cause, names.RETRY_DELAY: delay})
        self.observer.instruments.retries.add(1, {**self.attrs, names.RETRY_CAUSE: cause})

    def gave_up(self, attempt: int, error: BaseException, why: str | None) -> None:
        self._attempt(attempt, error, getattr(error, "status_code", None),
                      {} if why is None else {names.RETRY_STOPPED: why})

    # -- ends ---------------------------------------------------------------------------------
    def completed(self, completion: ChatCompletion, attempts: int) -> None:
        self._end(time.perf_counter(), attempts, completion, None, None, None)

    def failed(self, error: BaseException, attempts: int) -> None:
        self._end(time.perf_counter(), attempts, None, error, None, None)

    def stream_ended(self, stream: EndedStream, error: BaseException | None,
                     attempts: int) -> None:
        try:
            times = stream.metrics
            end = times.end_at if times.end_at is not None else time.perf_counter()
            if stream.finished:
                outcome, error = "finished", None
            elif error is None or isinstance(error, GeneratorExit):
                outcome, error = "closed", None
            elif isinstance(error, asyncio.CancelledError):
                outcome = "cancelled"
            else:
                outcome = "failed"
            completion = stream.completion
            if self.span.is_recording():
                self.span.set_attribute(names.STREAM_OUTCOME, outcome)
                if stream.request_id:
                    self.span.set_attribute(names.REQUEST_ID, stream.request_id)
            self._end(end, attempts, completion, error, times, outcome)
        except Exception:  # telemetry never breaks a call
            log.debug("recording the end of a stream failed", exc_info=True)

    def _end(
        self,
        end: float,
        attempts: int,
        completion: ChatCompletion | None,
        error: BaseException | None,
        times: Any,
        outcome: str | None,
    ) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self._record(end, attempts, completion, error, times, outcome)
        except Exception:  # telemetry never breaks a call
            log.debug("recording a call failed", exc_info=True)
            self.span.end()

    def _record(
        self,
        end: float,
        attempts: int,
        completion: ChatCompletion | None,
        error: BaseException | None,
        times: Any,
        outcome: str | None,
    ) -> None:
        instruments = self.observer.instruments
        span = self.span
        recording = span.is_recording()
        attrs = dict(self.attrs)
        span_attrs: dict[str, Any] = {names.ATTEMPTS: attempts}
        usage: Usage | None = None
        if completion is not None and (completion.id or completion.choices):
            usage = completion.usage
            if completion.model:
                attrs[names.RESPONSE_MODEL] = completion.model
            if recording:
                span_attrs.update(self._response_attributes(completion))
        if error is not None:
            attrs[names.ERROR_TYPE] = span_attrs[names.ERROR_TYPE] = error_type(error)
        instruments.duration.record(max(0.0, end - self.started), attrs)
        if times is not None:
            ttfc = times.time_to_first_chunk
            if ttfc is not None:
                instruments.ttfc.record(ttfc, attrs)
                span_attrs[names.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            if self.observer.chunk_latency:
                # Opt-in: one record per chunk, at the end (the one per-chunk cost there is).
                record = instruments.per_chunk.record
                chunk_times = times.chunk_times
                for i in range(1, len(chunk_times)):
                    record(chunk_times[i] - chunk_times[i - 1], attrs)
        if usage is not None:
            tokens = instruments.tokens
            tokens.record(usage.prompt_tokens, {**attrs, names.TOKEN_TYPE: names.TOKEN_INPUT})
            tokens.record(usage.completion_tokens,
                          {**attrs, names.TOKEN_TYPE: names.TOKEN_OUTPUT})
            cost = self._cost(usage, completion)
            if cost is not None:
                instruments.cost.add(cost, attrs)
                span_attrs[names.COST_USD] = cost
        for kind, waited in self.waits.items():
            span_attrs[f"{names.WAIT_SECONDS}.{kind}"] = waited
            if waited >= names.WAITED:  # a free slot or a cached token is no wait to count
                instruments.waits.record(waited, {**self.attrs, names.WAIT_KIND: kind})
        if recording:
            span.set_attributes(span_attrs)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, _status_message(error)))
        span.end()

    def _response_attributes(self, completion: ChatCompletion) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if completion.id:
            attrs[names.RESPONSE_ID] = completion.id
        if completion.model:
            attrs[names.RESPONSE_MODEL] = completion.model
        reasons = tuple(c.finish_reason for c in completion.choices if c.finish_reason)
        if reasons:
            attrs[names.RESPONSE_FINISH_REASONS] = reasons
        if completion.system_fingerprint:
            attrs[names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = completion.system_fingerprint
        if completion.request_id:  # a plain answer's (a stream's comes from the stream)
            attrs[names.REQUEST_ID] = completion.request_id
        usage = completion.usage
        if usage is not None:
            attrs[names.USAGE_INPUT_TOKENS] = usage.prompt_tokens
            attrs[names.USAGE_OUTPUT_TOKENS] = usage.completion_tokens
            if usage.reasoning_tokens:
                attrs[names.USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
            if usage.cached_tokens:
                attrs[names.USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached_tokens
        if self.observer.capture_content:
            attrs[names.OUTPUT_MESSAGES] = output_messages(completion)
        return attrs

    def _cost(self, usage: Usage, completion: ChatCompletion | None) -> float | None:
        table = _price_table()
        for model in (completion.model if completion else None, self.model):
            if model and table.lookup(model) is not None:
                return table.cost(model, usage).total_usd
        return None


class _NullTrace:
    """The trace of a call nobody listens to: every hook does nothing, a wait is not wrapped."""

    __slots__ = ()

    def timed(self, kind: str, waiting: Awaitable[T]) -> Awaitable[T]:
        return waiting

    def inject(self, headers: dict[str, str]) -> None:
        return None

    def answered(self, attempt: int, status: int) -> None:
        return None

    def retrying(self, attempt: int, error: BaseException, cause: str, delay: float) -> None:
        return None

    def gave_up(self, attempt: int, error: BaseException, why: str | None) -> None:
        return None

    def completed(self, completion: ChatCompletion, attempts: int) -> None:
        return None

    def failed(self, error: BaseException, attempts: int) -> None:
        return None

    def stream_ended(self, stream: EndedStream, error: BaseException | None,
                     attempts: int) -> None:
        return None


_NULL_TRACE = _NullTrace()


def _status_message(error: BaseException) -> str:
    text = str(error).split("\n", 1)[0]
    if len(text) > _STATUS_MESSAGE_LIMIT:
        text = text[: _STATUS_MESSAGE_LIMIT - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
