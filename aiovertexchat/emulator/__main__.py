"""`python -m aiovertexchat.emulator --port 8080`: run an emulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .config import EmulatorConfig
from .dialects import DIALECTS
from .faults import Fault
from .server import Emulator, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aiovertexchat.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.0)
    parser.add_argument("--itl", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=32, help="default answer length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a token")
    parser.add_argument("--fault", action="append", default=[], help="fault spec, repeatable")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--max-concurrency", type=int)
    parser.add_argument("--max-rpm", type=int)
    parser.add_argument("--token-lifetime", type=float, default=3600.0,
                        help="seconds a token from POST /token lives")
    parser.add_argument("--require-issued-tokens", action="store_true",
                        help="accept only live tokens issued by this emulator's POST /token")
    parser.add_argument("--dialect", choices=sorted(DIALECTS),
                        help="answer as that server does (default: Vertex); a request's "
                             "X-Emulator-Dialect header overrides it")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        ttft=args.ttft,
        itl=args.itl,
        completion_tokens=args.tokens,
        seed=args.seed,
        require_auth=not args.no_auth,
        faults=tuple(Fault.parse(spec) for spec in args.fault),
        fault_rate=args.fault_rate,
        max_concurrency=args.max_concurrency,
        max_rpm=args.max_rpm,
        token_lifetime=args.token_lifetime,
        require_issued_tokens=args.require_issued_tokens,
        dialect=args.dialect,
    )

    def ready(emulator: Emulator) -> None:
        print(f"emulator listening on {emulator.url} (OpenAI base URL {emulator.base_url}, "
              f"token endpoint {emulator.token_url})")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, config, on_ready=ready))


if __name__ == "__main__":
    main()
