"""An OpenTelemetry SDK per test: spans in an in-memory exporter, metrics in an in-memory reader,
handed to the client as `tracer_provider=` / `meter_provider=` (the global providers stay as the
API left them, so tests do not leak into each other)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiovertexchat import AsyncVertexChat
from aiovertexchat.emulator import Emulator
from tests.helpers import FAST

SECRET = "sk-TEST-SECRET-4c1b9e"  # the token every telemetry test sends; never in telemetry


@dataclass
class Telemetry:
    """One SDK: `spans()` finished so far, `points(name)` of one metric."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        """The one finished span."""
        (span,) = self.spans()
        return span

    def metrics(self) -> dict[str, Any]:
        """Metric name -> its metric (data points, unit, ...)."""
        data = self.reader.get_metrics_data()
        found: dict[str, Any] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = metric
        return found

    def points(self, name: str) -> list[Any]:
        metric = self.metrics().get(name)
        return [] if metric is None else list(metric.data.data_points)

    def point(self, name: str, **attrs: Any) -> Any:
        """The one data point of `name` whose attributes include `attrs` (dots as `__`)."""
        wanted = {key.replace("__", "."): value for key, value in attrs.items()}
        matching = [p for p in self.points(name)
                    if all(p.attributes.get(k) == v for k, v in wanted.items())]
        assert len(matching) == 1, (name, wanted, [dict(p.attributes) for p in self.points(name)])
        return matching[0]

    @asynccontextmanager
    async def client(self, emulator: Emulator, **options: Any) -> AsyncIterator[AsyncVertexChat]:
        options.setdefault("retry", FAST)
        async with AsyncVertexChat(
            base_url=emulator.base_url, api_key=SECRET, tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider, **options,
        ) as client:
            yield client
            assert client.connections_in_use == 0


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()
