"""Gemini-specific request options, typed, and how they reach the JSON body.

Vertex reads them from a top-level JSON key literally named `extra_body`:
`{"extra_body": {"google": {"thinking_config": {...}, "thought_tag_marker": "think", ...}}}`.
OpenAI-SDK users write that as `extra_body={"extra_body": {"google": {...}}}` (the SDK's own
`extra_body` is merged into the body), and that form keeps working here. `google=` is the typed
way; both may be given and are merged key by key, but the same setting with two different
values is an error rather than a silent pick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import ConflictingParametersError
from .thoughts import check_thought_tag_marker

__all__ = [
    "ConflictingParametersError",
    "GoogleExtras",
    "SafetySetting",
    "ThinkingConfig",
    "check_thinking_conflict",
    "effective_google",
    "merge_google",
]


class _Options(msgspec.Struct, kw_only=True, omit_defaults=True):
    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class ThinkingConfig(_Options):
    """Gemini's `GenerationConfig.ThinkingConfig`."""

    include_thoughts: bool | None = None
    """Return the model's thoughts (needs a thinking model; Vertex answers 400 otherwise)."""
    thinking_budget: int | None = None
    """Thinking tokens allowed: 0 turns thinking off where the model allows, -1 is dynamic."""
    thinking_level: str | None = None
    """Gemini 3's coarser knob: "minimal", "low", "medium" or "high"."""


class SafetySetting(_Options):
    """Gemini's `SafetySetting`, e.g. `SafetySetting(category="HARM_CATEGORY_HARASSMENT",
    threshold="BLOCK_ONLY_HIGH")`."""

    category: str
    threshold: str
    method: str | None = None


class GoogleExtras(_Options):
    """What goes under `"extra_body": {"google": {...}}` in the request body."""

    thinking_config: ThinkingConfig | None = None
    thought_tag_marker: str | None = None
    """Thoughts come back inside `<marker>…</marker>`; the client moves them to `reasoning`."""
    safety_settings: list[SafetySetting] | None = None
    cached_content: str | None = None
    """A cached-content resource name (`projects/…/cachedContents/…`; not on `global`)."""

    def __post_init__(self) -> None:
        marker = self.thought_tag_marker
        if marker is not None:
            check_thought_tag_marker(marker)


def _merge(ours: Any, theirs: Any, path: str) -> Any:
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        merged = dict(theirs)
        for key, value in ours.items():
            merged[key] = _merge(value, theirs[key], f"{path}.{key}") if key in theirs else value
        return merged
    if ours != theirs:
        raise ConflictingParametersError(
            f"{path} is set twice with different values: google= gives {ours!r}, "
            f"extra_body gives {theirs!r}. Set it in one place."
        )
    return ours


def merge_google(
    extra_body: Mapping[str, Any] | None, google: GoogleExtras | Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """`extra_body` with `google` deep-merged under its `extra_body.google` key."""
    if google is None:
        return extra_body
    ours = google.to_dict() if isinstance(google, GoogleExtras) else dict(google)
    if not ours:
        return extra_body
    result = dict(extra_body or {})
    nested = result.get("extra_body")
    if nested is None:
        result["extra_body"] = {"google": ours}
        return result
    if not isinstance(nested, Mapping):
        raise TypeError(f"extra_body['extra_body'] must be a mapping, got {type(nested).__name__}")
    nested = dict(nested)
    theirs = nested.get("google")
    nested["google"] = ours if theirs is None else _merge(ours, theirs, "extra_body.google")
    result["extra_body"] = nested
    return result


def effective_google(extra_body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The `google` options a body will carry (after `merge_google`), or an empty mapping."""
    if not extra_body:
        return {}
    nested = extra_body.get("extra_body")
    if not isinstance(nested, Mapping):
        return {}
    google = nested.get("google")
    return google if isinstance(google, Mapping) else {}


def check_thinking_conflict(
    params: Mapping[str, Any], extra_body: Mapping[str, Any] | None, google: Mapping[str, Any]
) -> None:
    """Vertex takes `reasoning_effort` or `thinking_config`, never both: refuse before sending."""
    effort = params.get("reasoning_effort")
    if effort is None and extra_body:
        effort = extra_body.get("reasoning_effort")
    if effort is not None and google.get("thinking_config") is not None:
        raise ConflictingParametersError(
            f"reasoning_effort={effort!r} and extra_body.google.thinking_config were both given; "
            "Vertex accepts only one of them. Use reasoning_effort for a coarse level, or "
            "thinking_config for a token budget / include_thoughts."
        )
