"""Files: the JSON summary, and one row per measured request as CSV or JSONL.

Per-request times are seconds. `scheduled_s` is relative to the start of the request's measured
phase; every latency is relative to the request's own `create()` call (see metrics.py).
`ttst_s` is the time to the second token chunk; `pool_wait_s`, `dns_s`, `connect_s` (TCP and
TLS together: aiohttp opens both in one step) and `first_byte_s` (request written → response
headers) break down the time before the first byte, and are empty for steps that did not
happen (a reused connection has no DNS or connect).
JSONL rows also carry `token_chunk_s`: the arrival of each token chunk relative to the call.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .metrics import RequestRecord
from .slo import SLO
from .suite import BenchResult

__all__ = ["CSV_COLUMNS", "request_rows", "write_csv", "write_json", "write_jsonl"]

CSV_COLUMNS = (
    "target", "model", "load_kind", "load_value", "repeat", "index", "scheduled_s",
    "schedule_lag_s", "gate_wait_s", "ttfh_s", "ttfc_s", "ttft_s", "ttfr_s", "tpot_s",
    "itl_mean_s", "itl_max_s", "e2e_s", "token_chunks", "prompt_words", "prompt_tokens",
    "output_tokens", "reasoning_tokens", "cached_tokens", "client_tokens", "usage_missing",
    "cost_usd", "ok", "good", "slo_misses", "error", "status_code", "error_message",
    "ttst_s", "pool_wait_s", "dns_s", "connect_s", "first_byte_s", "reused_connection",
    "session", "turn", "prompt_tokens_client", "worker_share",
)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(result: BenchResult, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_clean(result.to_dict()), handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def _row(record: RequestRecord, base: dict[str, Any], window_start: float, slo: SLO,
         cost: float | None) -> dict[str, Any]:
    gaps = record.itl_gaps
    misses = slo.violations(record.slo_values()) if record.ok else []
    return {
        **base,
        "index": record.index,
        "scheduled_s": record.scheduled_at - window_start,
        "schedule_lag_s": record.schedule_lag,
        "gate_wait_s": record.gate_wait,
        "ttfh_s": record.ttfh,
        "ttfc_s": record.ttfc,
        "ttft_s": record.ttft,
        "ttfr_s": record.ttfr,
        "tpot_s": record.tpot,
        "itl_mean_s": sum(gaps) / len(gaps) if gaps else None,
        "itl_max_s": max(gaps) if gaps else None,
        "e2e_s": record.e2e,
        "token_chunks": len(record.token_times),
        "prompt_words": record.prompt_words,
        "prompt_tokens": record.prompt_tokens,
        "output_tokens": record.output_tokens,
        "reasoning_tokens": record.reasoning_tokens,
        "cached_tokens": record.cached_tokens,
        "client_tokens": record.client_tokens,
        "usage_missing": record.usage_missing,
        "cost_usd": cost,
        "ok": record.ok,
        "good": record.ok and not misses if slo else None,
        "slo_misses": ";".join(misses),
        "error": record.error,
        "status_code": record.status_code,
        "error_message": record.error_message,
        "ttst_s": record.ttst,
        "pool_wait_s": record.pool_wait_s,
        "dns_s": record.dns_s,
        "connect_s": record.connect_s,
        "first_byte_s": record.first_byte_s,
        "reused_connection": record.reused_connection,
        "session": record.session,
        "turn": record.turn,
        "prompt_tokens_client": record.prompt_tokens_client,
    }


def request_rows(result: BenchResult, *, with_chunks: bool = False) -> Iterator[dict[str, Any]]:
    """One dict per measured request of every point and repeat."""
    config = result.config
    prices = config.prices
    for point in result.points:
        priced = prices is not None and prices.lookup(point.model) is not None
        for repeat in point.repeats:
            base = {
                "target": point.target,
                "model": point.model,
                "load_kind": point.load.kind,
                "load_value": point.load.value,
                "repeat": repeat.repeat,
            }
            workers = repeat.workers
            for record in repeat.records:
                cost = None
                if priced and prices is not None and record.usage is not None:
                    cost = prices.cost(point.model, record.usage).total_usd
                row = _row(record, base, repeat.window_start, config.slo, cost)
                # Which worker process sent it: the partition is by request index.
                row["worker_share"] = (record.index // max(1, config.workload.max_turns)
                                       ) % workers if workers > 1 else None
                if with_chunks:
                    call = record.call_at if record.call_at is not None else 0.0
                    row["token_chunk_s"] = [t - call for t in record.token_times]
                yield row


def write_csv(result: BenchResult, path: str | Path) -> int:
    """Write the per-request CSV; returns the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in request_rows(result):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            count += 1
    return count


def write_jsonl(result: BenchResult, path: str | Path) -> int:
    """Write the per-request JSONL (with chunk arrival offsets); returns the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for row in request_rows(result, with_chunks=True):
            handle.write(json.dumps(_clean(row), ensure_ascii=False) + "\n")
            count += 1
    return count
