"""One worker process of the shared-limit tests: a client with a `RedisRateLimit`, sending
requests from N coroutines. Prints `ready`, waits for `go` on stdin, runs, prints one JSON line.

    python ratelimit_worker.py BASE_URL REDIS_URL KEY --rpm R | --tpm T
        [--coroutines N] [--duration S | --requests N] [--name W]

With `--duration` the coroutines send until S seconds have passed, then are cancelled (a
booking still sleeping is handed back). With `--requests` they send exactly N in all and the
worker exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from aiovertexchat import AsyncVertexChat, RedisRateLimit, RetryPolicy
from aiovertexchat._reliability.redis_ratelimit import RedisRateLimiter


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("redis_url")
    p.add_argument("key")
    p.add_argument("--rpm", type=float)
    p.add_argument("--tpm", type=float)
    p.add_argument("--coroutines", type=int, default=20)
    p.add_argument("--duration", type=float)
    p.add_argument("--requests", type=int)
    p.add_argument("--name", default="w")
    p.add_argument("--retry-interval", type=float, default=0.5)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"{args.name} %(levelname)s %(message)s")
    limit = RedisRateLimit(args.redis_url, args.key, rpm=args.rpm, tpm=args.tpm,
                           retry_interval=args.retry_interval)
    sent = ok = failed = 0
    async with AsyncVertexChat(base_url=args.base_url, api_key="k",
                               max_concurrency=args.coroutines, rate_limit=limit,
                               retry=RetryPolicy(base=0.01, cap=0.1)) as client:
        limiter = client._dispatcher.rate_limiter  # the test reads its counters
        assert isinstance(limiter, RedisRateLimiter)
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 2
        remaining = args.requests

        async def one() -> None:
            nonlocal sent, ok, failed, remaining
            while remaining is None or remaining > 0:
                if remaining is not None:
                    remaining -= 1
                sent += 1
                item = f"{args.name}-{sent}"
                try:
                    await client.chat.completions.create(
                        model="gemini-2.5-flash",
                        messages=[{"role": "user", "content": f"item={item} hello"}],
                    )
                except Exception as exc:
                    failed += 1
                    print(f"{item} failed: {exc!r}", file=sys.stderr, flush=True)
                else:
                    ok += 1

        workers = [asyncio.create_task(one()) for _ in range(args.coroutines)]
        started = time.monotonic()
        if args.duration is not None:
            _, pending = await asyncio.wait(workers, timeout=args.duration)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        else:
            await asyncio.gather(*workers)
        elapsed = time.monotonic() - started
        report = {
            "name": args.name, "ok": ok, "failed": failed, "elapsed": elapsed,
            "redis_calls": limiter.redis_calls, "fallbacks": limiter.fallbacks,
            "peers": limiter.peers, "falling_back": limiter.falling_back,
        }
    print(json.dumps(report), flush=True)
    return 1 if failed and args.requests is not None else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
