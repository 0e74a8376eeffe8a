"""`batch` and `bench` with telemetry: `--otlp-endpoint` (or the standard variables) exports every
call under one job span to an OTLP/HTTP collector, played here by a loopback server that decodes
what it receives; without the SDK or exporter, the flag fails with the install line and the
variables only warn. Each command runs in its own interpreter: it sets the global providers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.helpers import batch_line, serve_app

ROOT = Path(__file__).resolve().parents[2]
MODEL = "google/gemini-2.5-flash"

# Runs the command line as if the named packages were not installed.
WITHOUT = r'''
import importlib.abc, sys
BLOCKED = {blocked!r}
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Missing())
from aiovertexchat.cli.commands import main
sys.exit(main(sys.argv[1:]))
'''


@dataclass
class Collector:
    url: str
    spans: list[dict[str, object]] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    """An OTLP/HTTP receiver: decodes each export and keeps the spans and metric names."""
    found = Collector("")

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if request.path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            for resource in traces.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        found.spans.append({
                            "name": span.name, "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                            "service": service.get("service.name"), "scope": scope.scope.name,
                        })
        elif request.path == "/v1/metrics":
            exported = ExportMetricsServiceRequest.FromString(body)
            for resource in exported.resource_metrics:
                for scope in resource.scope_metrics:
                    found.metric_names.update(m.name for m in scope.metrics)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async with serve_app(handler) as url:
        found.url = url
        yield found


async def run_cli(*argv: str, env: dict[str, str] | None = None,
                  without: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run `aiovertexchat ARGV...` in a child interpreter; (exit code, stderr)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    child_env.update(env or {})
    code = ["-m", "aiovertexchat"] if not without else ["-c", WITHOUT.format(blocked=without)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *code, *argv, cwd=ROOT, env=child_env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def batch_input(tmp_path: Path, items: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(batch_line(f"r{i}", f"item {i}") + "\n" for i in range(items)))
    return path


def children_of(spans: list[dict[str, object]], job: str) -> list[dict[str, object]]:
    (root,) = [s for s in spans if s["name"] == job]
    assert root["parent"] == ""
    return [s for s in spans if s["parent"] == root["id"] and s["trace"] == root["trace"]]


async def test_batch_calls_go_under_one_job_span(tmp_path: Path, collector: Collector) -> None:
    source = batch_input(tmp_path, 3)
    code, err = await run_cli("batch", str(source), "-o", str(tmp_path / "out.jsonl"),
                              "--emulator", "-q", "--otlp-endpoint", collector.url)
    assert code == 0, err
    calls = children_of(collector.spans, "aiovertexchat batch")
    assert [s["name"] for s in calls] == [f"chat {MODEL}"] * 3
    assert {s["service"] for s in collector.spans} == {"aiovertexchat-batch"}
    assert {s["scope"] for s in collector.spans} == {"aiovertexchat"}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage",
            "aiovertexchat.client.cost"} <= collector.metric_names


async def test_the_standard_variables_work_too(tmp_path: Path, collector: Collector) -> None:
    source = batch_input(tmp_path, 2)
    code, err = await run_cli(
        "batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--emulator", "-q",
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "nightly"},
    )
    assert code == 0, err
    assert len(children_of(collector.spans, "aiovertexchat batch")) == 2
    assert {s["service"] for s in collector.spans} == {"nightly"}


async def test_bench_run_is_one_job_span(collector: Collector) -> None:
    code, err = await run_cli(
        "bench", "--emulator", "--requests", "3", "--concurrency", "1", "--max-tokens", "4",
        "--prompt-tokens", "8", "--emulator-ttft", "0s", "--emulator-itl", "0s", "--quiet",
        "--otlp-endpoint", collector.url,
    )
    assert code == 0, err
    calls = children_of(collector.spans, "aiovertexchat bench")
    assert len(calls) >= 3 and all(str(s["name"]).startswith("chat ") for s in calls)


async def test_flag_without_the_exporter_names_what_to_install(tmp_path: Path) -> None:
    code, err = await run_cli(
        "batch", str(batch_input(tmp_path, 1)), "-o", str(tmp_path / "out.jsonl"),
        "--emulator", "--otlp-endpoint", "http://127.0.0.1:4318",
        without=("opentelemetry.exporter",),
    )
    assert code == 2
    assert "--otlp-endpoint" in err
    assert "pip install opentelemetry-exporter-otlp-proto-http" in err
    assert not (tmp_path / "out.jsonl").exists()  # nothing was sent


async def test_variables_without_the_sdk_warn_and_run(tmp_path: Path) -> None:
    code, err = await run_cli(
        "batch", str(batch_input(tmp_path, 1)), "-o", str(tmp_path / "out.jsonl"),
        "--emulator", "-q", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        without=("opentelemetry.sdk", "opentelemetry.exporter"),
    )
    assert code == 0, err
    assert "warning: OTEL_EXPORTER_OTLP_* is set" in err
    assert "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http" in err
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1


@pytest.mark.parametrize("url", ["localhost:4318", "ftp://x", "http://"])
async def test_endpoint_must_be_an_http_url(url: str, tmp_path: Path) -> None:
    code, err = await run_cli("batch", str(batch_input(tmp_path, 1)), "-o",
                              str(tmp_path / "o.jsonl"), "--emulator", "--otlp-endpoint", url)
    assert code == 2 and "http(s) URL" in err
