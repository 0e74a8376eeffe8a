"""The Prometheus route of the README: the OpenTelemetry Prometheus exporter serves the client's
metrics over HTTP, and a scrape finds them (names converted the Prometheus way).

The exporter registers in the process-wide Prometheus registry and the meter provider is set
globally, as an application would do it: so it runs in its own interpreter."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The README's snippet, plus an emulator to call and a pause while the test scrapes.
SCRIPT = r'''
import asyncio, sys

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

server, _ = start_http_server(port=0, addr="127.0.0.1")
metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))

from aiovertexchat import AsyncVertexChat
from aiovertexchat.emulator import Emulator, EmulatorConfig

async def main():
    async with Emulator(EmulatorConfig()) as emu:
        async with AsyncVertexChat(base_url=emu.base_url, api_key="k") as client:
            messages = [{"role": "user", "content": "hello [[tokens=4]]"}]
            await client.chat.completions.create(model="google/gemini-2.5-flash",
                                                 messages=messages)
            stream = await client.chat.completions.create(
                model="google/gemini-2.5-flash", messages=messages, stream=True)
            async for _ in stream:
                pass
            print(f"PORT {server.server_port}", flush=True)
            sys.stdin.readline()  # the test scrapes now (the client is still open)

asyncio.run(main())
'''


def test_prometheus_exporter_serves_the_client_metrics() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), proc.stderr.read() if proc.stderr else line
        url = f"http://127.0.0.1:{int(line.split()[1])}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        proc.stdin.write("done\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    samples = {}
    for row in text.splitlines():
        if row and not row.startswith("#"):
            name_and_labels, _, value = row.rpartition(" ")
            samples[name_and_labels] = float(value)

    def value(name: str, *labels: str) -> float:
        found = [v for k, v in samples.items()
                 if k.split("{")[0] == name and all(label in k for label in labels)]
        assert len(found) == 1, (name, labels, [k for k in samples if name in k])
        return found[0]

    model = 'gen_ai_request_model="google/gemini-2.5-flash"'
    assert value("gen_ai_client_operation_duration_seconds_count", model) == 2
    assert value("gen_ai_client_operation_time_to_first_chunk_seconds_count", model) == 1
    # Only the plain answer carries usage (the stream did not ask for it).
    assert value("gen_ai_client_token_usage_sum", model, 'gen_ai_token_type="output"') == 4
    assert value("aiovertexchat_client_attempts_total", 'http_response_status_code="200"') == 2
    assert value("aiovertexchat_client_cost_USD_total", model) > 0
    assert value("aiovertexchat_client_requests_in_flight") == 0
    assert value("aiovertexchat_client_concurrency_limit") == 100
    assert 'le="81.92"' in text  # the conventions' buckets, as Prometheus `le` labels
