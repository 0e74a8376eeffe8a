"""Command line: `aiovertexchat chat | demo | emulator | bench | batch`.

Each subcommand registers its parser and a `handler(args) -> exit code` coroutine; the option
groups they share (target, credentials, embedded emulator, durations) come from `options`.
Exit codes common to all: 0 done, 1 the service or the network failed (one `error:` line),
2 bad flags or settings (argparse's usage message, or one `error:` line naming the flags),
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .. import __version__
from ..batch import cli as batch_cli
from ..bench import cli as bench_cli
from ..emulator import cli as emulator_cli
from ..errors import APIError, AuthenticationError, ConfigurationError
from . import report
from .chat import register_chat, register_demo
from .options import UNITS_HELP

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiovertexchat",
        description="Chat with, benchmark, and batch-run Vertex AI's OpenAI-compatible Chat "
        f"Completions API, or run its emulator. Durations take a unit ({UNITS_HELP}).",
    )
    parser.add_argument("--version", action="version", version=f"aiovertexchat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    register_chat(sub)
    register_demo(sub)
    emu = sub.add_parser("emulator", help="run the Vertex emulator until interrupted",
                         description=emulator_cli.DESCRIPTION)
    emulator_cli.add_server_arguments(emu)
    emu.set_defaults(handler=emulator_cli.run)
    bench_cli.register(sub)
    batch_cli.register(sub)
    return parser


def _credentials_given(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "api_key", None) or getattr(args, "api_key_env", None))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with report.library_log_to_stderr():
        try:
            code: int = asyncio.run(args.handler(args))
            return code
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except (report.UsageError, ConfigurationError) as exc:
            report.error(exc)
            return EXIT_USAGE
        except APIError as exc:
            report.error(exc)
            if isinstance(exc, AuthenticationError) and not _credentials_given(args):
                print("hint: no token was given on the command line: pass the server's token "
                      "with --api-key-env VAR (or --api-key KEY); the gcloud advice applies to "
                      "Vertex URLs only", file=sys.stderr)
            return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
