"""Cost of the auth header on the request path: `GoogleAuth.headers()` against a static token.

Run: .venv/bin/python benchmarks/bench_auth.py [--calls N] [--repeat R]

GoogleAuth gets a real token first (a service account with a key generated here, refreshed
against the emulator's /token); then both sources answer N `await headers()` calls from their
cache. Prints nanoseconds per call (best of R) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from aiovertexchat import GoogleAuth, StaticToken
from aiovertexchat.emulator import Emulator


class _Source(Protocol):
    async def headers(self) -> Mapping[str, str]: ...


async def _per_call_ns(source: _Source, calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(calls):
            await source.headers()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


async def main(calls: int, repeat: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    async with Emulator() as emu:
        credentials = service_account.Credentials.from_service_account_info({
            "type": "service_account", "client_email": "bench@p.iam.gserviceaccount.com",
            "private_key": pem, "private_key_id": "k", "token_uri": emu.token_url,
        })
        google = GoogleAuth(credentials)
        try:
            await google.headers()  # the one real refresh; everything after is cached
            static = StaticToken("static-token")
            static_ns = await _per_call_ns(static, calls, repeat)
            google_ns = await _per_call_ns(google, calls, repeat)
        finally:
            await google.aclose()
    print(f"StaticToken.headers(): {static_ns:7.0f} ns/call")
    print(f"GoogleAuth.headers():  {google_ns:7.0f} ns/call  ({google_ns / static_ns:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.repeat))
