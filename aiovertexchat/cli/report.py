"""How the command lines speak: errors in flag names, each said once, library logs on stderr.

The library's messages name Python parameters (`pass project=...`), which a command-line user
cannot pass; `for_cli` rewrites them into the flags that set the same thing. The library also
logs some failures (e.g. unusable Google credentials) before the call that meets them raises;
`error` leaves out a message the log already showed, so the user reads it once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

__all__ = ["UsageError", "error", "for_cli", "library_log_to_stderr"]

# (words in a library message, the same advice for a command-line user). Applied in order,
# each once; the texts come from _http/endpoints.py, _auth/google_blocking.py and client.py.
_FLAG_WORDS: tuple[tuple[str, str], ...] = (
    ("pass project=...", "give --project"),
    ("pass location=...", "give --location"),
    ("project= '", "--project '"),
    ("location= '", "--location '"),
    ("dedicated_domain= '", "the dedicated domain '"),
    ("pass base_url=... / set OPENAI_BASE_URL", "give --base-url / set OPENAI_BASE_URL"),
    ("base_url must be", "--base-url must be"),
    ("api_version must be", "--api-version must be"),
    ("endpoint must be 'openapi'", "--endpoint must be 'openapi'"),
    ("pass endpoint='ID'", "give --endpoint ID"),
    ("pass api_key=/token=/auth= to AsyncVertexChat",
     "give --api-key-env VAR (or --api-key KEY)"),
)


class UsageError(Exception):
    """Flags that cannot work together, found after parsing; the CLI exits 2 with the message."""


def for_cli(message: str) -> str:
    """`message` with the Python parameters it names replaced by the flags that set them."""
    for library, flags in _FLAG_WORDS:
        message = message.replace(library, flags)
    return message


class _Shown(logging.Handler):
    """Prints the library's warnings and errors as `warning: ...` lines and remembers them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = for_cli(record.getMessage())
        except Exception:  # a broken log call must not end the command
            self.handleError(record)
            return
        self.lines.append(text)
        print(f"{record.levelname.lower()}: {text}", file=sys.stderr, flush=True)


_handler: _Shown | None = None


@contextlib.contextmanager
def library_log_to_stderr() -> Iterator[None]:
    """While the command runs, the `aiovertexchat` logger's warnings go to stderr, one line each.

    Without it Python's last-resort handler would print them bare, and `error` could not
    tell that a message was already shown.
    """
    global _handler
    logger = logging.getLogger("aiovertexchat")
    handler = _Shown()
    previous, _handler = _handler, handler
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        _handler = previous


def error(problem: BaseException | str) -> None:
    """Print `error: ...` on stderr in flag names, unless a log line already said it."""
    text = for_cli(str(problem))
    if _handler is not None and any(text in line for line in _handler.lines):
        return
    print(f"error: {text}", file=sys.stderr, flush=True)
