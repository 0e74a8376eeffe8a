"""Splitting one load over several worker processes so that together they send exactly it.

Sans-IO. Worker w of W (a `Share`) owns:
- open loop: the requests whose index i has i mod W = w. Every worker computes the same seeded
  timeline and sends only its requests at their planned times, so the union of what the
  workers send is the planned timeline, request for request (not W timelines at rate R/W,
  whose merge would be a different random process). Round-robin also gives each worker an
  equal count (±1) and an equal mean rate R/W;
- closed loop: the slots s (0..N-1) with s mod W = w, so the concurrencies add up to N and
  differ by at most one; with a request count, the requests i with i mod W = w (their count is
  proportional to the slots); with `--ramp-up`, slot s starts s/N of the ramp late whichever
  worker runs it, so the combined ramp is the planned one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Share", "split_concurrency"]


@dataclass(frozen=True)
class Share:
    """The part of a load that worker `worker` (0-based) of `workers` runs."""

    worker: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1 or not 0 <= self.worker < self.workers:
            raise ValueError(f"worker {self.worker} of {self.workers} does not exist")

    def owns(self, index: int) -> bool:
        return index % self.workers == self.worker

    def indices(self, count: int) -> range:
        """The request (or slot) indices below `count` this share owns."""
        return range(self.worker, count, self.workers)

    def slots(self, concurrency: int) -> list[int]:
        return list(self.indices(concurrency))


def split_concurrency(concurrency: int, workers: int) -> list[int]:
    """Slots per worker: sums to `concurrency`, sizes differ by at most one."""
    return [len(Share(w, workers).indices(concurrency)) for w in range(workers)]
