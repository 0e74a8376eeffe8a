"""The batch CLI as a subprocess: kill -9 at random points and resume; SIGTERM/SIGINT stops.

The emulator runs in its own process too, so killing the batch process cannot disturb it.
Kill points come from a seeded RNG and are reached by reading the job's own progress lines
(`--progress plain`), never by sleeping.
"""

import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import batch_line

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
PROGRESS = re.compile(r"^\[batch [^\]]*\] ([\d,]+)/")


def start_emulator(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovertexchat.emulator", "--port", "0", "--no-auth", *args],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    found = re.search(r"(http://\S+/v1)\b", line)
    assert found, f"emulator did not start: {line!r}"
    return proc, found.group(1)


@pytest.fixture
def faulty_emulator() -> Iterator[str]:
    proc, url = start_emulator("--ttft", "3ms", "--fault", "429", "--fault", "500",
                               "--fault", "reset-before-headers", "--fault-rate", "0.05",
                               "--seed", "3")
    yield url
    stop(proc)


@pytest.fixture
def slow_emulator() -> Iterator[str]:
    proc, url = start_emulator("--ttft", "20ms")
    yield url
    stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def write_input(path: Path, count: int) -> list[str]:
    ids = [f"item-{i:05d}" for i in range(count)]
    path.write_text("".join(batch_line(custom_id, custom_id, tokens=3) + "\n" for custom_id in ids))
    return ids


def batch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiovertexchat", "batch", *args]


def run_until(cmd: list[str], done_at: int | None) -> tuple[subprocess.Popen[bytes], int]:
    """Start the CLI; return once its progress shows `done_at` items recorded (or it exits)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    done = 0
    while done_at is not None and done < done_at:
        line = proc.stderr.readline()
        if not line:
            break
        found = PROGRESS.match(line.decode())
        if found:
            done = int(found.group(1).replace(",", ""))
    return proc, done


def recorded(*paths: Path) -> Counter[str]:
    seen: Counter[str] = Counter()
    for path in paths:
        if path.exists():
            for line in path.read_bytes().splitlines():
                seen[json.loads(line)["custom_id"]] += 1  # a torn line would fail here
    return seen


def test_kill_9_at_random_points_then_resume_records_each_item_once(
    tmp_path: Path, faulty_emulator: str
) -> None:
    source, out, errors = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    ids = write_input(source, 2000)
    cmd = batch_cmd(str(source), "-o", str(out), "--errors", str(errors), "--base-url",
                    faulty_emulator, "--concurrency", "8", "--progress", "plain",
                    "--progress-interval", "10ms")
    rng = random.Random(20240606)
    kills = 0
    for _ in range(4):
        proc, _ = run_until(cmd, done_at=rng.randint(50, 300))
        stop(proc)
        kills += proc.returncode == -signal.SIGKILL
        partial = recorded(out, errors) if out.exists() else Counter()
        assert all(n == 1 for n in partial.values())
    assert kills >= 3  # the job was really killed mid-run, not finished
    before_final = sum(recorded(out, errors).values())
    assert 0 < before_final < 2000
    final = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True)
    assert final.returncode in (0, 3), final.stderr.decode()
    seen = recorded(out, errors)
    assert {k: v for k, v in seen.items() if v != 1} == {}
    assert sorted(seen) == ids
    assert f"{before_final:,} skipped of 2,000" in final.stdout.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_and_prints_the_resume_command(
    tmp_path: Path, slow_emulator: str, sig: signal.Signals
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 160)
    summary = tmp_path / "summary.json"
    cmd = batch_cmd(str(source), "-o", str(out), "--base-url", slow_emulator,
                    "--concurrency", "4", "--progress", "plain", "--progress-interval", "10ms",
                    "--summary-json", str(summary))
    proc, done = run_until(cmd, done_at=8)
    assert done >= 8
    proc.send_signal(sig)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 128 + sig
    assert "stopping: taking no new items" in err
    hint = re.search(r"To resume, run:\n  (aiovertexchat batch .*)\n", err)
    assert hint, err
    data = json.loads(summary.read_text())
    assert data["state"] == "interrupted"
    assert data["resume_command"] == hint.group(1)
    stopped_at = len(recorded(out))
    assert stopped_at == data["items"]["succeeded"] and 8 <= stopped_at < 160
    assert data["items"]["remaining"] == 160 - stopped_at
    # The printed command, run as is (through python -m), finishes the job.
    words = shlex.split(hint.group(1))
    assert words[:2] == ["aiovertexchat", "batch"]
    resumed = subprocess.run(batch_cmd(*words[2:]), cwd=ROOT, env=ENV, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    seen = recorded(out, tmp_path / "out.errors.jsonl")
    assert set(seen.values()) == {1} and sorted(seen) == ids
