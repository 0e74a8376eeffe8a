"""Command line: `aiovertexchat chat | demo | emulator | bench | batch`.

Modules: `commands` (the parser and exit codes), `options` (option groups the commands share and
the client they describe), `report` (errors in flag names, said once), `chat` (chat, demo).
`bench`, `batch` and the emulator keep their own command modules (`bench/cli.py`,
`batch/cli.py`, `emulator/cli.py`) built on these groups.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (`argv` defaults to `sys.argv[1:]`); returns the exit code."""
    # Imported here so that `aiovertexchat.cli.options` can be imported by the bench and
    # batch command modules without importing them back through `main`.
    from .commands import main as run

    return run(argv)
