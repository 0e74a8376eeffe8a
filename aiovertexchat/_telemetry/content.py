"""Message content for spans, only when the user opts in (`CAPTURE_CONTENT_ENV`).

The conventions' shape: a list of messages `{"role", "parts": [...]}` where a part is
`{"type": "text", "content"}`, `{"type": "tool_call", "id", "name", "arguments"}`,
`{"type": "tool_call_response", "id", "response"}`, `{"type": "reasoning", "content"}`, or a
media part (`uri` / `blob` / `file`). Output messages add `finish_reason`. The value is one JSON
string per attribute.

Media bytes are never recorded (a blob part keeps its type and size only), and URIs lose their
query string: signed URLs carry their credential there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ..types import ChatCompletion

__all__ = ["capture_enabled", "input_messages", "output_messages"]

_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"})


def capture_enabled(environ: Mapping[str, str], variable: str) -> bool:
    """Whether the opt-in variable asks for content (true/1/yes, or a SPAN_* / EVENT_* mode)."""
    return environ.get(variable, "").strip().lower() in _ON


def _uri(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _data_url(url: str) -> tuple[str, int]:
    """(mime type, encoded size) of a `data:` URL."""
    head, _, data = url.partition(",")
    return head[5:].split(";", 1)[0] or "application/octet-stream", len(data)


def _media(kind: str, url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        mime, size = _data_url(url)
        return {"type": "blob", "modality": kind, "mime_type": mime, "size": size}
    return {"type": "uri", "modality": kind, "uri": _uri(url)}


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw
    return raw


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    if not isinstance(content, Sequence):
        return parts
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": str(part.get("text", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, Mapping) else str(image or "")
            parts.append(_media("image", url))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            data = audio.get("data", "") if isinstance(audio, Mapping) else ""
            fmt = audio.get("format", "") if isinstance(audio, Mapping) else ""
            parts.append({"type": "blob", "modality": "audio", "mime_type": f"audio/{fmt}",
                          "size": len(data)})
        elif kind == "file":
            file = part.get("file") or {}
            if isinstance(file, Mapping) and file.get("file_id"):
                parts.append({"type": "file", "file_id": str(file["file_id"])})
            elif isinstance(file, Mapping):
                url = str(file.get("file_data", ""))
                parts.append(_media("file", url) if url.startswith("data:") else
                             {"type": "blob", "modality": "file", "size": len(url)})
        else:
            parts.append({"type": str(kind)})
    return parts


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in calls or ():
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        parts.append({
            "type": "tool_call",
            "id": call.get("id", ""),
            "name": function.get("name", "") if isinstance(function, Mapping) else "",
            "arguments": _arguments(
                function.get("arguments") if isinstance(function, Mapping) else None
            ),
        })
    return parts


def input_messages(body: bytes) -> str | None:
    """The request's `messages` in the conventions' shape, as JSON; None if unreadable."""
    try:
        request = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list):
        return None
    out: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role", "user"))
        if role == "tool":
            parts: list[dict[str, Any]] = [{
                "type": "tool_call_response",
                "id": message.get("tool_call_id", ""),
                "response": message.get("content"),
            }]
        else:
            parts = []
            if message.get("reasoning"):
                parts.append({"type": "reasoning", "content": str(message["reasoning"])})
            parts += _content_parts(message.get("content"))
            parts += _tool_calls(message.get("tool_calls"))
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            entry["name"] = message["name"]
        out.append(entry)
    return msgspec.json.encode(out).decode()


def output_messages(completion: ChatCompletion) -> str:
    """The completion's choices in the conventions' shape, as JSON."""
    out: list[dict[str, Any]] = []
    for choice in completion.choices:
        message = choice.message
        parts: list[dict[str, Any]] = []
        if message.reasoning:
            parts.append({"type": "reasoning", "content": message.reasoning})
        if message.content:
            parts.append({"type": "text", "content": message.content})
        for call in message.tool_calls or ():
            parts.append({"type": "tool_call", "id": call.id, "name": call.function.name,
                          "arguments": _arguments(call.function.arguments)})
        out.append({"role": message.role or "assistant", "parts": parts,
                    "finish_reason": choice.finish_reason or ""})
    return msgspec.json.encode(out).decode()
