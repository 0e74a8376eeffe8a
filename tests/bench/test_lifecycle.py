"""The bench's processes end together: Ctrl-C and SIGTERM stop it promptly and keep what
finished; SIGKILL of the bench takes its emulator child (and worker processes) with it.

Each test runs `aiovertexchat bench` as a real process: the second load point is an open loop
whose second request is due 1,000 s after its first, so a bench that waited for the load point
to end would be caught by the bounded waits here, far below that.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc and uses pidfds")

# The first load point (50/s) ends in ~20 ms; the second (0.001/s) waits 1,000 s between sends.
ARGV = ["--emulator", "--rate", "50,0.001", "--arrivals", "constant", "--requests", "2",
        "--emulator-ttft", "1ms", "--emulator-itl", "1ms", "--max-tokens", "3",
        "--prompt-tokens", "4", "--plain"]
BOUND = 60.0  # seconds: a failure limit for the waits, never a speed claim


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _wait_gone(pids: list[int]) -> list[int]:
    """Wait (on pidfds: no polling) until every pid has exited; returns those still alive."""
    fds = {}
    for pid in pids:
        try:
            fds[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
    try:
        alive = dict(fds)
        while alive:
            ready, _, _ = select.select(list(alive.values()), [], [], BOUND)
            if not ready:
                break
            alive = {pid: fd for pid, fd in alive.items() if fd not in ready}
        return sorted(alive)
    finally:
        for fd in fds.values():
            os.close(fd)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "aiovertexchat", "bench", *ARGV, "--json",
            str(tmp_path / "out.json"), *extra]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_first_point(process: subprocess.Popen[str]) -> Iterator[str]:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.strip().startswith("done ") and "50/s" in line:
            return iter(seen)
    raise AssertionError("the first load point never finished: " + "".join(seen))


@pytest.mark.parametrize(("signum", "workers"), [(signal.SIGINT, "1"), (signal.SIGTERM, "1"),
                                                (signal.SIGINT, "2")])
def test_a_signal_stops_the_bench_and_keeps_what_finished(
    tmp_path: Path, signum: signal.Signals, workers: str
) -> None:
    process = _start(tmp_path, "--workers", workers)
    try:
        _wait_for_first_point(process)
        children = _children(process.pid)
        # The embedded emulator, and the worker processes (spawned) when there are some.
        assert len(children) >= 1 + (int(workers) if workers != "1" else 0)
        process.send_signal(signum)
        out, err = process.communicate(timeout=BOUND)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signum, err
    assert f"stopped by {signum.name}" in err
    assert f"INTERRUPTED by {signum.name}" in out
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["interrupted"] == signum.name
    # The finished load point is in the file; the interrupted one is not.
    assert [p["load"]["value"] for p in summary["points"]] == [50.0]
    assert summary["points"][0]["summary"]["ok"] == 2
    assert _wait_gone(children) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_of_the_bench_takes_its_children_with_it(tmp_path: Path, workers: str) -> None:
    process = _start(tmp_path, "--workers", workers)
    try:
        _wait_for_first_point(process)
        children = _children(process.pid)
        assert len(children) >= 1 + (int(workers) if workers != "1" else 0)
        process.kill()
        process.communicate(timeout=BOUND)
        assert _wait_gone(children) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
