"""Child processes of the bench die with it, however it dies (SIGKILL included).

Two independent mechanisms, because neither covers every case alone:
- `PR_SET_PDEATHSIG` (Linux, through `prctl` via ctypes): the kernel sends the child SIGKILL
  when the thread that started it exits. Set by the child itself first thing (the emulator
  child's boot code does the same inline); a parent that died before that is caught by
  comparing `getppid()` with the parent's pid.
- a pipe the child watches (portable): the parent holds the write end (the emulator child's
  stdin, a worker's end of its `multiprocessing` pipe) and the kernel closes it when the parent
  dies; the child's read then sees end-of-file and the child exits.
Children also leave the terminal's SIGINT to the parent (their own session, or SIGINT ignored):
a Ctrl-C stops the bench, which then stops its children in order and writes what finished.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

__all__ = ["parent_death_signal"]

_PR_SET_PDEATHSIG = 1


def parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `signum` to this process when its parent thread exits.

    Returns False where `prctl` is not available (not Linux); the pipe mechanism still works.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
