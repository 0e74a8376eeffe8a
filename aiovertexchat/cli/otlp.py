"""Telemetry for the command lines: OTLP export and one job span over a batch or bench run.

The client itself only talks to the OpenTelemetry API; which SDK and exporter run is the
application's choice. Here the command line is the application: when `--otlp-endpoint URL` is
given, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT` /
`..._METRICS_ENDPOINT` variables are set, it installs the SDK's tracer and meter providers with
OTLP exporters (HTTP/protobuf, or gRPC with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), runs the job
under one span (`aiovertexchat batch` / `aiovertexchat bench`), and flushes everything at the
end. The SDK and exporter are used only if importable: the flag then fails with the `pip
install` line to run, the variables with a warning (the run goes on without export).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ENDPOINT_VARIABLES", "otlp_endpoint", "telemetry_job"]

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
_HTTP = "opentelemetry.exporter.otlp.proto.http"
_GRPC = "opentelemetry.exporter.otlp.proto.grpc"
_PACKAGES = {_HTTP: "opentelemetry-exporter-otlp-proto-http",
             _GRPC: "opentelemetry-exporter-otlp-proto-grpc"}


def _exporter_module(environ: Mapping[str, str]) -> str:
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    return _GRPC if protocol.strip().lower() == "grpc" else _HTTP


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(environ: Mapping[str, str] | None = None) -> list[str]:
    """The pip packages export needs that cannot be imported here (empty: ready)."""
    env = os.environ if environ is None else environ
    missing = []
    if not _importable("opentelemetry.sdk"):
        missing.append("opentelemetry-sdk")
    module = _exporter_module(env)
    if not _importable(module):
        missing.append(_PACKAGES[module])
    return missing


def _install_hint(missing: list[str]) -> str:
    return "pip install " + " ".join(missing)


def otlp_endpoint(text: str) -> str:
    """argparse type of `--otlp-endpoint`: an http(s) URL, with the SDK and exporter present."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL such as http://127.0.0.1:4318"
        )
    missing = missing_packages()
    if missing:
        raise argparse.ArgumentTypeError(
            "exporting needs the OpenTelemetry SDK and an OTLP exporter, which are not "
            f"installed: {_install_hint(missing)}"
        )
    return text.rstrip("/")


def _exporters(endpoint: str | None, environ: Mapping[str, str]) -> tuple[Any, Any]:
    module = _exporter_module(environ)
    if module == _GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPMetricExporter as GrpcMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter as GrpcSpanExporter,
        )

        if endpoint is None:
            return GrpcSpanExporter(), GrpcMetricExporter()
        return GrpcSpanExporter(endpoint=endpoint), GrpcMetricExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint is None:  # the exporters read the OTEL_EXPORTER_OTLP_* variables themselves
        return OTLPSpanExporter(), OTLPMetricExporter()
    # Like OTEL_EXPORTER_OTLP_ENDPOINT, the flag names the base URL; each signal has its path.
    return (OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"))


@contextlib.contextmanager
def _providers(endpoint: str | None, service: str,
               environ: Mapping[str, str]) -> Iterator[None]:
    """Install the SDK providers with OTLP exporters; flush and shut them down on exit."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield  # another tool (e.g. opentelemetry-instrument) configured them already
        return
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    resource = Resource.create(attributes)
    span_exporter, metric_exporter = _exporters(endpoint, environ)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)]
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


@contextlib.contextmanager
def telemetry_job(
    args: argparse.Namespace, job: str, environ: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """Export (when asked for) and one job span around the run; yields the span or None.

    `job` is "batch" or "bench". Without an endpoint (flag or variables) and with no provider
    configured elsewhere, the span is the API's no-op one (or None without the API).
    """
    env = os.environ if environ is None else environ
    endpoint: str | None = getattr(args, "otlp_endpoint", None)
    wanted = endpoint is not None or any(env.get(name) for name in ENDPOINT_VARIABLES)
    with contextlib.ExitStack() as stack:
        if wanted:
            missing = missing_packages(env)
            if not missing:
                stack.enter_context(_providers(endpoint, f"aiovertexchat-{job}", env))
            else:
                print("warning: OTEL_EXPORTER_OTLP_* is set, but nothing is exported without "
                      f"the OpenTelemetry SDK and exporter: {_install_hint(missing)}",
                      file=sys.stderr, flush=True)
        try:
            from opentelemetry import trace
        except ImportError:
            yield None
            return
        tracer = trace.get_tracer("aiovertexchat")
        with tracer.start_as_current_span(
            f"aiovertexchat {job}", attributes={"aiovertexchat.job": job}
        ) as span:
            yield span
