"""Fault specifications, their string grammar, and the deterministic choice of faults per request.

Grammar (one spec; a header carries several separated by commas)::

    spec   := kind (":" param)*
    kind   := CODE | "error" | "html-error" | "list-error" | "text-error" | "empty-error"
            | "reset-before-headers" | "reset-mid-stream" | "stall" | "malformed-chunk"
            | "error-in-stream" | "trickle" | "truncate"
    CODE   := an HTTP status 400..599, shorthand for "error:code=CODE"
    param  := name "=" value      (names: code, after, seconds, bytes, retry-after,
                                   retry-after-ms, reason; each kind accepts a subset)

Kinds: CODE/error, list-error, html-error, text-error, empty-error answer an error status in
that body shape (Google JSON, `[{"error": ...}]`, front-end HTML page, proxy text, nothing);
`retry-after=S` / `retry-after-ms=N` add those headers, `reason=R` an ErrorInfo reason.
reset-before-headers / reset-mid-stream:after=N close the connection with a TCP RST.
stall:seconds=S holds back the headers, or with after=N pauses the body. malformed-chunk:after=N
inserts an event with broken JSON. error-in-stream:after=N:code=C sends `data: {"error": ...}`
and ends the body. truncate:after=N ends the body cleanly with no finish_reason and no [DONE].
trickle:bytes=N[:seconds=S] sends the body in N-byte writes (splitting events and UTF-8).

`after=N` counts chunk events (`data: {...}` lines, the usage chunk included) already sent;
it is clamped to the end of the stream, so a large N means "just before [DONE]". On a
non-streaming answer the body faults act on the JSON body: reset and truncate cut it in half,
malformed-chunk drops its closing brace, error-in-stream becomes a plain error answer.

Where faults come from, per request: `X-Emulator-Fault: spec[, spec...]` (all apply, in
order); `X-Emulator-Fault-Once: key=spec[*N][, ...]` (fires on the first N requests carrying
that key, so a retrying client sees "fail, then succeed"); otherwise `config.faults` drawn
with probability `config.fault_rate` by an RNG seeded from `config.seed`.

Sans-IO: nothing here touches sockets or clocks; the server decides how to act on a Fault.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import EmulatorConfig

__all__ = [
    "FAULT_HEADER",
    "FAULT_ONCE_HEADER",
    "Fault",
    "FaultInjector",
    "RequestedFaults",
    "parse_fault_headers",
    "parse_fault_list",
]

FAULT_HEADER = "X-Emulator-Fault"
FAULT_ONCE_HEADER = "X-Emulator-Fault-Once"

# kind -> (accepted params, defaults). "error" is the Google-shaped JSON error answer.
_ERROR_PARAMS = frozenset({"code", "retry_after", "retry_after_ms", "reason"})
_KINDS: dict[str, tuple[frozenset[str], dict[str, object]]] = {
    "error": (_ERROR_PARAMS, {"code": 500}),
    "list-error": (_ERROR_PARAMS, {"code": 429}),
    "html-error": (_ERROR_PARAMS - {"reason"}, {"code": 502}),
    "text-error": (_ERROR_PARAMS - {"reason"}, {"code": 503}),
    "empty-error": (_ERROR_PARAMS - {"reason"}, {"code": 500}),
    "reset-before-headers": (frozenset(), {}),
    "reset-mid-stream": (frozenset({"after"}), {"after": 1}),
    # Without `after` a stall holds back the headers; a default of an hour reads as "forever"
    # to any client timeout while still letting the handler end by itself.
    "stall": (frozenset({"seconds", "after"}), {"seconds": 3600.0}),
    "malformed-chunk": (frozenset({"after"}), {"after": 1}),
    "error-in-stream": (frozenset({"after", "code", "reason"}), {"after": 1, "code": 503}),
    "trickle": (frozenset({"size", "seconds"}), {"size": 1}),
    "truncate": (frozenset({"after"}), {"after": 1}),
}
# Kinds that answer with an error status instead of the completion.
ERROR_KINDS = frozenset({"error", "list-error", "html-error", "text-error", "empty-error"})

# ErrorInfo reasons are UPPER_SNAKE_CASE; anything else could not survive the spec grammar.
_REASON = re.compile(r"[A-Za-z0-9_]+")

# Spelling in specs -> field name.
_PARAM_FIELDS = {
    "code": "code",
    "after": "after",
    "seconds": "seconds",
    "bytes": "size",
    "retry-after": "retry_after",
    "retry-after-ms": "retry_after_ms",
    "reason": "reason",
}
_FIELD_PARAMS = {v: k for k, v in _PARAM_FIELDS.items()}


def format_number(value: float) -> str:
    """`2` rather than `2.0`: how numbers appear in specs and in Retry-After headers."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Fault:
    """One misbehaviour to inject; build it directly or with `Fault.parse("429:retry-after=2")`."""

    kind: str
    code: int | None = None
    after: int | None = None
    seconds: float | None = None
    size: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        spec = _KINDS.get(self.kind)
        if spec is None:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(_KINDS)}")
        accepted, defaults = spec
        for f in fields(self):
            if f.name == "kind":
                continue
            value = getattr(self, f.name)
            if value is None:
                if f.name in defaults:
                    object.__setattr__(self, f.name, defaults[f.name])
            elif f.name not in accepted:
                raise ValueError(f"fault {self.kind!r} takes no {_FIELD_PARAMS[f.name]!r}")
        if self.code is not None and not 400 <= self.code <= 599:
            raise ValueError(f"fault code must be within 400..599, got {self.code}")
        if self.after is not None and self.after < 0:
            raise ValueError("after must be >= 0")
        if self.seconds is not None and not self.seconds >= 0:
            raise ValueError("seconds must be >= 0")
        if self.size is not None and self.size < 1:
            raise ValueError("bytes must be >= 1")
        if self.retry_after is not None and not self.retry_after >= 0:
            raise ValueError("retry-after must be >= 0")
        if self.retry_after_ms is not None and self.retry_after_ms < 0:
            raise ValueError("retry-after-ms must be >= 0")
        if self.reason is not None and not _REASON.fullmatch(self.reason):
            raise ValueError("reason must be letters, digits and underscores")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse one spec of the grammar in the module docstring; ValueError says what is wrong."""
        kind, *params = spec.strip().split(":")
        kind = kind.strip()
        values: dict[str, str] = {}
        if kind.isdigit():
            values["code"] = kind
            kind = "error"
        for param in params:
            name, eq, value = param.partition("=")
            name, value = name.strip(), value.strip()
            if not eq or not value:
                raise ValueError(f"fault parameter {param!r} in {spec!r} must be name=value")
            if name not in _PARAM_FIELDS:
                raise ValueError(f"unknown fault parameter {name!r} in {spec!r}")
            if _PARAM_FIELDS[name] in values:
                raise ValueError(f"fault parameter {name!r} given twice in {spec!r}")
            values[_PARAM_FIELDS[name]] = value
        try:
            return cls(
                kind,
                code=_opt_int(values.get("code")),
                after=_opt_int(values.get("after")),
                seconds=_opt_float(values.get("seconds")),
                size=_opt_int(values.get("size")),
                retry_after=_opt_float(values.get("retry_after")),
                retry_after_ms=_opt_int(values.get("retry_after_ms")),
                reason=values.get("reason"),
            )
        except ValueError as exc:
            raise ValueError(f"bad fault spec {spec!r}: {exc}") from None

    def __str__(self) -> str:
        parts = [str(self.code) if self.kind == "error" else self.kind]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "kind" or value is None or (f.name == "code" and self.kind == "error"):
                continue
            text = format_number(value) if isinstance(value, float) else str(value)
            parts.append(f"{_FIELD_PARAMS[f.name]}={text}")
        return ":".join(parts)

    @property
    def name(self) -> str:
        """Key in `stats.faults`: the status code for plain errors, else the kind."""
        return str(self.code) if self.kind == "error" else self.kind

    @property
    def before_headers(self) -> bool:
        """True when the fault acts before any response byte is sent."""
        if self.kind == "stall":
            return self.after is None
        return self.kind in ERROR_KINDS or self.kind == "reset-before-headers"


def _opt_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _opt_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def parse_fault_list(header: str) -> list[Fault]:
    """Parse the comma-separated specs of an `X-Emulator-Fault` header, keeping their order."""
    return [Fault.parse(item) for item in header.split(",") if item.strip()]


def _parse_once(header: str) -> list[tuple[str, Fault, int]]:
    """`key=spec[*N]` entries (comma separated) -> (key, fault, times)."""
    entries = []
    for item in header.split(","):
        if not item.strip():
            continue
        key, eq, spec = item.partition("=")
        key = key.strip()
        if not eq or not key or ":" in key:
            raise ValueError(f"{FAULT_ONCE_HEADER} entry {item.strip()!r} must be key=spec[*N]")
        times = 1
        head, star, count = spec.rpartition("*")
        if star:
            if not count.strip().isdigit():
                raise ValueError(f"bad repeat count in {item.strip()!r}")
            spec, times = head, int(count)
        entries.append((key, Fault.parse(spec), times))
    return entries


@dataclass(frozen=True)
class RequestedFaults:
    """What a request's fault headers ask for, checked but not yet acted on."""

    faults: tuple[Fault, ...] = ()
    once: tuple[tuple[str, Fault, int], ...] = ()


NO_REQUESTED_FAULTS = RequestedFaults()


def parse_fault_headers(header: str | None, once_header: str | None) -> RequestedFaults:
    """Parse `X-Emulator-Fault` and `X-Emulator-Fault-Once`; ValueError names the bad part."""
    if not header and not once_header:
        return NO_REQUESTED_FAULTS
    return RequestedFaults(
        tuple(parse_fault_list(header)) if header else (),
        tuple(_parse_once(once_header)) if once_header else (),
    )


@dataclass
class FaultInjector:
    """Decides which faults an admitted request gets, deterministically given request order.

    Header faults win over random ones, but the RNG is drawn for every request either way, so
    adding a header to one request does not reshuffle the faults of all later ones.
    """

    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    # key -> firings left; a key is armed the first time it is seen and never re-armed.
    _once: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def choose(self, requested: RequestedFaults, config: EmulatorConfig) -> list[Fault]:
        """Faults for one request, in the order they apply."""
        explicit: list[Fault] = []
        for key, fault, times in requested.once:
            left = self._once.setdefault(key, times)
            if left > 0:
                self._once[key] = left - 1
                explicit.append(fault)
        explicit.extend(requested.faults)
        drawn = self._draw(config.faults, config.fault_rate)
        if explicit:
            return explicit
        return [drawn] if drawn is not None else []

    def _draw(self, faults: Sequence[Fault], rate: float) -> Fault | None:
        if not faults or rate <= 0.0:
            return None
        hit = self._rng.random() < rate
        pick = faults[self._rng.randrange(len(faults))]
        return pick if hit else None
