"""`aiovertexchat batch INPUT.jsonl -o OUTPUT.jsonl ...`: the command line over `BatchJob`.

Exit codes: 0 every item succeeded; 3 finished, but some items are in the errors file; 2 bad
input (line-numbered report on stderr, nothing sent) or bad flags; 1 another error (the
message says what to do); 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM) with the
command that resumes printed on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from .._protocol.pricing import PriceTable
from .._reliability.ratelimit import RateLimit
from .._reliability.redis_ratelimit import RedisRateLimit, redacted_url
from .._reliability.retry import RetryPolicy
from .._reliability.timeouts import Timeouts
from ..cli import report
from ..cli.options import (
    add_credential_options,
    add_emulator_knobs,
    add_network_options,
    add_target_options,
    add_telemetry_options,
    duration,
    format_duration,
    open_client,
    resolve,
)
from ..cli.otlp import telemetry_job
from .engine import DEFAULT_CONCURRENCY
from .job import BadInputError, BatchJob, JobConfig, JobConfigError, JobOutcome, JobStoppedError
from .journal import JournalCorruptError, JournalLockedError
from .progress import make_reporter
from .signals import exit_code_for, stop_on_signals

__all__ = ["command", "register", "resume_command"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_SOME_FAILED = 3

# Flags left out of the resume command: resuming must not retry what failed in this run.
_NOT_RESUMED = frozenset({"retry_failed"})
# Stands for an --api-key value in the printed resume command.
_KEY_PLACEHOLDER = "KEY"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _jsonl_file(text: str) -> Path:
    """A path that is not a directory (whether it must exist is the job's to say)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a .jsonl file")
    return path


def register(subparsers: Any) -> None:
    """Add the `batch` subcommand to the main parser's subparsers."""
    p = subparsers.add_parser(
        "batch",
        help="run an OpenAI Batch-format JSONL file: resumable, exactly once, with progress",
        description="Send every line of INPUT (OpenAI Batch format: custom_id, method POST, "
        "url /v1/chat/completions, body) and append each answer to OUTPUT in the OpenAI batch "
        "output format; failures go to the errors file. Rerunning the same command resumes. "
        "The whole input is checked before anything is sent.",
    )
    p.add_argument("input", type=_jsonl_file, metavar="INPUT.jsonl")
    p.add_argument("-o", "--output", type=_jsonl_file, required=True, metavar="OUTPUT.jsonl")
    p.add_argument("--errors", type=_jsonl_file, metavar="ERRORS.jsonl",
                   help="failed items (default: OUTPUT with .errors.jsonl)")
    p.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY,
                   help="requests in flight at most (default %(default)s)")
    p.add_argument("--rpm", type=_positive_int,
                   help="requests per minute at most, retries included (spread evenly)")
    p.add_argument("--tpm", type=_positive_int,
                   help="tokens per minute at most (estimated before sending, corrected from "
                   "usage)")
    p.add_argument("--redis", metavar="URL",
                   help="share --rpm/--tpm with every process using the same Redis and "
                   "--redis-key (RedisRateLimit; needs the redis extra)")
    p.add_argument("--redis-key", default="aiovertexchat", metavar="KEY",
                   help="name of the shared limit in Redis (default %(default)s)")
    p.add_argument("--max-attempts", type=_positive_int, default=8,
                   help="attempts per item before it goes to the errors file; 429/5xx/"
                   "connection failures are retried with backoff (default %(default)s; "
                   "1 = no retries)")
    p.add_argument("--model", help="model for lines whose body names none")
    p.add_argument("--timeout", type=duration, metavar="DURATION",
                   help="how long each attempt may wait for its answer, e.g. 90s or 10m; "
                   "0s for no limit (default 10m)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the items in the errors file (they leave it first)")
    p.add_argument("--grace", type=duration, metavar="DURATION", default=30.0,
                   help="on SIGINT/SIGTERM, how long in-flight requests get to finish "
                   "(default %(default)gs)")
    p.add_argument("--prices", type=Path, help="price table JSON (default: the bundled one)")
    p.add_argument("--summary-json", type=Path, metavar="PATH",
                   help="write the final summary as JSON")
    show = p.add_argument_group("progress")
    show.add_argument("-q", "--quiet", action="store_true",
                      help="no progress and no summary text (errors still go to stderr)")
    show.add_argument("--progress", choices=("auto", "bar", "plain"), default="auto",
                      help="bar on a terminal, plain lines otherwise (default %(default)s)")
    show.add_argument("--progress-interval", type=duration, metavar="DURATION", default=10.0,
                      help="time between plain progress lines (default %(default)gs)")
    # Shared with chat and bench (added last: the resume command lists flags in this order).
    add_target_options(p)
    add_credential_options(p)
    add_network_options(p)
    add_emulator_knobs(p)
    add_telemetry_options(p)
    p.set_defaults(batch_parser=p, handler=command)


def resume_command(args: argparse.Namespace) -> str:
    """The command that resumes this job: the same flags, minus --retry-failed."""
    parser: argparse.ArgumentParser = args.batch_parser
    words = ["aiovertexchat", "batch", str(args.input)]
    for action in parser._actions:  # argparse offers no public walk over its actions
        if not action.option_strings or action.dest in _NOT_RESUMED | {"help"}:
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if action.dest == "redis":
            # A password is not printed; give it again to resume.
            words += [flag, redacted_url(value)]
        elif isinstance(action, argparse._StoreTrueAction):
            words.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                words += [flag, str(item)]
        elif action.dest == "api_key":
            words += [flag, _KEY_PLACEHOLDER]  # the token itself is never printed
        elif action.type is duration:
            words += [flag, format_duration(value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    # Batch settings: the concurrency is the ceiling of the adaptive limit (429s lower it),
    # retries are patient (nobody is waiting on one item), and the item is never half-shown,
    # so a broken answer may be asked again.
    options: dict[str, Any] = {
        "max_concurrency": args.concurrency,
        "retry": RetryPolicy(
            max_attempts=args.max_attempts, base=1.0, cap=60.0, restart_on_interrupt=True
        ),
    }
    if args.redis is not None:
        if args.rpm is None and args.tpm is None:
            raise JobConfigError("--redis shares a limit: give --rpm and/or --tpm too")
        options["rate_limit"] = RedisRateLimit(
            args.redis, args.redis_key, rpm=args.rpm, tpm=args.tpm
        )
    elif args.rpm is not None or args.tpm is not None:
        options["rate_limit"] = RateLimit(rpm=args.rpm, tpm=args.tpm)
    return options


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all (temp file + rename)."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


def _report(args: argparse.Namespace, outcome: JobOutcome, job: BatchJob) -> None:
    summary = outcome.summary
    data = summary.to_dict(elapsed=outcome.elapsed, state=outcome.state)
    data["files"] = {
        "input": str(args.input),
        "output": str(args.output),
        "errors": str(job.config.errors_path),
    }
    if outcome.state == "interrupted":
        data["resume_command"] = resume_command(args)
    if args.summary_json is not None:
        _write_json(args.summary_json, data)
    if not args.quiet:
        print(summary.render(elapsed=outcome.elapsed, state=outcome.state), flush=True)


async def command(args: argparse.Namespace) -> int:
    try:
        prices = PriceTable.from_file(args.prices) if args.prices else PriceTable.default()
    except (OSError, ValueError, KeyError) as exc:
        report.error(f"cannot read the price table {args.prices}: {exc}")
        return EXIT_ERROR
    reporter = make_reporter(
        "quiet" if args.quiet else args.progress, interval=args.progress_interval
    )
    # Every item ends: each attempt within --timeout, all attempts and backoff within an hour.
    first_byte = 600.0 if args.timeout is None else args.timeout or None
    options: dict[str, Any] = {"timeout": Timeouts(first_byte=first_byte, total=3600.0)}
    config = JobConfig(
        input=args.input,
        output=args.output,
        errors=args.errors,
        concurrency=args.concurrency,
        model=args.model,
        retry_failed=args.retry_failed,
        grace=args.grace,
        options=options,
    )
    setup = resolve(args)
    job: BatchJob | None = None
    try:
        async with open_client(setup, **_client_options(args)) as client:
            job = BatchJob(client, config, reporter=reporter, prices=prices)
            with stop_on_signals(job.request_stop), telemetry_job(args, "batch"):
                outcome = await job.run()
    except BadInputError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except JobStoppedError as exc:
        print(f"{exc}", file=sys.stderr)
        return exit_code_for(job.stop_signal if job is not None else None)
    except (JobConfigError, JournalCorruptError, JournalLockedError, FileNotFoundError) as exc:
        report.error(exc)
        return EXIT_ERROR
    except (OSError, RuntimeError) as exc:
        report.error(exc)
        print(f"what was recorded is kept; to resume: {resume_command(args)}", file=sys.stderr)
        return EXIT_ERROR
    _report(args, outcome, job)
    if outcome.state == "interrupted":
        print(
            f"stopped with {outcome.remaining:,} items not done; everything finished is "
            f"recorded. To resume, run:\n  {resume_command(args)}",
            file=sys.stderr,
            flush=True,
        )
        return exit_code_for(outcome.signal)
    summary = outcome.summary
    return EXIT_SOME_FAILED if summary.failed + summary.skipped_failed else EXIT_OK
