"""Client CPU per request and per chunk with telemetry off, on with the API's no-op providers, and
on with the SDK recording in memory (and, given `--baseline-src`, the code before telemetry).

Why it is measured this way:
- The server (the emulator, itl=0) runs in a subprocess; client CPU is `time.process_time()`
  in the measuring process, so the server's work and waiting are not counted.
- Each mode runs in its own interpreter (a worker): the modes cannot share imported state, and
  the baseline imports another copy of the package. Workers run in rounds, modes interleaved
  (each round starting with the next mode), so a slow minute on this shared machine hits every
  mode alike; the tables show medians, the checks the median of per-round ratios.
- Per chunk, the claim is "nothing more": streams of two lengths are measured and the CPU is
  split into a per-request part and a per-chunk slope (`(cpu_long - cpu_short) / (chunks_long
  - chunks_short)`), so a per-call cost spread over a stream's chunks is not taken for a
  per-chunk one.

Run: `python benchmarks/telemetry_overhead.py` (add `--baseline-src DIR`, a directory holding the
`aiovertexchat` package before telemetry, e.g. `git archive <commit> aiovertexchat | tar -x -C
DIR`; `--quick` for a smaller run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "google/gemini-2.5-flash"
MODES = ("off", "noop", "sdk")
LABELS = {"baseline": "before telemetry", "off": "telemetry=False",
          "noop": "API, no-op providers", "sdk": "SDK, in-memory"}


# -- the worker: one mode, every workload once ------------------------------------------------
def _client_options(mode: str) -> dict[str, Any]:
    if mode == "baseline":
        return {}
    if mode == "off":
        return {"telemetry": False}
    if mode == "noop":
        from opentelemetry import metrics, trace

        return {"tracer_provider": trace.NoOpTracerProvider(),
                "meter_provider": metrics.NoOpMeterProvider()}
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    _SDK.append(exporter)
    return {"tracer_provider": tracer_provider,
            "meter_provider": MeterProvider(metric_readers=[InMemoryMetricReader()])}


_SDK: list[Any] = []


async def _fan_out(requests: int, concurrency: int, one: Any) -> int:
    queue = iter(range(requests))
    total = 0

    async def worker() -> None:
        nonlocal total
        for i in queue:
            done = await one(i)
            total += done

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


async def _run(base_url: str, options: dict[str, Any], stream: bool, requests: int,
               tokens: int, concurrency: int) -> int:
    """Requests done (plain) or chunks received (stream)."""
    from aiovertexchat import AsyncVertexChat

    async with AsyncVertexChat(base_url=base_url, api_key="k", max_connections=concurrency,
                               **options) as client:

        async def one(i: int) -> int:
            messages = [{"role": "user", "content": f"bench {i} [[tokens={tokens}]]"}]
            if not stream:
                completion = await client.chat.completions.create(model=MODEL,
                                                                  messages=messages)
                return 1 if completion.choices[0].message.content else 0
            chunks = await client.chat.completions.create(
                model=MODEL, messages=messages, stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in chunks:
                pass
            return len(chunks.metrics.chunk_times)

        return await _fan_out(requests, concurrency, one)


def _measure(base_url: str, options: dict[str, Any], stream: bool, requests: int, tokens: int,
             concurrency: int) -> tuple[float, int]:
    started = time.process_time()
    units = asyncio.run(_run(base_url, options, stream, requests, tokens, concurrency))
    cpu = time.process_time() - started
    for exporter in _SDK:
        exporter.clear()  # the in-memory spans must not pile up across workloads
    return cpu, units


def _count_calls(base_url: str, options: dict[str, Any], stream: bool, requests: int,
                 tokens: int) -> tuple[int, int, int]:
    """(Python calls into telemetry code, into the rest of the package, units): a count, not a
    time, so this machine's load does not move it."""
    counts = {"telemetry": 0, "package": 0}
    telemetry = (f"{os.sep}opentelemetry{os.sep}", f"{os.sep}_telemetry{os.sep}")
    package = f"{os.sep}aiovertexchat{os.sep}"

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            path = frame.f_code.co_filename
            if any(part in path for part in telemetry):
                counts["telemetry"] += 1
            elif package in path:
                counts["package"] += 1

    async def counted() -> int:
        sys.setprofile(profile)
        try:
            return await _run(base_url, options, stream, requests, tokens, 1)
        finally:
            sys.setprofile(None)

    units = asyncio.run(counted())
    return counts["telemetry"], counts["package"], units


def worker(mode: str, base_url: str, plan: dict[str, Any]) -> dict[str, Any]:
    options = _client_options(mode)
    conc = plan["concurrency"]
    _measure(base_url, options, True, 20, 20, conc)  # warm-up: imports, pools, caches
    _measure(base_url, options, False, 50, 16, conc)
    out: dict[str, Any] = {}
    for name, stream, requests, tokens in plan["workloads"]:
        out[name] = _measure(base_url, options, stream, requests, tokens, conc)
    out["calls"] = {
        "plain": _count_calls(base_url, options, False, 50, 16),
        "short": _count_calls(base_url, options, True, 20, 50),
        "long": _count_calls(base_url, options, True, 20, 400),
    }
    out["imported_opentelemetry"] = any(m.split(".")[0] == "opentelemetry" for m in sys.modules)
    return out


# -- the parent: rounds of workers, then the figures --------------------------------------------
def _start_server() -> tuple[subprocess.Popen[str], str]:
    sys.path.insert(0, str(HERE))
    from client_overhead import start_server

    return start_server()


def _plan(quick: bool) -> dict[str, Any]:
    scale = 4 if quick else 1
    return {
        "concurrency": 8,
        # (name, stream, requests, tokens per answer)
        "workloads": [
            ("plain", False, 2000 // scale, 16),
            ("short", True, 200 // scale, 50),
            ("long", True, 200 // scale, 400),
            ("stream200", True, 200 // scale, 200),
        ],
    }


def _run_worker(mode: str, base_url: str, plan: dict[str, Any],
                baseline_src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if mode == "baseline":
        assert baseline_src is not None
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline_src, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--url", base_url,
         "--plan", json.dumps(plan)],
        capture_output=True, text=True, env=env, cwd=str(HERE), timeout=900, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {mode} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _figures(run: dict[str, Any], plan: dict[str, Any]) -> dict[str, float]:
    requests = {name: n for name, _, n, _ in plan["workloads"]}
    cpu_plain, done = run["plain"]
    (cpu_short, chunks_short), (cpu_long, chunks_long) = run["short"], run["long"]
    slope = (cpu_long - cpu_short) / (chunks_long - chunks_short)
    per_stream = (cpu_short - slope * chunks_short) / requests["short"]
    cpu_200, chunks_200 = run["stream200"]
    return {
        "plain_us_per_request": cpu_plain / done * 1e6,
        "stream_us_per_chunk_slope": slope * 1e6,
        "stream_us_per_request_intercept": per_stream * 1e6,
        "stream200_us_per_chunk": cpu_200 / chunks_200 * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the workload")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every mode (median)")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="directory with the aiovertexchat package before telemetry")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a check fails")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, json.loads(args.plan))))
        return 0

    plan = _plan(args.quick)
    modes = (("baseline",) if args.baseline_src else ()) + MODES
    proc, base_url = _start_server()
    rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    imported: dict[str, bool] = {}
    calls: dict[str, dict[str, list[int]]] = {}
    try:
        print(f"server: emulator subprocess at {base_url}; client CPU via process_time; "
              f"{args.rounds} rounds, modes interleaved, median reported")
        print("workloads: " + ", ".join(f"{name} {n}x{tokens}{' stream' if s else ''}"
                                         for name, s, n, tokens in plan["workloads"])
              + f", concurrency {plan['concurrency']}")
        for round_no in range(args.rounds):
            # Each round starts with another mode: no mode always runs first or after another.
            shift = round_no % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                run = _run_worker(mode, base_url, plan, args.baseline_src)
                imported[mode] = run.pop("imported_opentelemetry")
                calls[mode] = run.pop("calls")
                rounds[mode].append(_figures(run, plan))
            print(f"  round {round_no + 1}/{args.rounds} done", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    keys = ("plain_us_per_request", "stream_us_per_chunk_slope",
            "stream_us_per_request_intercept", "stream200_us_per_chunk")
    median = {mode: {k: statistics.median(r[k] for r in rounds[mode]) for k in keys}
              for mode in modes}
    spread = {mode: {k: (max(r[k] for r in rounds[mode]) - min(r[k] for r in rounds[mode]))
                     / median[mode][k] for k in keys} for mode in modes}
    heads = ("µs/request plain", "µs/chunk slope", "µs/stream fixed", "µs/chunk @200")
    print(f"\n{'mode':<24}" + "".join(f"{h:>18}" for h in heads))
    for mode in modes:
        print(f"{LABELS[mode]:<24}" + "".join(f"{median[mode][k]:>18.2f}" for k in keys))
    print(f"{'(spread, off)':<24}" + "".join(f"{spread['off'][k]:>17.0%} " for k in keys))
    off = median["off"]
    print()
    for mode in ("noop", "sdk"):
        plain = median[mode]["plain_us_per_request"] - off["plain_us_per_request"]
        fixed = (median[mode]["stream_us_per_request_intercept"]
                 - off["stream_us_per_request_intercept"])
        print(f"{LABELS[mode]}: {plain:+.1f} µs per plain request, {fixed:+.1f} µs per stream "
              "(fixed part), over telemetry=False")

    # Counted, not timed: Python calls per plain request, and per chunk (the slope between
    # 20 streams of 50 and 20 of 400 chunks), into telemetry code and into the rest.
    print("\nPython function calls (counted with sys.setprofile; the same on any machine)")
    print(f"{'mode':<24}{'telemetry/request':>18}{'package/request':>18}"
          f"{'telemetry/chunk':>18}{'package/chunk':>18}")
    per_chunk: dict[str, tuple[float, float]] = {}
    for mode in modes:
        c = calls[mode]
        plain_otel, plain_pkg, done = c["plain"]
        (s_otel, s_pkg, s_units), (l_otel, l_pkg, l_units) = c["short"], c["long"]
        chunks = l_units - s_units
        per_chunk[mode] = ((l_otel - s_otel) / chunks, (l_pkg - s_pkg) / chunks)
        print(f"{LABELS[mode]:<24}{plain_otel / done:>18.1f}{plain_pkg / done:>18.1f}"
              f"{per_chunk[mode][0]:>18.3f}{per_chunk[mode][1]:>18.3f}")
    print()

    def paired(mode: str, ref: str, key: str) -> tuple[float, float, float]:
        """Quartiles over rounds of mode/ref (the two ran in the same round, so a slow spell
        of the machine moves both)."""
        ratios = [a[key] / b[key] for a, b in zip(rounds[mode], rounds[ref], strict=True)]
        if len(ratios) < 2:
            return ratios[0], ratios[0], ratios[0]
        low, mid, high = statistics.quantiles(ratios, n=4)
        return low, mid, high

    def cpu_check(mode: str, ref: str, key: str, what: str, grow_only: bool) -> tuple[str, bool]:
        """Within 5%, or not told apart from equal by this run (1.0 inside the quartiles)."""
        low, mid, high = paired(mode, ref, key)
        close = mid <= 1.05 if grow_only else abs(mid - 1) <= 0.05
        ok = close or low <= 1.0 <= high
        return (f"{what}: ratio {mid:.3f} (quartiles {low:.3f}..{high:.3f}; within 5%, or 1.0 "
                "inside the quartiles)", ok)

    slope = "stream_us_per_chunk_slope"
    checks = [
        ("telemetry=False imports nothing of opentelemetry", not imported["off"]),
        ("no telemetry code runs per chunk in any mode (counted calls per chunk < 0.1)",
         all(abs(per_chunk[mode][0]) < 0.1 for mode in modes)),
        cpu_check("noop", "off", slope, "per-chunk CPU, no-op providers / off", True),
        cpu_check("sdk", "off", slope, "per-chunk CPU, SDK in memory / off", True),
    ]
    if "baseline" in median:
        (_, base_pkg, base_done), (_, off_pkg, off_done) = (calls["baseline"]["plain"],
                                                           calls["off"]["plain"])
        extra = off_pkg / off_done - base_pkg / base_done
        chunk_extra = per_chunk["off"][1] - per_chunk["baseline"][1]
        checks.append((f"telemetry=False makes the calls the code before telemetry made: "
                       f"{extra:+.2f} per request, {chunk_extra:+.3f} per chunk (counted)",
                       abs(extra) < 0.5 and abs(chunk_extra) < 0.05))
        for key, label in (("plain_us_per_request", "per request"),
                           (slope, "per chunk"),
                           ("stream200_us_per_chunk", "per chunk of 200-chunk streams")):
            checks.append(cpu_check("off", "baseline", key,
                                    f"CPU {label}, off / before telemetry", False))
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"median": median, "spread": spread, "rounds": rounds}, handle, indent=2)
    return 1 if args.strict and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
