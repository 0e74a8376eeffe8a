"""No secret leaves in text (README "Security"): every failure kind, every credential type.

Every failure kind is forced (401, 403, 429, 500, HTML and text error pages, a redirect, bad
JSON, a bad shape, broken HTTP, a reset, a timeout, errors inside a stream, a token refresh that
fails), streamed and not, with DEBUG logging on every logger, against
- a hostile server that echoes the credentials it receives into everything it answers, and a
  token endpoint that echoes the signed JWT assertion;
- the emulator's injected faults (`X-Emulator-Fault`);
- a proxy that echoes the proxy credentials into its 407 page.
Then every log record (formatted, with its traceback and its extra attributes), the str, repr
and args of every exception and of every link of its `__cause__` / `__context__` chain, the
formatted traceback, and every file batch and bench write are searched for every secret: the
bearer tokens of each AuthProvider (current and previous), the JWT assertions, the URL and
proxy passwords, with and without their `Bearer ` / Basic forms. Zero hits.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aiovertexchat import (
    APIError,
    AsyncVertexChat,
    GoogleAuth,
    RedactedError,
    RetryPolicy,
    Timeouts,
    TokenRefreshError,
)
from aiovertexchat.batch import BatchJob, JobConfig
from aiovertexchat.bench import BenchConfig, Load, PromptEntry, Target, Workload, run_bench
from aiovertexchat.bench.output import write_csv, write_json, write_jsonl
from aiovertexchat.emulator import Emulator, EmulatorConfig

from .conftest import service_account_credentials
from .netkit import ForwardProxy, HostileServer

MODEL = "m"
STATIC = "static-SECRET-0123456789abcdef"
CALLABLE = ("callable-SECRET-first-0123456789", "callable-SECRET-second-0123456789")
URL_USER, URL_PASSWORD = "url-user", "url-SECRET-password-0123"
PROXY_USER, PROXY_PASSWORD = "proxy-user", "proxy-SECRET-password-0123"

PLAIN_KINDS = ["400", "401", "403", "429", "500", "html", "text", "redirect", "badjson",
               "badshape", "badhttp", "garbage", "reset", "stall", "ok"]
STREAM_KINDS = ["401", "429", "500", "html", "badhttp", "reset", "stall", "instream",
                "malformedchunk", "cut", "ok"]
EMULATOR_FAULTS = ["401", "403", "429", "500", "html-error", "text-error", "list-error",
                   "reset-before-headers", "reset-mid-stream:after=1", "stall:seconds=30",
                   "stall:after=1:seconds=30", "malformed-chunk:after=1",
                   "error-in-stream:after=1:code=500", "truncate:after=1"]
FAST = RetryPolicy(max_attempts=2, base=0.001, cap=0.002)
QUICK = Timeouts(connect=5, first_byte=0.25, idle=0.25, total=10)


@dataclass
class Evidence:
    """Every piece of text that left the library during the test, by where it was found."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def exception(self, where: str, error: BaseException) -> None:
        self.errors.append(error)
        self.add(f"{where}: traceback", "".join(traceback.format_exception(error)))
        logging.getLogger("app").exception("the call failed", exc_info=error)
        for i, link in enumerate(chain(error)):
            name = f"{where}: link {i} {type(link).__name__}"
            self.add(f"{name} str", str(link))
            self.add(f"{name} repr", repr(link))
            self.add(f"{name} args", repr(link.args))
            for attr in ("body", "message", "attempts", "partial", "cause"):
                if hasattr(link, attr):
                    self.add(f"{name} .{attr}", repr(getattr(link, attr)))

    def file(self, path: Path) -> None:
        self.add(f"file {path.name}", path.read_text(encoding="utf-8"))

    def hits(self, secrets: set[str]) -> list[str]:
        return sorted({f"{where} contains {secret[:12]}…"
                       for where, text in self.texts for secret in secrets if secret in text})


def chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and every exception reachable through `__cause__` / `__context__` / `.cause`."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        yield link
        for nxt in (link.__cause__, link.__context__, getattr(link, "cause", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


class Capture(logging.Handler):
    """Keeps every record; `texts()` formats each as a structured-log handler would too."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[tuple[str, str]]:
        for record in self.records:
            yield f"log {record.name}", self._formatter.format(record)
            # Extra attributes (google-auth puts each request's headers and body there): what a
            # JSON log formatter prints.
            yield f"log {record.name} attributes", repr(vars(record))


@pytest.fixture
def debug_everywhere() -> Iterator[Capture]:
    """DEBUG on the root logger and every logger that exists, one handler seeing all."""
    capture = Capture()
    root = logging.getLogger()
    loggers = [root, logging.getLogger("google"), logging.getLogger("aiovertexchat"),
               logging.getLogger("aiohttp"), logging.getLogger("urllib3"),
               logging.getLogger("asyncio")]
    loggers += [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    levels = [(logger, logger.level) for logger in loggers]
    google = logging.getLogger("google")
    google_propagate = google.propagate
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root.addHandler(capture)
    # google-auth keeps its loggers quiet unless "google" itself has a handler.
    google.addHandler(capture)
    google.propagate = False
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        google.removeHandler(capture)
        google.propagate = google_propagate
        for logger, level in levels:
            logger.setLevel(level)


def ask(kind: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"kind:{kind} please"}]


async def run_kinds(
    client: AsyncVertexChat, evidence: Evidence, label: str, *, headers: Any = None,
    emulator: bool = False,
) -> int:
    """Every failure kind, plain and streamed; returns how many calls failed."""
    failed = 0
    plain = EMULATOR_FAULTS if emulator else PLAIN_KINDS
    streamed = EMULATOR_FAULTS if emulator else STREAM_KINDS

    def options(kind: str) -> dict[str, Any]:
        extra = {"X-Emulator-Fault": kind} if emulator else headers
        return {"extra_headers": extra, "timeout": QUICK} if extra else {"timeout": QUICK}

    for kind in plain:
        try:
            await client.chat.completions.create(
                model=MODEL, messages=ask(kind), max_tokens=4, **options(kind)
            )
        except APIError as exc:
            failed += 1
            evidence.exception(f"{label} {kind}", exc)
    for kind in streamed:
        try:
            stream = await client.chat.completions.create(
                model=MODEL, messages=ask(kind), max_tokens=4, stream=True, **options(kind)
            )
            async with stream:
                async for _ in stream:
                    pass
        except APIError as exc:
            failed += 1
            evidence.exception(f"{label} {kind} (stream)", exc)
    return failed


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


async def test_no_secret_leaves_in_any_text(
    hostile: HostileServer, debug_everywhere: Capture, private_key_pem: str, tmp_path: Path
) -> None:
    evidence = Evidence()
    secrets: set[str] = {STATIC, *CALLABLE, URL_PASSWORD, PROXY_PASSWORD}
    secrets.add(base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode())
    secrets.add(base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode())

    # 1. A static token.
    async with AsyncVertexChat(base_url=hostile.base_url, api_key=STATIC, retry=FAST,
                               environ={}) as client:
        assert await run_kinds(client, evidence, "static") >= 20

    # 2. A token callable: the 401s make it hand out a second token (the first is "previous").
    handed: list[str] = []

    def token() -> str:
        handed.append(CALLABLE[min(len(handed), 1)])
        return handed[-1]

    async with AsyncVertexChat(base_url=hostile.base_url, token=token, retry=FAST,
                               environ={}) as client:
        assert await run_kinds(client, evidence, "callable") >= 20
    assert set(handed) == set(CALLABLE)

    # 3. GoogleAuth: real google-auth refreshes against the hostile token endpoint, which
    #    issues tokens, then echoes the assertion in its refusals, then resets.
    for mode in ("ok", "echo", "reset"):
        hostile.token_mode = mode
        auth = GoogleAuth(service_account_credentials(hostile.token_url, private_key_pem))
        async with AsyncVertexChat(base_url=hostile.base_url, auth=auth, retry=FAST,
                                   environ={}) as client:
            failed = await run_kinds(client, evidence, f"google {mode}")
            assert failed >= 20
            if mode != "ok":
                assert all(isinstance(e, TokenRefreshError)
                           for e in evidence.errors[-failed:])
        evidence.add(f"auth_stats {mode}", repr(auth.stats))
    assert hostile.issued and len(hostile.assertions) >= 3
    secrets.update(hostile.issued, hostile.assertions)

    # 4. Credentials in the base URL (sent as Basic auth).
    url_with_password = hostile.base_url.replace("://", f"://{URL_USER}:{URL_PASSWORD}@")
    async with AsyncVertexChat(base_url=url_with_password, retry=FAST, environ={}) as client:
        assert await run_kinds(client, evidence, "url password") >= 20
        evidence.add("client repr", repr(client))

    # 5. A proxy with credentials (http target: absolute form), then one refusing them.
    async with ForwardProxy(credentials=(PROXY_USER, PROXY_PASSWORD)) as proxy:
        good = proxy.url_with(PROXY_USER, PROXY_PASSWORD)
        async with AsyncVertexChat(base_url=hostile.base_url, api_key=STATIC, retry=FAST,
                                   proxy=good, environ={}) as client:
            assert await run_kinds(client, evidence, "proxy") >= 20
        assert proxy.forwarded and proxy.refused == 0
    async with ForwardProxy(credentials=(PROXY_USER, "another-password-0123")) as refusing:
        bad = refusing.url_with(PROXY_USER, PROXY_PASSWORD)
        async with AsyncVertexChat(base_url=hostile.base_url, api_key=STATIC, retry=FAST,
                                   proxy=bad, environ={}) as client:
            assert await run_kinds(client, evidence, "proxy 407") >= 20
        assert refusing.refused >= 20

    # 6. The emulator's own faults.
    async with Emulator(EmulatorConfig(ttft=0, itl=0)) as emu, AsyncVertexChat(
        base_url=emu.base_url, api_key=STATIC, retry=FAST, environ={}
    ) as client:
        assert await run_kinds(client, evidence, "emulator", emulator=True) >= 20

    # 7. Files: a batch job's output and errors, a bench run's JSON, CSV and JSONL.
    lines = [json.dumps({"custom_id": kind, "method": "POST", "url": "/v1/chat/completions",
                         "body": {"messages": ask(kind), "max_tokens": 4}})
             for kind in PLAIN_KINDS]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    async with AsyncVertexChat(base_url=hostile.base_url, api_key=STATIC, retry=FAST,
                               timeout=QUICK, environ={}) as client:
        await BatchJob(client, JobConfig(source, tmp_path / "out.jsonl", model=MODEL)).run()
    # (Counted in the file: the job's summary can miss a group flushed as the job ends.)
    assert len((tmp_path / "out.errors.jsonl").read_text().splitlines()) >= 10
    for name in ("out.jsonl", "out.errors.jsonl"):
        evidence.file(tmp_path / name)

    prompts = [PromptEntry(tuple(ask(kind))) for kind in STREAM_KINDS]
    result = await run_bench(BenchConfig(
        targets=[Target("hostile", hostile.base_url, MODEL, api_key=STATIC)],
        loads=[Load.concurrency(1)], requests=len(prompts), timeout=2.0, prices=None,
        workload=Workload(prompts=prompts),
    ))
    write_json(result, tmp_path / "bench.json")
    rows = write_csv(result, tmp_path / "bench.csv")
    write_jsonl(result, tmp_path / "bench.jsonl")
    assert rows == len(prompts)
    for name in ("bench.json", "bench.csv", "bench.jsonl"):
        evidence.file(tmp_path / name)
    assert "error_message" in (tmp_path / "bench.csv").read_text()

    # 8. The logs, at the end (google-auth's and ours, with tracebacks and extra attributes).
    evidence.texts.extend(debug_everywhere.texts())

    # The test can fail: the servers did receive the secrets, echoed them, and the texts
    # searched are many and varied.
    assert sum(hostile.kinds.values()) > 200
    assert len(evidence.errors) > 150 and len(debug_everywhere.records) > 100
    assert any(isinstance(link, RedactedError) for e in evidence.errors for link in chain(e))
    assert any("[redacted]" in text for _, text in evidence.texts)
    assert all(len(secret) >= 10 for secret in secrets)

    assert evidence.hits(secrets) == []
