"""The embedded emulator target: `python -m aiovertexchat.emulator` in a child process.

A child process, not a task on the bench's own event loop: an in-process server would spend
the client's CPU and event-loop time writing chunks, and the client-health panel would then
report the server's work as client saturation. The child is stopped by its process id when the
run ends, however it ends; and it dies with the bench even when the bench is killed (see
`lifeline`): the kernel's parent-death signal, and a pipe on its stdin whose end-of-file makes
it exit. It runs in its own session, so a Ctrl-C at the terminal reaches only the bench, which
then stops it after writing what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..emulator.durations import format_duration

__all__ = ["EmulatorSettings", "emulator_process"]

# The child imports the very package this process runs (a checkout, not another install).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BASE_URL = re.compile(r"(http://[^\s)]+/v1)\b")
_START_TIMEOUT = 30.0
# The child's first lines: ask the kernel for SIGKILL when the bench dies (Linux; done here
# rather than in a preexec_fn, which is unsafe in a process with threads), exit if the bench
# already died, exit when stdin (a pipe whose write end only the bench holds) ends, then run
# the emulator's own command line. Kept inline: importing the bench package in the child
# would cost start-up time for nothing.
_BOOT = """\
import os, runpy, sys, threading
if sys.platform.startswith("linux"):
    import ctypes, ctypes.util
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(1, 9, 0, 0, 0)
    except (OSError, AttributeError):
        pass
if os.getppid() != int(os.environ.pop("AIOVERTEXCHAT_BENCH_PARENT", os.getppid())):
    os._exit(1)
def _watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)
threading.Thread(target=_watch, name="parent-watch", daemon=True).start()
runpy.run_module("aiovertexchat.emulator", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class EmulatorSettings:
    """Timing and behaviour of the embedded emulator (see `EmulatorConfig` for each field)."""

    ttft: float = 0.05
    itl: float = 0.005
    fault_rate: float = 0.0
    faults: Sequence[str] = ()
    max_concurrency: int | None = None
    seed: int = 0

    def argv(self) -> list[str]:
        args = ["--ttft", format_duration(self.ttft), "--itl", format_duration(self.itl),
                "--seed", str(self.seed)]
        for fault in self.faults:
            args += ["--fault", fault]
        if self.fault_rate:
            args += ["--fault-rate", repr(self.fault_rate)]
        if self.max_concurrency is not None:
            args += ["--max-concurrency", str(self.max_concurrency)]
        return args

    def describe(self) -> str:
        text = f"ttft {self.ttft * 1000:g} ms, itl {self.itl * 1000:g} ms"
        if self.fault_rate and self.faults:
            text += f", faults {'/'.join(self.faults)} at {self.fault_rate:.0%}"
        if self.max_concurrency is not None:
            text += f", 429 beyond {self.max_concurrency} in flight"
        return text


@contextlib.asynccontextmanager
async def emulator_process(settings: EmulatorSettings) -> AsyncIterator[str]:
    """Start an emulator process on a free loopback port; yields its OpenAI base URL."""
    argv = [sys.executable, "-u", "-c", _BOOT, "--host", "127.0.0.1", "--port", "0",
            *settings.argv()]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env["AIOVERTEXCHAT_BENCH_PARENT"] = str(os.getpid())
    # stderr goes to a file: a pipe nobody reads would fill up and stall the server.
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT)
            except asyncio.TimeoutError:
                line = b""
            found = _BASE_URL.search(line.decode(errors="replace"))
            if found is None:
                errors.seek(0)
                detail = errors.read()[-2000:].decode(errors="replace").strip()
                raise RuntimeError(
                    "the embedded emulator did not start"
                    + (f": {detail}" if detail else f" (it printed {line!r})")
                )
            yield found.group(1)
        finally:
            if process.stdin is not None:
                process.stdin.close()  # end-of-file on the child's lifeline
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5.0)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
