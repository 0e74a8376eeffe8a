"""`--server-metrics URL`: what the server said about itself while it was being measured.

Inference servers (vLLM, SGLang, TGI) expose Prometheus metrics. A scraper process (so that
fetching and parsing never run on a measuring event loop) samples the endpoint every
`--server-metrics-interval` (default 1s) and at both ends of each measured phase; the text is
read with `prometheus_client`'s parser (optional dependency: `pip install
'aiovertexchat[metrics]'`). Samples of one metric with different labels (several models,
several engines) are summed.

What is followed, by the name the report uses (the first name the server exposes wins):

- running (gauge): `vllm:num_requests_running`, `sglang:num_running_reqs`,
  `tgi_batch_current_size`;
- waiting (gauge): `vllm:num_requests_waiting`, `sglang:num_queue_reqs`, `tgi_queue_size`;
- kv_cache_usage (gauge, 0-1): `vllm:kv_cache_usage_perc`, `vllm:gpu_cache_usage_perc`,
  `sglang:token_usage`;
- preemptions (counter): `vllm:num_preemptions_total`;
- prompt_tokens, generation_tokens (counters): `vllm:prompt_tokens_total`,
  `vllm:generation_tokens_total`;

plus any metric named with `--server-metric NAME` (a gauge or counter by its type). Reported
per measured phase: the time series (seconds since the phase began), gauges' min/mean/max,
and counters' before/after delta.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .lifeline import parent_death_signal

__all__ = ["KNOWN_METRICS", "Sample", "Scraper", "ServerMetrics", "parse_metrics"]

KNOWN_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "running": (("vllm:num_requests_running", "sglang:num_running_reqs",
                 "tgi_batch_current_size"), "gauge"),
    "waiting": (("vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size"),
                "gauge"),
    "kv_cache_usage": (("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
                        "sglang:token_usage"), "gauge"),
    "preemptions": (("vllm:num_preemptions_total",), "counter"),
    "prompt_tokens": (("vllm:prompt_tokens_total",), "counter"),
    "generation_tokens": (("vllm:generation_tokens_total",), "counter"),
}


class MetricsUnavailableError(ValueError):
    """`--server-metrics` was given but `prometheus_client` is not installed."""


def _require_parser() -> Any:
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:
        raise MetricsUnavailableError(
            "--server-metrics needs prometheus_client: pip install 'aiovertexchat[metrics]'"
        ) from exc
    return text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    """One scrape: perf_counter seconds, and values by report name (absent when not exposed)."""

    at: float
    values: dict[str, float]


def parse_metrics(text: str, extra: Iterable[str] = ()) -> tuple[dict[str, float],
                                                                  dict[str, str]]:
    """Values by report name (labels summed), and the kind ("gauge"/"counter") of each."""
    parse = _require_parser()
    totals: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for family in parse(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
            kinds[sample.name] = "counter" if family.type == "counter" else "gauge"
            if family.type == "counter":
                kinds[family.name] = "counter"
                if not sample.name.endswith("_total"):
                    continue
                # Counters are written NAME_total; a server may also be asked for NAME.
                totals.setdefault(family.name, 0.0)
                totals[family.name] += float(sample.value)
    values: dict[str, float] = {}
    found_kinds: dict[str, str] = {}
    for report, (names, kind) in KNOWN_METRICS.items():
        for name in names:
            if name in totals:
                values[report] = totals[name]
                found_kinds[report] = kind
                break
    for name in extra:
        if name in totals:
            values[name] = totals[name]
            found_kinds[name] = kinds.get(name, "gauge")
    return values, found_kinds


@dataclass
class ServerMetrics:
    """The samples of one measured phase (the first at its start, the last at its end)."""

    url: str
    window_start: float
    samples: list[Sample]
    kinds: dict[str, str]
    errors: int = 0
    last_error: str | None = None

    @property
    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for sample in self.samples:
            seen.update(dict.fromkeys(sample.values))
        return list(seen)

    def series(self, name: str) -> list[tuple[float, float]]:
        """(seconds since the phase began, value) of every sample that had the metric."""
        return [(s.at - self.window_start, s.values[name]) for s in self.samples
                if name in s.values]

    def delta(self, name: str) -> float | None:
        points = self.series(name)
        return points[-1][1] - points[0][1] if len(points) >= 2 else None

    def gauge(self, name: str) -> dict[str, float] | None:
        values = [v for _, v in self.series(name)]
        if not values:
            return None
        return {"min": min(values), "mean": math.fsum(values) / len(values),
                "max": max(values)}

    def to_dict(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        for name in self.names:
            kind = self.kinds.get(name, "gauge")
            entry: dict[str, Any] = {"kind": kind, "series": self.series(name)}
            points = entry["series"]
            entry["before"] = points[0][1] if points else None
            entry["after"] = points[-1][1] if points else None
            if kind == "counter":
                entry["delta"] = self.delta(name)
            else:
                entry.update(self.gauge(name) or {})
            metrics[name] = entry
        return {"url": self.url, "samples": len(self.samples), "errors": self.errors,
                "last_error": self.last_error, "metrics": metrics}


# -- the scraper process ----------------------------------------------------------------------

def _scrape(url: str, timeout: float, extra: Sequence[str]) -> tuple[Sample | None, str | None,
                                                                      dict[str, str]]:
    before = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
        values, kinds = parse_metrics(text, extra)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}", {}
    # The sample is dated at the middle of its round trip.
    return Sample((before + time.perf_counter()) / 2.0, values), None, kinds


def scraper_main(conn: Connection, url: str, interval: float, extra: Sequence[str],
                 parent_pid: int) -> None:
    """The scraper process: sample every `interval` s; answer "begin"/"end" at once."""
    import signal

    parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    samples: list[Sample] = []
    kinds: dict[str, str] = {}
    errors = 0
    last_error: str | None = None
    timeout = max(2.0, interval)
    recording = False
    next_at = time.perf_counter()

    def take() -> Sample | None:
        nonlocal errors, last_error
        sample, error, found = _scrape(url, timeout, extra)
        kinds.update(found)
        if sample is None:
            errors += 1
            last_error = error
        return sample

    while True:
        wait = max(0.0, next_at - time.perf_counter())
        try:
            message = conn.recv() if conn.poll(wait) else None
        except (EOFError, OSError):
            return
        if message is None:
            if recording:
                sample = take()
                if sample is not None:
                    samples.append(sample)
            next_at += interval
            if next_at < time.perf_counter():
                next_at = time.perf_counter() + interval
            continue
        if message[0] == "begin":
            samples, errors, last_error, recording = [], 0, None, True
            sample = take()
            if sample is not None:
                samples.append(sample)
            next_at = time.perf_counter() + interval
            conn.send(("begun", None))
        elif message[0] == "end":
            sample = take()
            if sample is not None:
                samples.append(sample)
            recording = False
            conn.send(("samples", samples, dict(kinds), errors, last_error))
        else:
            return


@dataclass
class _Sampling:
    scraper: Scraper
    window_start: float = 0.0
    result: ServerMetrics | None = field(default=None)

    async def __aenter__(self) -> _Sampling:
        from .workers import _recv

        self.scraper.conn.send(("begin",))
        await _recv(self.scraper.conn)
        self.window_start = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        from .workers import _recv

        self.scraper.conn.send(("end",))
        reply = await _recv(self.scraper.conn)
        if reply is not None and reply[0] == "samples":
            _, samples, kinds, errors, last_error = reply
            self.result = ServerMetrics(self.scraper.url, self.window_start, samples, kinds,
                                        errors, last_error)


class Scraper:
    """The scraper process for a run; `sampling()` brackets one measured phase."""

    def __init__(self, url: str, interval: float = 1.0, extra: Sequence[str] = ()) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--server-metrics {url!r} must be an http(s) URL")
        if not interval > 0:
            raise ValueError("--server-metrics-interval must be > 0")
        _require_parser()
        self.url = url
        self.interval = interval
        self.extra = tuple(extra)
        self.process: Any = None
        self.conn: Connection

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Scraper]:
        from .workers import _wait_exit

        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe(duplex=True)
        self.process = context.Process(
            target=scraper_main, args=(theirs, self.url, self.interval, self.extra,
                                       os.getpid()),
            name="aiovertexchat-bench-scraper", daemon=True)
        self.process.start()
        theirs.close()
        try:
            yield self
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(("exit",))
            self.conn.close()
            await _wait_exit(self.process, 5.0)
            if self.process.exitcode is None:
                self.process.kill()
                await _wait_exit(self.process, 5.0)

    def sampling(self) -> _Sampling:
        return _Sampling(self)
