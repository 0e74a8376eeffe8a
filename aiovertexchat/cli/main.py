"""Command line: `aiovertexchat chat | demo | emulator | bench | batch`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence

from ..batch import cli as batch_cli
from ..bench import cli as bench_cli
from ..client import AsyncVertexChat
from ..errors import APIError, ConfigurationError

__all__ = ["main"]

DEFAULT_MODEL = "google/gemini-2.5-flash"


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[AsyncVertexChat]:
    """A client for the chosen target; with --emulator, an in-process emulator behind it."""
    if args.emulator:
        from ..emulator import Emulator, EmulatorConfig

        config = EmulatorConfig(ttft=args.emulator_ttft, itl=args.emulator_itl)
        async with Emulator(config) as emu, AsyncVertexChat(
            base_url=emu.base_url, api_key="emulator", trust_env=False  # never via a proxy
        ) as client:
            yield client
        return
    async with AsyncVertexChat(
        base_url=args.base_url, proxy=args.proxy, ssl=False if args.insecure else args.ca_bundle
    ) as client:
        yield client


async def _chat(args: argparse.Namespace) -> int:
    messages = [{"role": "user", "content": args.prompt}]
    async with _target(args) as client:
        if args.no_stream:
            completion = await client.chat.completions.create(
                model=args.model, messages=messages, max_tokens=args.max_tokens
            )
            print(completion.choices[0].message.content or "")
            return 0
        async with await client.chat.completions.create(
            model=args.model, messages=messages, max_tokens=args.max_tokens, stream=True
        ) as stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        sys.stdout.write(choice.delta.content)
                        sys.stdout.flush()
        print()
    return 0


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _demo(args: argparse.Namespace) -> int:
    args.emulator = True
    async with _target(args) as client:
        print(f"streaming one answer from the emulator at {client.base_url}:")
        stream = await client.chat.completions.create(
            model=args.model,
            messages=[{"role": "user", "content": "Say hello to the aiovertexchat demo."}],
            max_tokens=24,
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    sys.stdout.write(chunk.choices[0].delta.content)
                    sys.stdout.flush()
        usage = stream.usage
        print(f"\n  usage: {usage.prompt_tokens if usage else '?'} prompt + "
              f"{usage.completion_tokens if usage else '?'} completion tokens")

        print(f"\nfan-out: {args.requests} streamed requests, {args.concurrency} at a time")
        semaphore = asyncio.Semaphore(args.concurrency)
        ttfts: list[float] = []
        totals: list[float] = []
        tokens = 0

        async def one(i: int) -> None:
            nonlocal tokens
            async with semaphore:
                s = await client.chat.completions.create(
                    model=args.model,
                    messages=[{"role": "user", "content": f"request number {i}"}],
                    max_tokens=32,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async with s:
                    async for _ in s:
                        pass
                if s.metrics.time_to_first_token is not None:
                    ttfts.append(s.metrics.time_to_first_token)
                if s.metrics.duration is not None:
                    totals.append(s.metrics.duration)
                tokens += s.usage.completion_tokens if s.usage else 0

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.requests)))
        elapsed = time.perf_counter() - started
        ttfts.sort()
        totals.sort()
        print(f"  {len(totals)} requests in {elapsed:.2f} s ({len(totals) / elapsed:.0f} req/s, "
              f"{tokens / elapsed:.0f} output tokens/s)")
        for name, values in (("TTFT", ttfts), ("end-to-end", totals)):
            print(f"  {name:>10}: p50 {_percentile(values, 50) * 1000:7.1f} ms   "
                  f"p90 {_percentile(values, 90) * 1000:7.1f} ms   "
                  f"p99 {_percentile(values, 99) * 1000:7.1f} ms   "
                  f"mean {statistics.fmean(values) * 1000:7.1f} ms")
    return 0


async def _emulator(args: argparse.Namespace) -> int:
    from ..emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(ttft=args.emulator_ttft, itl=args.emulator_itl)
    async with Emulator(config, host=args.host, port=args.port) as emu:
        print(f"emulator listening; base URL: {emu.base_url}", flush=True)
        print(f"Vertex-style URL: {emu.url}/v1/projects/PROJECT/locations/us-central1/"
              "endpoints/openapi", flush=True)
        await asyncio.Event().wait()  # until interrupted
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiovertexchat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def emulator_timing(p: argparse.ArgumentParser, ttft: float, itl: float) -> None:
        p.add_argument("--emulator-ttft", type=float, default=ttft,
                       help="emulator: seconds before the first token (default %(default)s)")
        p.add_argument("--emulator-itl", type=float, default=itl,
                       help="emulator: seconds between tokens (default %(default)s)")

    chat = sub.add_parser("chat", help="send one prompt and print the (streamed) answer")
    chat.add_argument("prompt")
    chat.add_argument("--model", default=DEFAULT_MODEL)
    chat.add_argument("--max-tokens", type=int, default=None)
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    target = chat.add_mutually_exclusive_group()
    target.add_argument("--base-url", help="any OpenAI-compatible base URL (else Vertex settings "
                        "from GOOGLE_CLOUD_PROJECT/LOCATION or OPENAI_BASE_URL)")
    target.add_argument("--emulator", action="store_true", help="use an in-process emulator")
    emulator_timing(chat, 0.05, 0.01)
    net = chat.add_argument_group("network")
    net.add_argument("--proxy", metavar="URL",
                     help="proxy for every request, token refreshes included "
                     "(default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY)")
    tls = net.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", metavar="PATH",
                     help="trust the CA certificates in this PEM file (or hashed "
                     "directory) instead of the system's")
    tls.add_argument("--insecure", action="store_true",
                     help="do not verify TLS certificates (warns; never in production)")

    demo = sub.add_parser("demo", help="stream a chat and a small fan-out against the emulator")
    demo.add_argument("--model", default=DEFAULT_MODEL)
    demo.add_argument("--requests", type=int, default=200)
    demo.add_argument("--concurrency", type=int, default=32)
    emulator_timing(demo, 0.05, 0.005)

    emu = sub.add_parser("emulator", help="run the Vertex emulator until interrupted")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8080)
    emulator_timing(emu, 0.0, 0.0)
    bench_cli.register(sub)
    batch_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"chat": _chat, "demo": _demo, "emulator": _emulator,
               "bench": bench_cli.command, "batch": batch_cli.command}[args.command]
    try:
        return asyncio.run(handler(args))
    except KeyboardInterrupt:
        return 130
    except (APIError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
