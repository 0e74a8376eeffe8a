"""What the emulator knows about Gemini models: which think, which sign their tool calls, and
the signatures it hands out. Sans-IO, and independent of the client's code on purpose: the
client's tests meet these rules the way they would meet the real server's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SKIP_SIGNATURE",
    "is_signature_model",
    "is_thinking_model",
    "recursive_ref",
    "thought_signature",
]

# The placeholder Vertex documents for histories whose signatures were lost.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_NON_THINKING = ("gemini-1.", "gemini-2.0", "gemini-pro")


def is_thinking_model(model: str) -> bool:
    """Gemini 2.5 and later think; 1.x and 2.0 answer `include_thoughts` with a 400."""
    name = model.lower()
    return not any(marker in name for marker in _NON_THINKING)


def is_signature_model(model: str) -> bool:
    """Gemini 3 returns a thought signature on tool calls and wants it back next turn."""
    return "gemini-3" in model.lower()


def thought_signature(name: str, arguments: str) -> str:
    """The signature the emulator gives a call: stable, and tied to the call's content, so a
    signature that was dropped, altered or moved to another call is recognised."""
    digest = hashlib.sha256(b"emulator-thought\x1f%s\x1f%s" % (name.encode(), arguments.encode()))
    return base64.b64encode(digest.digest()[:24]).decode("ascii")


def _ref_target(ref: str) -> str | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return "#" if ref == "#" else None


def recursive_ref(schema: Mapping[str, Any]) -> str | None:
    """A description of a `$ref` cycle in `schema` ("A -> B -> A"), or None when it has none."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, Mapping):
            defs.update(found)
    finished: set[str] = set()

    def walk(node: Any, stack: tuple[str, ...]) -> str | None:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = _ref_target(ref)
                if target == "#":
                    return "the schema refers to itself"
                if target is not None and target in defs:
                    if target in stack:
                        return " -> ".join((*stack[stack.index(target) :], target))
                    if target not in finished:
                        cycle = walk(defs[target], (*stack, target))
                        if cycle is not None:
                            return cycle
                        finished.add(target)
            for key, value in node.items():
                if key not in ("$defs", "definitions", "$ref"):
                    cycle = walk(value, stack)
                    if cycle is not None:
                        return cycle
        elif isinstance(node, list):
            for item in node:
                cycle = walk(item, stack)
                if cycle is not None:
                    return cycle
        return None

    return walk(schema, ())
