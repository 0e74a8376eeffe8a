"""Batch fan-out: many chat completions from an (async) iterable or an OpenAI Batch JSONL file.

Modules: `parse` (input lines, sans-IO), `result` (outcome and output line, sans-IO),
`scheduler` (bounded lazy fan-out), `engine` (one item through the client; `BatchRun`),
`journal` (durable append-only output), `index` (ids on disk), `histogram` / `summary` /
`progress` (reporting), `job` (the resumable file job), `signals`, `cli`.
"""

from .engine import DEFAULT_CONCURRENCY, BatchRun, execute_request
from .job import (
    BadInputError,
    BatchJob,
    JobConfig,
    JobConfigError,
    JobOutcome,
    JobStoppedError,
    default_errors_path,
)
from .journal import FlushPolicy, JournalCorruptError, JournalLockedError
from .parse import BatchRequest, InputProblem, InvalidRequestError, coerce_request, parse_line
from .result import BatchResult
from .summary import BatchSummary

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BadInputError",
    "BatchJob",
    "BatchRequest",
    "BatchResult",
    "BatchRun",
    "BatchSummary",
    "FlushPolicy",
    "InputProblem",
    "InvalidRequestError",
    "JobConfig",
    "JobConfigError",
    "JobOutcome",
    "JobStoppedError",
    "JournalCorruptError",
    "JournalLockedError",
    "coerce_request",
    "default_errors_path",
    "execute_request",
    "parse_line",
]
