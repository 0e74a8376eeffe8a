"""Counters a test or benchmark reads to check what the emulator saw and did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["EmulatorStats"]


@dataclass
class EmulatorStats:
    requests: int = 0
    """Every HTTP request received, on any path."""
    streamed: int = 0
    """Streaming answers started (status 200, text/event-stream)."""
    chunks: int = 0
    """Chunk events of streams that ran to their end or to an injected fault (usage chunks
    included, [DONE] not); a stream whose client left is not counted."""
    by_status: Counter[int] = field(default_factory=Counter)
    """Status codes answered; connections reset before headers have none."""
    faults: Counter[str] = field(default_factory=Counter)
    """Faults injected, by `Fault.name` ("429", "reset-mid-stream", ...)."""
    concurrency: int = 0
    """Requests admitted and not yet finished (streams count until their last byte)."""
    peak_concurrency: int = 0
    rejected_capacity: int = 0
    """429s from the capacity model (max_concurrency / max_rpm), not from injected faults."""
    rejected_auth: int = 0
    """Chat requests answered 401 (no token, or one not accepted)."""
    token_requests: int = 0
    """Requests to `POST /token` (not in `by_status`, which counts chat answers)."""
    tokens_issued: int = 0
    token_errors: int = 0
    """Token requests answered with an error (refused grants and failures on demand)."""
    token_scopes: Counter[str] = field(default_factory=Counter)
    """The `scope` claim of each assertion a token was issued for."""

    def reset(self) -> None:
        """Zero the counters, except the live `concurrency` (the peak restarts from it)."""
        self.requests = self.streamed = self.chunks = self.rejected_capacity = 0
        self.rejected_auth = self.token_requests = self.tokens_issued = self.token_errors = 0
        self.token_scopes.clear()
        self.by_status.clear()
        self.faults.clear()
        self.peak_concurrency = self.concurrency
