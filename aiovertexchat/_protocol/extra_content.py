"""Small helpers for Vertex's `extra_content` objects (`{"google": {...}}`, `{"vertex": {...}}`).

`extra_content` can sit on a message, a content part, a tool call or a stream delta. Its
namespaces carry different things: `thought: true` marks one piece as a thought (a property of
that piece only), `thought_signature` must go back to the server unchanged. These helpers keep
the two apart when pieces are merged into one message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NAMESPACES", "is_thought", "merge_extra", "strip_thought"]

# Gemini sends `google`; some deployments were reported to send `vertex`. Both are honoured.
NAMESPACES = ("google", "vertex")


def is_thought(extra: Any) -> bool:
    """True when an `extra_content` object marks its piece as a thought."""
    if not isinstance(extra, dict):
        return False
    for namespace in NAMESPACES:
        inner = extra.get(namespace)
        if isinstance(inner, dict) and inner.get("thought") is True:
            return True
    return False


def strip_thought(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """`extra` without the per-piece `thought` flag (None when nothing else is left).

    A flag that marked one delta or part must not end up on the whole message: sent back in
    `messages`, it would tell the server that the entire turn was a thought.
    """
    if extra is None:
        return None
    if not any(
        isinstance(extra.get(ns), dict) and "thought" in extra[ns] for ns in NAMESPACES
    ):
        return extra
    result: dict[str, Any] = {}
    for key, value in extra.items():
        if key in NAMESPACES and isinstance(value, dict) and "thought" in value:
            value = {k: v for k, v in value.items() if k != "thought"}
            if not value:
                continue
        result[key] = value
    return result or None


def merge_extra(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Merge `extra_content` namespaces one level deep; later values win inside a namespace."""
    if new is None:
        return old
    if old is None:
        return dict(new)
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
