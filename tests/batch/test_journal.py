"""Journal files: torn-line repair, reading ids, atomic rewrite, durable groups, locking."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovertexchat.batch.journal import (
    FlushPolicy,
    Journal,
    JournalCorruptError,
    JournalLockedError,
    read_ids,
    repair,
    rewrite_without,
)


def record(custom_id: str) -> bytes:
    return json.dumps({"id": "batch_req_1", "custom_id": custom_id, "response": None,
                       "error": None}).encode() + b"\n"


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=30), max_size=20),
    cut=st.integers(min_value=1, max_value=10_000),
)
def test_repair_cuts_exactly_the_torn_tail(tmp_path_factory: pytest.TempPathFactory,
                                            ids: list[str], cut: int) -> None:
    path = tmp_path_factory.mktemp("j") / "out.jsonl"
    whole = b"".join(record(i) for i in ids)
    torn_record = record("torn")
    torn = torn_record[: cut % len(torn_record)] or b"{"
    path.write_bytes(whole + torn)
    assert repair(path) == len(torn)
    assert path.read_bytes() == whole
    assert list(read_ids(path)) == ids
    assert repair(path) == 0  # idempotent


def test_repair_of_a_long_torn_line_spanning_blocks(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    head = record("a")
    path.write_bytes(head + b"x" * 200_000)
    assert repair(path) == 200_000
    assert path.read_bytes() == head
    only_torn = tmp_path / "only.jsonl"
    only_torn.write_bytes(b'{"custom_id": "a"')
    assert repair(only_torn) == 17 and only_torn.read_bytes() == b""
    assert repair(tmp_path / "missing.jsonl") == 0


def test_read_ids_names_a_corrupt_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(record("a") + b"garbage\n" + record("b"))
    with pytest.raises(JournalCorruptError, match=r"out\.jsonl:2: not a batch record"):
        list(read_ids(path))
    path.write_bytes(record("a") + b'{"no_id": 1}\n')
    with pytest.raises(JournalCorruptError, match=":2:"):
        list(read_ids(path))
    assert list(read_ids(tmp_path / "missing.jsonl")) == []


def test_rewrite_without_drops_only_chosen_ids_atomically(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    path.write_bytes(record("a") + record("b") + record("c"))
    inode = path.stat().st_ino
    assert rewrite_without(path, lambda cid: cid in {"a", "c"}) == 2
    assert list(read_ids(path)) == ["b"]
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert not (tmp_path / "errors.jsonl.rewrite-tmp").exists()
    assert rewrite_without(path, lambda cid: False) == 0
    assert list(read_ids(path)) == ["b"]
    assert rewrite_without(tmp_path / "missing.jsonl", lambda cid: True) == 0


@given(
    max_lines=st.integers(1, 50),
    max_delay=st.floats(0, 10),
    pending=st.integers(0, 100),
    age=st.floats(0, 20),
)
def test_flush_policy(max_lines: int, max_delay: float, pending: int, age: float) -> None:
    policy = FlushPolicy(max_lines, max_delay)
    now = 100.0
    oldest = now - age
    due = policy.due(pending, oldest, now)
    assert due == (pending > 0 and (pending >= max_lines or now - oldest >= max_delay))
    assert policy.due(pending, None, now) is False
    assert policy.deadline(None) is None
    assert policy.deadline(5.0) == 5.0 + max_delay


def test_flush_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        FlushPolicy(0, 1)
    with pytest.raises(ValueError):
        FlushPolicy(1, -1)


async def test_journal_writes_whole_groups_and_returns_durable_items(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    journal: Journal[str] = Journal(path)
    try:
        journal.append(record("a"), "a", now=1.0)
        journal.append(record("b"), "b", now=2.0)
        assert journal.pending == 2 and journal.oldest_at == 1.0
        assert path.read_bytes() == b""  # nothing written before a flush
        assert await journal.flush() == ["a", "b"]
        assert journal.pending == 0 and journal.oldest_at is None
        assert await journal.flush() == []
        assert list(read_ids(path)) == ["a", "b"]
        assert journal.lines_written == 2
        with pytest.raises(ValueError, match="one line"):
            journal.append(b"no newline", "x", now=3.0)
        with pytest.raises(ValueError, match="one line"):
            journal.append(b"two\nlines\n", "x", now=3.0)
    finally:
        journal.close()


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")
def test_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    first: Journal[str] = Journal(path)
    try:
        with pytest.raises(JournalLockedError, match="another process is writing"):
            Journal(path)
    finally:
        first.close()
    second: Journal[str] = Journal(path)  # the lock went with the first writer
    second.close()
