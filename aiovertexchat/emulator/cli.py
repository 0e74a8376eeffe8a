"""The emulator's command line, and its settings as flags for every other command line.

`aiovertexchat emulator ...` and `python -m aiovertexchat.emulator ...` are one command: both
build their parser with `add_server_arguments` and run `run`. The commands that embed an
emulator (`chat`, `demo`, `bench`, `batch`) add the same settings with an `emulator-` prefix
(`--emulator-ttft 20ms`) through `add_emulator_options`, and turn them into an
`EmulatorConfig` with `config_from_options`; each setting is declared once, in `_KNOBS`.

The standalone command also accepts every setting with the `emulator-` prefix, so a flag can
be copied from a `bench` line to an emulator started by hand.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig
from .dialects import DIALECTS
from .durations import parse_duration
from .faults import Fault
from .server import Emulator, serve

__all__ = [
    "EMBEDDED_KNOBS",
    "add_emulator_options",
    "add_server_arguments",
    "build_parser",
    "config_from_options",
    "duration",
    "main",
    "run",
]

DEFAULT_PORT = 8080


def duration(text: str) -> float:
    """argparse type: a duration with a unit (`500ms`, `2s`), in seconds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_duration(text: str) -> float:
    """argparse type: a duration with a unit, > 0."""
    seconds = duration(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return seconds


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def fault_spec(text: str) -> Fault:
    """argparse type: one fault spec (checked here, so a typo is a flag error)."""
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dialect_name(text: str) -> str:
    """argparse type: the name of a server dialect in `dialects.DIALECTS`."""
    if text not in DIALECTS:
        raise argparse.ArgumentTypeError(
            f"unknown dialect {text!r}; choose from {', '.join(sorted(DIALECTS))}"
        )
    return text


@dataclass(frozen=True)
class _Knob:
    """One emulator setting as a flag: `--NAME` standalone, `--emulator-NAME` embedded."""

    name: str
    config_field: str
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    action: str = "store"
    to_config: Callable[[Any], Any] = field(default=lambda value: value)

    def dest(self, prefix: str) -> str:
        return (prefix + self.name).replace("-", "_")


_KNOBS: tuple[_Knob, ...] = (
    _Knob("ttft", "ttft", "time before the first chunk (default %(default)gs)",
          duration, "DURATION"),
    _Knob("itl", "itl", "time between two chunks (default %(default)gs)", duration, "DURATION"),
    _Knob("tokens", "completion_tokens",
          "answer length when a request sets no max_tokens (default %(default)s)",
          non_negative_int, "N"),
    _Knob("seed", "seed", "seeds the answers and the fault draws (default %(default)s)",
          int, "N"),
    _Knob("no-auth", "require_auth", "accept requests without a bearer token",
          action="store_true", to_config=lambda value: not value),
    _Knob("fault", "faults", "fault drawn at the fault rate, e.g. 503, 429 or "
          "reset-mid-stream:after=3 (repeatable)", fault_spec, "SPEC", action="append",
          to_config=tuple),
    _Knob("fault-rate", "fault_rate", "probability that a request gets one of the faults "
          "(default %(default)s)", probability, "P"),
    _Knob("max-concurrency", "max_concurrency",
          "answer 429 beyond this many requests in flight", non_negative_int, "N"),
    _Knob("max-rpm", "max_rpm", "answer 429 beyond this many requests per minute",
          non_negative_int, "N"),
    _Knob("token-lifetime", "token_lifetime", "lifetime of a token from POST /token "
          "(default %(default)gs)", positive_duration, "DURATION"),
    _Knob("require-issued-tokens", "require_issued_tokens",
          "accept only live tokens issued by this emulator's POST /token",
          action="store_true"),
    _Knob("dialect", "dialect", "answer as that server does: "
          f"{', '.join(sorted(DIALECTS))} (default: Vertex); a request's X-Emulator-Dialect "
          "header overrides it", dialect_name, "NAME"),
)
_BY_NAME = {knob.name: knob for knob in _KNOBS}

EMBEDDED_KNOBS = ("ttft", "itl", "fault", "fault-rate", "max-concurrency", "dialect")
"""The settings `chat`, `demo`, `bench` and `batch` offer as `--emulator-*` flags."""


def _default(knob: _Knob, defaults: Mapping[str, Any]) -> Any:
    if knob.name in defaults:
        return defaults[knob.name]
    if knob.action == "store_true":
        return False
    if knob.action == "append":
        return []
    value = EmulatorConfig.__dataclass_fields__[knob.config_field].default
    return value


def add_emulator_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    prefix: str = "emulator-",
    knobs: Iterable[str] = EMBEDDED_KNOBS,
    defaults: Mapping[str, Any] | None = None,
    hidden_prefix: str | None = None,
) -> None:
    """Add the named settings as `--{prefix}{name}` flags.

    `defaults` overrides `EmulatorConfig`'s default per setting name (e.g. `{"ttft": 0.05}`).
    `hidden_prefix` also accepts each flag under that prefix, without listing it in the help.
    """
    defaults = defaults or {}
    for name in knobs:
        knob = _BY_NAME[name]
        options: dict[str, Any] = {"help": knob.help, "dest": knob.dest(prefix),
                                   "action": knob.action}
        if knob.type is not None:
            options["type"] = knob.type
        if knob.metavar is not None:
            options["metavar"] = knob.metavar
        parser.add_argument(f"--{prefix}{knob.name}", default=_default(knob, defaults),
                            **options)
        if hidden_prefix is not None:
            # Same destination; SUPPRESS keeps this alias from overwriting the real default.
            hidden = {**options, "help": argparse.SUPPRESS}
            parser.add_argument(f"--{hidden_prefix}{knob.name}", default=argparse.SUPPRESS,
                                **hidden)


def config_from_options(
    args: argparse.Namespace, *, prefix: str = "emulator-", **overrides: Any
) -> EmulatorConfig:
    """The `EmulatorConfig` the flags describe; settings without a flag keep their defaults.

    `overrides` are `EmulatorConfig` fields set regardless of the flags (e.g. `seed=`).
    Raises ValueError (from `EmulatorConfig`) when the combination cannot work.
    """
    values: dict[str, Any] = {}
    for knob in _KNOBS:
        dest = knob.dest(prefix)
        if hasattr(args, dest):
            values[knob.config_field] = knob.to_config(getattr(args, dest))
    values.update(overrides)
    return EmulatorConfig(**values)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The standalone emulator's flags: where it listens, and every setting."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=non_negative_int, default=DEFAULT_PORT,
                        help="port to listen on; 0 picks a free one (default %(default)s)")
    add_emulator_options(parser, prefix="", knobs=_BY_NAME, hidden_prefix="emulator-")


def build_parser(prog: str = "python -m aiovertexchat.emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_server_arguments(parser)
    return parser


DESCRIPTION = (
    "Run the Vertex emulator in the foreground until interrupted. The first line printed "
    "names its OpenAI base URL; durations take a unit (500ms, 2s, 1.5m, 1h)."
)


def _ready(emulator: Emulator) -> None:
    # The first line is what scripts read (bench and the tests search it for the base URL).
    print(f"emulator listening; base URL: {emulator.base_url}", flush=True)
    print(f"Vertex-style URL: {emulator.url}/v1/projects/PROJECT/locations/us-central1/"
          f"endpoints/openapi; token endpoint: {emulator.token_url}", flush=True)


async def run(args: argparse.Namespace) -> int:
    """Serve with the settings the flags describe until cancelled (Ctrl-C)."""
    await serve(args.host, args.port, config_from_options(args, prefix=""), on_ready=_ready)
    return 0  # pragma: no cover - serve() returns only by cancellation


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aiovertexchat.emulator`: 130 after Ctrl-C, as `aiovertexchat emulator`."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
