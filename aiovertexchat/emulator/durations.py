"""Durations with a unit, as every command line of the package writes them: `500ms`, `2s`, `1.5m`.

One parser for every duration flag of every CLI (`chat`, `demo`, `bench`, `batch`, `emulator`)
and for the durations inside `--slo` and `--health`. It lives in the emulator package because
the emulator's own command line needs it and the emulator imports nothing from the rest of the
package; the other command lines import it from here.

A number without a unit is refused, even `0`: whether `--timeout 2` means seconds or
milliseconds is exactly the doubt the unit removes.
"""

from __future__ import annotations

import math
import re

__all__ = ["UNITS", "UNITS_HELP", "format_duration", "parse_duration"]

UNITS: dict[str, float] = {
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, what a keyboard's AltGr+m gives
    "\u03bcs": 1e-6,  # Greek small mu, what some fonts and editors substitute
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
"""Unit -> seconds."""

UNITS_HELP = "us, ms, s, m, h"
"""The units as a message names them (`µs` is accepted for `us`)."""

_EXAMPLES = "e.g. 500ms, 2s, 1.5m or 1h"
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION = re.compile(rf"^\s*({_NUMBER})\s*([a-z\u00b5\u03bc]*)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in `text`, a non-negative decimal number and a unit (`'250ms'` -> 0.25).

    Units: `us` (or `µs`), `ms`, `s`, `m` (minutes), `h`; space between number and unit is
    allowed, exponents too (`1e-3s`). Raises ValueError naming the accepted units when the
    unit is missing or unknown, the text is not a number, or the value is negative.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write {_EXAMPLES} (units: {UNITS_HELP})")
    number, unit = match.groups()
    if not unit:
        raise ValueError(
            f"{text.strip()!r} has no unit; write {_EXAMPLES} (units: {UNITS_HELP})"
        )
    scale = UNITS.get(unit)
    if scale is None:
        raise ValueError(
            f"{text.strip()!r} has an unknown unit {unit!r}; use one of {UNITS_HELP}"
        )
    seconds = float(number) * scale
    if seconds < 0 or number.startswith("-"):
        raise ValueError(f"{text.strip()!r}: a duration must be >= 0")
    if not math.isfinite(seconds):
        raise ValueError(f"{text.strip()!r} is too large for a duration")
    return seconds


def format_duration(seconds: float) -> str:
    """The text `parse_duration` reads back as exactly `seconds` (e.g. for a child's argv)."""
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"a duration must be finite and >= 0, got {seconds!r}")
    return f"{seconds!r}s"
