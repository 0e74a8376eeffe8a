"""The job's id index: input custom_ids (for duplicates) and ids already recorded (to skip).

A job may hold 10^7 ids; a Python set of them would cost about a gigabyte. They live instead
in a private temporary SQLite database (stdlib `sqlite3`; the file is unlinked as soon as it
is created, so nothing is left behind even after `kill -9`), with a bounded page cache: memory
stays flat whatever the input size, and disk holds the rest.

Tables: `input_ids(custom_id, line)` gets every input line with a usable custom_id (appended in
bulk, indexed once complete); `recorded(custom_id, kind)` the ids found in the output (kind 0)
and errors (kind 1) files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["ERRORS", "OUTPUT", "IdIndex", "IndexCounts"]

OUTPUT = 0
ERRORS = 1

_BULK = 10_000
# Page cache of the temporary database, in KiB (negative means KiB to SQLite).
_CACHE_KIB = 2 * 1024


@dataclass(frozen=True)
class IndexCounts:
    input_ids: int
    """Distinct custom_ids in the input."""
    succeeded: int
    """Input ids present in the output file."""
    failed: int
    """Input ids present in the errors file and not in the output file."""
    foreign: int
    """Ids in the output or errors file that the input does not have."""


class IdIndex:
    """See the module docstring. Not thread-safe; one job uses it from one thread at a time."""

    def __init__(self) -> None:
        # "" is SQLite's private temporary on-disk database: deleted when closed or at exit.
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.executescript(
            f"""
            PRAGMA cache_size = -{_CACHE_KIB};
            PRAGMA temp_store = FILE;
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE input_ids (custom_id TEXT NOT NULL, line INTEGER NOT NULL);
            CREATE TABLE recorded (custom_id TEXT PRIMARY KEY, kind INTEGER NOT NULL)
                WITHOUT ROWID;
            """
        )
        self._pending: list[tuple[str, int]] = []
        self._input_done = False
        self._any_recorded = False

    # -- input ---------------------------------------------------------------------------
    def add_input(self, custom_id: str, line: int) -> None:
        if self._input_done:
            raise RuntimeError("input already finished")
        self._pending.append((custom_id, line))
        if len(self._pending) >= _BULK:
            self._flush_input()

    def _flush_input(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO input_ids VALUES (?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending.clear()

    def finish_input(self) -> None:
        """All input ids are in: index them (one sort, cheaper than keeping an index live)."""
        self._flush_input()
        self._db.execute("CREATE INDEX input_by_id ON input_ids (custom_id, line)")
        self._input_done = True

    def duplicates(self) -> Iterator[tuple[int, str, int]]:
        """(line, custom_id, first line) for every repeat of an id, in line order."""
        return (
            (line, custom_id, first)
            for custom_id, line, first in self._db.execute(
                """
                WITH firsts AS (
                    SELECT custom_id, MIN(line) AS first FROM input_ids
                    GROUP BY custom_id HAVING COUNT(*) > 1
                )
                SELECT a.custom_id, a.line, f.first FROM input_ids a JOIN firsts f
                    ON a.custom_id = f.custom_id
                WHERE a.line > f.first ORDER BY a.line
                """
            )
        )

    def in_input(self, custom_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM input_ids WHERE custom_id = ? LIMIT 1", (custom_id,)
        ).fetchone()
        return row is not None

    # -- recorded ------------------------------------------------------------------------
    def add_recorded(self, ids: Iterable[str], kind: int) -> None:
        """Ids found in the output (OUTPUT) or errors (ERRORS) file; the output wins."""
        batch: list[tuple[str, int]] = []
        self._db.execute("BEGIN")
        try:
            for custom_id in ids:
                batch.append((custom_id, kind))
                if len(batch) >= _BULK:
                    self._insert_recorded(batch)
                    batch.clear()
            self._insert_recorded(batch)
        finally:
            self._db.execute("COMMIT")

    def _insert_recorded(self, batch: list[tuple[str, int]]) -> None:
        if batch:
            self._any_recorded = True
            # An id in both files (which this tool never writes) counts as succeeded.
            self._db.executemany(
                "INSERT INTO recorded VALUES (?, ?) "
                "ON CONFLICT (custom_id) DO UPDATE SET kind = MIN(kind, excluded.kind)",
                batch,
            )

    def forget_failed(self) -> int:
        """Stop skipping the input's failed ids (for --retry-failed); return how many."""
        cursor = self._db.execute(
            "DELETE FROM recorded WHERE kind = ? AND custom_id IN "
            "(SELECT custom_id FROM input_ids)",
            (ERRORS,),
        )
        return cursor.rowcount

    def is_recorded(self, custom_id: str) -> bool:
        if not self._any_recorded:
            return False
        row = self._db.execute(
            "SELECT 1 FROM recorded WHERE custom_id = ?", (custom_id,)
        ).fetchone()
        return row is not None

    def counts(self) -> IndexCounts:
        (distinct,) = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT custom_id FROM input_ids)"
        ).fetchone()
        by_kind = dict.fromkeys((OUTPUT, ERRORS), 0)
        for kind, count in self._db.execute(
            "SELECT r.kind, COUNT(*) FROM recorded r WHERE EXISTS "
            "(SELECT 1 FROM input_ids i WHERE i.custom_id = r.custom_id) GROUP BY r.kind"
        ):
            by_kind[kind] = count
        (total_recorded,) = self._db.execute("SELECT COUNT(*) FROM recorded").fetchone()
        return IndexCounts(
            input_ids=distinct,
            succeeded=by_kind[OUTPUT],
            failed=by_kind[ERRORS],
            foreign=total_recorded - by_kind[OUTPUT] - by_kind[ERRORS],
        )

    def close(self) -> None:
        self._db.close()
