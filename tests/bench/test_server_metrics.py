"""`--server-metrics`: a Prometheus endpoint sampled by a scraper process during each load
point, read with prometheus_client's parser (vLLM metric names)."""

from __future__ import annotations

import io
import itertools

import pytest
from aiohttp import web

from aiovertexchat.bench import BenchConfig, LengthSpec, Load, Target, Workload, run_bench
from aiovertexchat.bench.report import render
from aiovertexchat.bench.server_metrics import Scraper, parse_metrics
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.bench.test_run import LENIENT
from tests.helpers import serve_app

pytest.importorskip("prometheus_client")

PAGE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="a"}} {running}
vllm:num_requests_running{{model_name="b"}} 1.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="a"}} 4.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{{model_name="a"}} 0.25
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{{model_name="a"}} {preemptions}
vllm:num_preemptions_total{{model_name="b"}} 100.0
# HELP my_queue_depth Something else.
# TYPE my_queue_depth gauge
my_queue_depth 9.0
"""


def test_the_parser_sums_labels_and_maps_known_names() -> None:
    values, kinds = parse_metrics(PAGE.format(running=2.0, preemptions=5.0),
                                  extra=["my_queue_depth", "absent_metric"])
    assert values == {"running": 3.0, "waiting": 4.0, "kv_cache_usage": 0.25,
                      "preemptions": 105.0, "my_queue_depth": 9.0}
    assert kinds["preemptions"] == "counter" and kinds["running"] == "gauge"
    newer = PAGE.replace("gpu_cache_usage_perc", "kv_cache_usage_perc")
    assert parse_metrics(newer.format(running=0, preemptions=0))[0]["kv_cache_usage"] == 0.25


async def test_samples_span_each_load_point() -> None:
    scrapes = itertools.count(1)

    async def metrics(request: web.Request) -> web.Response:
        n = next(scrapes)
        # Each scrape: 2 more preemptions, and `running` says which scrape this is.
        return web.Response(text=PAGE.format(running=float(n), preemptions=2.0 * n),
                            content_type="text/plain")

    async with serve_app(metrics) as url, Emulator(EmulatorConfig(ttft=0.05)) as emu:
        result = await run_bench(BenchConfig(
            targets=[Target("emu", emu.base_url, api_key="k")],
            loads=[Load.concurrency(1), Load.concurrency(2)], requests=6, thresholds=LENIENT,
            workload=Workload(prompt_tokens=LengthSpec(3), max_tokens=2),
            server_metrics=url + "/metrics", server_metrics_interval=0.05,
        ))
    seen = []
    for point in result.points:
        server = point.repeats[0].server_metrics
        assert server is not None and server.errors == 0
        running = server.series("running")
        samples = len(server.samples)
        assert samples >= 2 and len(running) == samples
        # Scrape numbers are consecutive within a load point: none was lost.
        numbers = [value - 1.0 for _, value in running]
        assert numbers == list(range(int(numbers[0]), int(numbers[0]) + samples))
        assert server.delta("preemptions") == 2.0 * (samples - 1)
        assert [t for t, _ in running] == sorted(t for t, _ in running)
        data = server.to_dict()["metrics"]
        assert data["preemptions"]["kind"] == "counter"
        assert data["kv_cache_usage"]["max"] == 0.25
        assert data["waiting"]["mean"] == 4.0
        seen.append(numbers)
    assert seen[1][0] > seen[0][-1]  # the second load point's samples come after the first's
    out = io.StringIO()
    render(result, out, use_rich=False)
    assert "Server metrics (Prometheus" in out.getvalue()
    assert "preemptions" in out.getvalue()


async def test_an_unreachable_endpoint_is_counted_not_fatal() -> None:
    async with Emulator(EmulatorConfig(ttft=0.01)) as emu:
        result = await run_bench(BenchConfig(
            targets=[Target("emu", emu.base_url, api_key="k")], loads=[Load.concurrency(1)],
            requests=2, thresholds=LENIENT,
            workload=Workload(prompt_tokens=LengthSpec(3), max_tokens=2),
            server_metrics="http://127.0.0.1:9/metrics", server_metrics_interval=0.05,
        ))
    server = result.points[0].repeats[0].server_metrics
    assert server is not None and server.errors >= 2 and server.samples == []
    assert server.last_error is not None and "URLError" in server.last_error


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        Scraper("ftp://x/metrics")
    with pytest.raises(ValueError, match="> 0"):
        Scraper("http://127.0.0.1:1/metrics", interval=0)
