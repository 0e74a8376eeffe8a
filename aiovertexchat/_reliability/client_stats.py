"""`ClientStats`: what the client's limits and retries are doing, as one snapshot.

The live counters (`Counters`) are plain attributes bumped by the attempt loop: no locks are
needed on one event loop, and reading them costs nothing until `client.stats` is asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ClientStats", "Counters"]


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of `client.stats`.

    - `in_flight`: requests holding a concurrency slot (an open stream counts until it ends).
    - `queued`: requests waiting for a slot; `waiting_for_rate`: waiting for a rate token.
    - `concurrency_limit`: the adaptive limit now (None: unlimited); `limit_cuts`: times a
      429/503 lowered it.
    - `requests`: calls started; `attempts`: requests sent, retries included;
      `retries`: by cause ("429", "503", "connection", "connect", "first_byte", "idle",
      "interrupted", ...); `rate_limited`: 429 answers seen, retried or not;
      `failures`: calls that raised after their last attempt;
      `budget_denied`: retries refused because the retry budget was empty.
    - `prompt_tokens`, `completion_tokens`, `total_tokens`: from the answers' `usage`.
    """

    in_flight: int
    queued: int
    waiting_for_rate: int
    concurrency_limit: int | None
    limit_cuts: int
    requests: int
    attempts: int
    retries: Mapping[str, int]
    rate_limited: int
    failures: int
    budget_denied: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())


@dataclass
class Counters:
    requests: int = 0
    attempts: int = 0
    rate_limited: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    retries: Counter[str] = field(default_factory=Counter)
