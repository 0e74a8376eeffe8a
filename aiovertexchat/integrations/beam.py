"""Apache Beam (and so Dataflow): chat completions as a `PTransform` and as a `ModelHandler`.

    import json, apache_beam as beam
    from aiovertexchat.integrations.beam import ChatCompletions

    with beam.Pipeline(options=options) as p:
        results = (p | beam.io.ReadFromText("gs://bucket/requests.jsonl")
                     | ChatCompletions(project="my-project", location="us-central1",
                                       max_concurrency=64))
        results["ok"] | "ok" >> beam.Map(json.dumps) | "w1" >> beam.io.WriteToText(...)
        results["failed"] | "bad" >> beam.Map(json.dumps) | "w2" >> beam.io.WriteToText(...)

Input elements are OpenAI batch request lines: dicts with `custom_id` and `body` (or the same as
JSON text, as `ReadFromText` gives them). Output elements are OpenAI batch output records, the
very shape the `batch` CLI writes: `{"id", "custom_id", "response", "error"}`; `ok` holds those
with `error: null`, `failed` the others.

How it runs on a worker:
- one `AsyncVertexChat` per worker process, shared by its threads, on an event loop of its
  own running on a thread the client owns (Beam gives DoFns no loop);
- the elements of a bundle are sent concurrently: each is handed to the loop as it arrives,
  up to `max_in_flight` waiting per DoFn thread, under the client's adaptive concurrency
  limit and rate limit (`rate_limit=RedisRateLimit(...)` shares one limit across workers);
- the client's retries are the only retry layer, with no blocking sleeps on Beam's side;
  every element gets its own outcome, so one bad item never fails its bundle-mates (a bundle
  Beam retries for another reason, such as a lost worker, is sent again: see the README);
- the client closes when the last DoFn sharing it is torn down (with `RunInference`, when
  Beam drops the handler's model, or at interpreter exit);
- time requests spent held back by a limit is added to the `cumulativeThrottlingSeconds`
  counter (namespace `aiovertexchat`), which Dataflow's autoscaler reads as throttling rather
  than work; `requests` and `failed` count items.

Handlers and DoFns are pickled to the workers, so they hold settings only: the client, its
loop and its session are made on the worker (`load_model` / `setup`).
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import msgspec
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from ._worker import ClientFactory, WorkerClient, make_factory

__all__ = [
    "FAILED",
    "METRICS_NAMESPACE",
    "OK",
    "THROTTLING_COUNTER",
    "ChatCompletions",
    "ChatCompletionsHandler",
]

METRICS_NAMESPACE = "aiovertexchat"
# The counter name Beam's own I/O connectors use and Dataflow's autoscaler reads.
THROTTLING_COUNTER = "cumulativeThrottlingSeconds"
OK = "ok"
FAILED = "failed"
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_IN_FLIGHT = 256


class _Counters:
    """The metrics of one DoFn (Beam counters must be touched from the DoFn's thread)."""

    def __init__(self) -> None:
        self.requests = Metrics.counter(METRICS_NAMESPACE, "requests")
        self.failed = Metrics.counter(METRICS_NAMESPACE, "failed")
        self.throttled = Metrics.counter(METRICS_NAMESPACE, THROTTLING_COUNTER)

    def record(self, worker: WorkerClient, records: Iterable[Mapping[str, Any]]) -> None:
        count = failed = 0
        for record in records:
            count += 1
            failed += record.get("error") is not None
        self.requests.inc(count)
        if failed:
            self.failed.inc(failed)
        seconds = worker.throttle.take_whole_seconds()
        if seconds:
            self.throttled.inc(seconds)


class ChatCompletionsHandler(ModelHandler):  # type: ignore[misc]  # Beam ships no types we use
    """A `ModelHandler` for `RunInference`: each element is a request line, each inference its
    output record (`PredictionResult(example=line, inference=record)`).

    `model`: used for bodies that name none. `batch_size`: elements per `run_inference` call,
    sent concurrently (default 64; Beam's batching is fixed to it). `client_factory`: a
    picklable zero-argument callable returning an `AsyncVertexChat`; or else keyword
    `client_options` for `AsyncVertexChat(**client_options)` (`project`, `location`,
    `base_url`, `max_concurrency`, `rate_limit`, `retry`, ...). `request_options`: passed to
    every `create()` (e.g. `{"timeout": 120}`). The client is made on the worker by
    `load_model()`, never here: handlers are pickled. Raises ValueError for `batch_size < 1`
    and TypeError when both a factory and client options are given.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        client_factory: ClientFactory | None = None,
        request_options: Mapping[str, Any] | None = None,
        **client_options: Any,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        make_factory(client_factory, client_options)  # check the combination now, not on a worker
        # The base class keeps Beam's batching settings: without this call RunInference would
        # batch with its own defaults (the trap RemoteModelHandler falls into).
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self.model = model
        self.batch_size = batch_size
        self.request_options = dict(request_options or {})
        self._client_factory = client_factory
        self._client_options = dict(client_options)
        # Names the per-process shared client: every pickled copy of this handler shares it.
        self.tag = f"aiovertexchat-{uuid.uuid4().hex}"

    def load_model(self) -> WorkerClient:
        """The worker's client, on its own loop thread (RunInference shares it per process)."""
        return WorkerClient(
            make_factory(self._client_factory, self._client_options),
            model=self.model,
            options=self.request_options,
        )

    def run_inference(
        self,
        batch: Sequence[Any],
        model: WorkerClient,
        inference_args: Mapping[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        """Send the batch concurrently; one `PredictionResult` per element, in order. Never
        raises for a failed request: its record carries the error."""
        records = model.run_all(batch)
        _Counters().record(model, records)
        pairs = zip(batch, records, strict=True)
        return [PredictionResult(example, record) for example, record in pairs]

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        return sum(
            len(item) if isinstance(item, (str, bytes)) else len(msgspec.json.encode(item))
            for item in batch
        )


class _Clients:
    """The worker clients of this process, one per handler, counted by the DoFns using them.

    Not Beam's `shared.Shared`: it keeps the last object alive until another one is acquired,
    so a client would outlive its pipeline; here the last DoFn's teardown closes it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[WorkerClient, int]] = {}

    def acquire(self, handler: ChatCompletionsHandler) -> WorkerClient:
        with self._lock:
            worker, users = self._clients.get(handler.tag, (None, 0))
            if worker is None:
                worker = handler.load_model()
            self._clients[handler.tag] = (worker, users + 1)
            return worker

    def release(self, handler: ChatCompletionsHandler) -> None:
        with self._lock:
            worker, users = self._clients[handler.tag]
            if users > 1:
                self._clients[handler.tag] = (worker, users - 1)
                return
            del self._clients[handler.tag]
        worker.close()


_clients = _Clients()


class _SendFn(beam.DoFn):  # type: ignore[misc]
    """Sends each element as it arrives and emits its record when the answer is in."""

    def __init__(self, handler: ChatCompletionsHandler, max_in_flight: int) -> None:
        self._handler = handler
        self._max_in_flight = max_in_flight
        self._worker: WorkerClient | None = None
        self._pending: list[tuple[concurrent.futures.Future[dict[str, Any]], Any, Any]] = []

    def setup(self) -> None:
        self._worker = _clients.acquire(self._handler)
        self._counters = _Counters()

    def start_bundle(self) -> None:
        self._pending = []

    def process(
        self,
        element: Any,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        assert self._worker is not None, "setup() was not called"
        self._pending.append((self._worker.submit(element), timestamp, window))
        if len(self._pending) >= self._max_in_flight:
            concurrent.futures.wait(
                [future for future, _, _ in self._pending],
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
        yield from self._emit(wait=False)

    def finish_bundle(self) -> Iterator[Any]:
        # A bundle ends only when each of its elements has its outcome.
        yield from self._emit(wait=True)

    def _emit(self, *, wait: bool) -> Iterator[Any]:
        pending, still = self._pending, []
        done = []
        for entry in pending:
            future = entry[0]
            if wait or future.done():
                done.append((future.result(), entry[1], entry[2]))
            else:
                still.append(entry)
        self._pending = still
        if not done:
            return
        assert self._worker is not None
        self._counters.record(self._worker, (record for record, _, _ in done))
        for record, timestamp, window in done:
            # Answers come back out of order, so each carries its own element's window.
            value = WindowedValue(record, timestamp, (window,))
            yield value if record.get("error") is None else TaggedOutput(FAILED, value)

    def teardown(self) -> None:
        if self._worker is not None:
            self._worker = None
            _clients.release(self._handler)  # the last DoFn of the process closes the client


class ChatCompletions(beam.PTransform):  # type: ignore[misc]
    """Request lines in; `{"ok": PCollection, "failed": PCollection}` of output records out.

    Takes the `ChatCompletionsHandler` arguments (`model`, `client_factory`,
    `request_options`, client options such as `project`, `location`, `max_concurrency`,
    `rate_limit`), or a ready `handler=`. `max_in_flight`: elements one DoFn thread has sent
    and not yet emitted (default 256); the client's own limits decide how many are actually on
    the wire. Unlike RunInference's batches, no batch waits for its slowest request before the
    next one starts: the in-flight window refills as answers arrive.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        handler: ChatCompletionsHandler | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        client_factory: ClientFactory | None = None,
        request_options: Mapping[str, Any] | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if handler is None:
            handler = ChatCompletionsHandler(
                model,
                client_factory=client_factory,
                request_options=request_options,
                **client_options,
            )
        elif model is not None or client_factory or request_options or client_options:
            raise TypeError("pass either handler= or the handler's arguments, not both")
        self.handler = handler
        self.max_in_flight = max_in_flight

    def expand(self, requests: Any) -> dict[str, Any]:
        outputs = requests | "SendChatCompletions" >> beam.ParDo(
            _SendFn(self.handler, self.max_in_flight)
        ).with_outputs(FAILED, main=OK)
        return {OK: outputs[OK], FAILED: outputs[FAILED]}
