"""`aiovertexchat chat` (one prompt, the answer printed) and `aiovertexchat demo`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from ..bench.sample_stats import Distribution
from ..client import AsyncVertexChat
from .options import (
    add_credential_options,
    add_emulator_knobs,
    add_network_options,
    add_target_options,
    open_client,
    resolve,
)
from .report import UsageError, for_cli

__all__ = ["DEFAULT_MODEL", "chat_command", "demo_command", "register_chat", "register_demo"]

DEFAULT_MODEL = "google/gemini-2.5-flash"


def register_chat(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chat", help="send one prompt and print the (streamed) answer",
        description="Send one prompt and print the answer as it streams.")
    p.add_argument("prompt")
    p.add_argument("--model", default=DEFAULT_MODEL, help="default %(default)s")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    add_target_options(p)
    add_credential_options(p)
    add_network_options(p)
    add_emulator_knobs(p, ttft=0.05, itl=0.01)
    p.set_defaults(handler=chat_command)


def register_demo(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="stream a chat and a small fan-out against the embedded emulator",
        description="Stream one chat from an embedded emulator, then send a fan-out of "
        "streamed requests and print latency percentiles (the bench's definition).")
    p.add_argument("--model", default=DEFAULT_MODEL, help="default %(default)s")
    p.add_argument("--requests", type=int, default=200, help="default %(default)s")
    p.add_argument("--concurrency", type=int, default=32, help="default %(default)s")
    add_emulator_knobs(p, ttft=0.05, itl=0.005, title="embedded emulator")
    p.set_defaults(handler=demo_command, emulator=True)


async def _create(client: AsyncVertexChat, **request: Any) -> Any:
    """`create`, with a request the client refuses before sending reported as a usage error."""
    try:
        return await client.chat.completions.create(**request)
    except ValueError as exc:  # e.g. a model without its publisher on managed Gemini
        raise UsageError(for_cli(str(exc))) from None


async def chat_command(args: argparse.Namespace) -> int:
    setup = resolve(args)
    request: dict[str, Any] = {
        "model": args.model,
        "messages": [{"role": "user", "content": args.prompt}],
        "max_tokens": args.max_tokens,
    }
    async with open_client(setup) as client:
        if args.no_stream:
            completion = await _create(client, **request)
            print(completion.choices[0].message.content or "")
            return 0
        async with await _create(client, **request, stream=True) as stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        sys.stdout.write(choice.delta.content)
                        sys.stdout.flush()
        print()
    return 0


def _latency_line(name: str, values: list[float]) -> str:
    stats = Distribution.of(values)
    if stats is None:
        return f"  {name:>10}: no values"
    return (f"  {name:>10}: p50 {stats.p50 * 1000:7.1f} ms   p90 {stats.p90 * 1000:7.1f} ms   "
            f"p99 {stats.p99 * 1000:7.1f} ms   mean {stats.mean * 1000:7.1f} ms")


async def demo_command(args: argparse.Namespace) -> int:
    async with open_client(resolve(args)) as client:
        print(f"streaming one answer from the emulator at {client.base_url}:")
        stream = await _create(
            client,
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
                s = await _create(
                    client,
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
        print(f"  {len(totals)} requests in {elapsed:.2f} s ({len(totals) / elapsed:.0f} req/s, "
              f"{tokens / elapsed:.0f} output tokens/s)")
        print(_latency_line("TTFT", ttfts))
        print(_latency_line("end-to-end", totals))
    return 0
