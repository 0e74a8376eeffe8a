"""Option groups every command line shares, and the one place that turns them into a client.

Groups (each command adds the ones that apply to it):
- target: `--base-url URL`, or Vertex settings `--project`, `--location`, `--endpoint`,
  `--api-version` (unset ones come from the environment, as for `AsyncVertexChat`), or
  `--emulator` for an embedded emulator;
- credentials: `--api-key KEY` or `--api-key-env VAR` (the bearer token; without them the
  client's own resolution applies: `OPENAI_API_KEY`, or Google credentials for Vertex URLs);
- embedded emulator: `--emulator-ttft`, `--emulator-itl`, `--emulator-fault`,
  `--emulator-fault-rate`, `--emulator-max-concurrency` (see `aiovertexchat.emulator.cli`);
- telemetry: `--otlp-endpoint URL` (batch and bench; see `aiovertexchat.cli.otlp`).

Every duration flag uses `duration` (a number and a unit: `500ms`, `2s`, `1.5m`, `1h`).
`resolve` reads the groups back into a `Setup`; `open_client` opens the client it describes,
with the embedded emulator started first when there is one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._http.endpoints import resolve_target
from ..client import AsyncVertexChat
from ..emulator.cli import EMBEDDED_KNOBS, add_emulator_options, config_from_options, duration
from ..emulator.config import EmulatorConfig
from ..emulator.durations import UNITS_HELP, format_duration
from ..errors import ConfigurationError
from .otlp import ENDPOINT_VARIABLES, otlp_endpoint
from .report import UsageError, for_cli

__all__ = [
    "UNITS_HELP",
    "Setup",
    "add_credential_options",
    "add_emulator_knobs",
    "add_target_options",
    "add_telemetry_options",
    "api_keys_by_target",
    "duration",
    "format_duration",
    "open_client",
    "resolve",
    "vertex_base_url",
    "vertex_settings",
]

# The Vertex settings flags, by the AsyncVertexChat parameter each one sets.
_VERTEX_FLAGS = {"project": "--project", "location": "--location", "endpoint": "--endpoint",
                 "api_version": "--api-version"}
# Token the embedded emulator gets when no credentials are given (it accepts any).
_EMULATOR_TOKEN = "emulator"


def add_target_options(
    parser: argparse.ArgumentParser, *, emulator_excludes_url: bool = True,
    emulator_help: str = "use an embedded emulator (see the --emulator-* flags)",
) -> None:
    """`--base-url`, `--emulator` and the Vertex settings flags, in a "target" group.

    `emulator_excludes_url=False` (the bench) lets both be given: each is then one target.
    """
    group = parser.add_argument_group(
        "target", "where requests go: --base-url, or Vertex settings (each unset one from "
        "GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION), or --emulator; without any, "
        "OPENAI_BASE_URL or the Vertex environment variables")
    where = group.add_mutually_exclusive_group() if emulator_excludes_url else group
    where.add_argument("--base-url", metavar="URL",
                       help="any OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    where.add_argument("--emulator", action="store_true", help=emulator_help)
    group.add_argument("--project", help="Google Cloud project (else GOOGLE_CLOUD_PROJECT)")
    group.add_argument("--location",
                       help="Google Cloud location, e.g. us-central1 or global "
                       "(else GOOGLE_CLOUD_LOCATION)")
    group.add_argument("--endpoint", metavar="openapi|ID",
                       help="'openapi' for managed Gemini (default) or a deployed endpoint id")
    group.add_argument("--api-version", metavar="v1|v1beta1", help="Vertex API version "
                       "(default v1)")


def add_credential_options(parser: argparse.ArgumentParser, *, per_target: bool = False) -> None:
    """`--api-key` / `--api-key-env`; with `per_target`, `--api-key-env [NAME=]VAR` repeats."""
    group = parser.add_argument_group(
        "credentials", "the bearer token sent with each request; without these the client's "
        "own resolution applies (OPENAI_API_KEY, or Google credentials for Vertex URLs)")
    either = group.add_mutually_exclusive_group()
    either.add_argument("--api-key", metavar="KEY",
                        help="the token itself (visible to other local users in the process "
                        "list: prefer --api-key-env)")
    if per_target:
        either.add_argument("--api-key-env", action="append", default=[], metavar="[NAME=]VAR",
                            help="read the token from environment variable VAR (for target "
                            "NAME, or for all); repeatable")
    else:
        either.add_argument("--api-key-env", metavar="VAR",
                            help="read the token from environment variable VAR")


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """`--proxy`, `--ca-bundle`, `--insecure`: how requests (and token refreshes) reach the
    server. Without them the client reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY and trusts the
    system's CA store."""
    group = parser.add_argument_group("network")
    group.add_argument("--proxy", metavar="URL",
                       help="proxy for every request, token refreshes included "
                       "(default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY)")
    tls = group.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", metavar="PATH",
                     help="trust the CA certificates in this PEM file (or hashed "
                     "directory) instead of the system's")
    tls.add_argument("--insecure", action="store_true",
                     help="do not verify TLS certificates (warns; never in production)")


def network_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `AsyncVertexChat` arguments the network flags ask for (none when not given)."""
    options: dict[str, Any] = {}
    if getattr(args, "proxy", None) is not None:
        options["proxy"] = args.proxy
    if getattr(args, "insecure", False):
        options["ssl"] = False
    elif getattr(args, "ca_bundle", None) is not None:
        options["ssl"] = args.ca_bundle
    return options


def add_emulator_knobs(
    parser: argparse.ArgumentParser, *, ttft: float = 0.0, itl: float = 0.0,
    title: str = "embedded emulator (with --emulator)",
) -> None:
    """The `--emulator-*` settings of an embedded emulator, in their own group."""
    group = parser.add_argument_group(title, f"durations take a unit ({UNITS_HELP})")
    add_emulator_options(group, knobs=EMBEDDED_KNOBS, defaults={"ttft": ttft, "itl": itl})


def add_telemetry_options(parser: argparse.ArgumentParser) -> None:
    """`--otlp-endpoint URL`, in a "telemetry" group (batch and bench)."""
    group = parser.add_argument_group(
        "telemetry", "traces and metrics over OTLP: every call under one job span (needs "
        "opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http); the standard "
        f"{ENDPOINT_VARIABLES[0]} and related variables work too")
    group.add_argument("--otlp-endpoint", type=otlp_endpoint, metavar="URL",
                       help="OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318 "
                       "(/v1/traces and /v1/metrics are added)")


def _env_token(var: str) -> str:
    value = os.environ.get(var.strip())
    if not value:
        raise UsageError(f"--api-key-env: environment variable {var.strip()} is not set or empty")
    return value


def api_keys_by_target(args: argparse.Namespace, names: Sequence[str]) -> dict[str, str]:
    """Target name -> token, from `--api-key` or the repeatable `--api-key-env [NAME=]VAR`.

    A named spec wins over an unnamed one for its target; tokens are never printed.
    """
    keys: dict[str, str] = {}
    if getattr(args, "api_key", None):
        keys = dict.fromkeys(names, args.api_key)
    specs: list[str] = getattr(args, "api_key_env", None) or []
    for named_pass in (False, True):
        for spec in specs:
            name, eq, var = spec.rpartition("=")
            if bool(eq) != named_pass:
                continue
            value = _env_token(var)
            if not eq:
                keys.update(dict.fromkeys(names, value))
            elif name.strip() in names:
                keys[name.strip()] = value
            else:
                raise UsageError(
                    f"--api-key-env names target {name.strip()!r}, which is not given"
                )
    return keys


def vertex_settings(args: argparse.Namespace) -> dict[str, str]:
    """The Vertex settings flags that were given, as `AsyncVertexChat` keyword arguments."""
    return {
        param: str(getattr(args, param))
        for param in _VERTEX_FLAGS
        if getattr(args, param, None) is not None
    }


def vertex_base_url(args: argparse.Namespace) -> str | None:
    """The Vertex base URL the Vertex settings flags describe (unset ones from the
    environment), or None when none of them was given. Raises UsageError in flag names."""
    settings = vertex_settings(args)
    if not settings:
        return None
    try:
        # "" rather than None: these flags name Vertex, so OPENAI_BASE_URL must not win.
        target = resolve_target(
            project=settings.get("project", ""),
            location=settings.get("location", ""),
            endpoint=settings.get("endpoint", "openapi"),
            api_version=settings.get("api_version", "v1"),
            base_url=None,
        )
    except ConfigurationError as exc:
        raise UsageError(for_cli(str(exc))) from None
    return target.base_url


@dataclass
class Setup:
    """What the target and credentials flags describe: client arguments, maybe an emulator."""

    client_options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `AsyncVertexChat` (target and credentials); secrets stay here."""
    emulator: EmulatorConfig | None = None
    """Settings of the embedded emulator to start first; the client then points at it."""

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        shown = {k: ("***" if k == "api_key" else v) for k, v in self.client_options.items()}
        return f"Setup(client_options={shown!r}, emulator={self.emulator!r})"


def resolve(args: argparse.Namespace) -> Setup:
    """The `Setup` of a single-target command (`chat`, `demo`, `batch`).

    Raises UsageError naming the flags when they cannot work together.
    """
    vertex = vertex_settings(args)
    key: str | None = getattr(args, "api_key", None)
    env_var: str | None = getattr(args, "api_key_env", None)
    if env_var:
        key = _env_token(env_var)
    if getattr(args, "emulator", False):
        if vertex:
            flags = ", ".join(_VERTEX_FLAGS[p] for p in vertex)
            raise UsageError(f"--emulator cannot be combined with {flags}")
        # The embedded emulator is on this machine: never reached through a proxy.
        return Setup({"api_key": key or _EMULATOR_TOKEN, "trust_env": False},
                     config_from_options(args))
    if vertex and getattr(args, "base_url", None):
        flags = ", ".join(_VERTEX_FLAGS[p] for p in vertex)
        raise UsageError(f"--base-url cannot be combined with {flags}")
    options: dict[str, Any] = {**vertex, **network_options(args)}
    if getattr(args, "base_url", None):
        options["base_url"] = args.base_url
    if key is not None:
        options["api_key"] = key
    return Setup(options)


@contextlib.asynccontextmanager
async def open_client(setup: Setup, **options: Any) -> AsyncIterator[AsyncVertexChat]:
    """An open client for `setup` (extra `options` go to `AsyncVertexChat`), closed on exit.

    With an embedded emulator, it runs in this process, on this event loop.
    """
    if setup.emulator is None:
        async with AsyncVertexChat(**setup.client_options, **options) as client:
            yield client
        return
    from ..emulator import Emulator

    async with Emulator(setup.emulator) as emulator, AsyncVertexChat(
        base_url=emulator.base_url, **setup.client_options, **options
    ) as client:
        yield client

