"""Bytes become typed objects here, and only here: completion bodies and stream chunks.

Strict first: msgspec decodes straight from bytes into the Structs of `types.py`, which is the
fast path every well-formed answer takes. Only when that fails does the one tolerant fallback
run (`decode_tolerantly`): the text is decoded to builtins, reshaped by the rules below, then
converted to the same Structs. Servers other than Vertex (vLLM, TGI, llama.cpp, Ollama, SGLang,
gateways) send valid answers in shapes of their own; the rules turn each shape into ours:

- `null` where our field has a default (not None) -> the default (Gemini's `"choices": null`);
- a JSON object or array where a string of JSON is expected (`arguments`) -> that JSON as text
  (llama.cpp, TGI);
- a single object where a list is expected -> a one-element list (TGI's streamed `tool_calls`);
- a float where an integer is expected -> the integer (`created` as a float timestamp);
- `""` in a sentinel-like field (`SENTINEL_FIELDS`: finish_reason, role, type, ids) -> absent,
  and `"null"` (a string) as a finish reason -> absent;
- another server's name for a field of ours (`FIELD_ALIASES`) -> our field, unless ours is set.

What still cannot be read is described once, for bodies and chunks alike: not JSON at all, or
valid JSON of an unexpected shape at a `$.path`. The result is an `APIResponseValidationError`
that keeps the real 2xx status and a bounded excerpt of the body; it is never retried, because
the server already did (and billed) the work.

Empty strings are valid strings, so strict decoding accepts them: their normalisation on the
strict path is done where it costs nothing per chunk. `ABSENT_FINISH_REASONS` is read by the
stream accumulator (only on a chunk that carries a finish reason at all) and the thought
splitter; `decode_completion` normalises a whole completion once.

Decoding never amplifies without bound: the input is capped before it gets here
(`SizeLimits`), unknown fields are skipped without building anything, and nesting deeper than
the interpreter's recursion limit stops msgspec with a `RecursionError` after bounded work,
which is reported like any other unreadable answer, never raised as it is (`DECODE_FAILURES`
and `as_decode_error`; invalid UTF-8 inside a string likewise).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from .._redact import redact
from ..errors import APIResponseValidationError, APIStatusError
from ..types import FIELD_ALIASES, ChatCompletion, ChatCompletionChunk
from .error_body import make_status_error, parse_error_body

__all__ = [
    "ABSENT_FINISH_REASONS",
    "CHUNK_DECODER",
    "DECODE_FAILURES",
    "MAX_BODY_EXCERPT",
    "SENTINEL_FIELDS",
    "as_decode_error",
    "decode_completion",
    "decode_tolerantly",
    "describe_decode_failure",
    "error_in_body",
    "unreadable_response",
]

CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
"""Strict decoder of one `chat.completion.chunk` event (the stream's hot path binds `.decode`)."""
_COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)

MAX_BODY_EXCERPT = 500
"""Characters of an unreadable body kept on the error: enough to see its shape, bounded."""

SENTINEL_FIELDS: frozenset[str] = frozenset({"finish_reason", "role", "type", "id"})
"""Fields whose value only says "this is set": an empty string there means absent (Ollama and
SGLang send `"finish_reason": ""` on every chunk; TGI sends `"id": ""`)."""

ABSENT_FINISH_REASONS: frozenset[str] = frozenset({"", "null"})
"""Finish reasons that mean "not finished": `""` (Ollama, SGLang) and the string `"null"`
(suspected of a KoboldCpp build in PowerShell/AIShell#350)."""

# Fields whose string holds JSON; some servers send the JSON itself (an object) instead.
_JSON_TEXT_FIELDS = frozenset({"arguments"})

# msgspec names the place of a validation failure as "... - at `$.choices[0].message`".
_PATH = re.compile(r" - at `(\$[^`]*)`$")

_S = TypeVar("_S", ChatCompletion, ChatCompletionChunk)

DECODE_FAILURES = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
"""What decoding bytes a server sent can raise: besides msgspec's own errors, JSON nested past
msgspec's depth limit raises RecursionError, and invalid UTF-8 inside a JSON string raises
UnicodeDecodeError. Catch all three wherever a server's bytes are decoded."""


def as_decode_error(exc: BaseException) -> msgspec.DecodeError:
    """Any of `DECODE_FAILURES` as a `msgspec.DecodeError` saying what was wrong."""
    if isinstance(exc, msgspec.DecodeError):
        return exc
    if isinstance(exc, RecursionError):
        return msgspec.DecodeError("JSON is nested too deeply to be read")
    if isinstance(exc, UnicodeDecodeError):
        return msgspec.DecodeError(
            f"JSON is malformed: invalid UTF-8 at byte {exc.start} ({exc.reason})"
        )
    return msgspec.DecodeError(str(exc))


def decode_completion(
    raw: bytes, *, status: int, headers: Mapping[str, str], request_id: str | None
) -> ChatCompletion:
    """A non-streamed 2xx body as a `ChatCompletion`.

    Raises `APIResponseValidationError` when the body cannot be read as one, and the
    `APIStatusError` it describes when the 2xx body carries an error object instead of an answer.
    """
    try:
        completion = _COMPLETION_DECODER.decode(raw)
    except DECODE_FAILURES as strict:
        # Another server's shape: the one tolerant fallback, or the final "unreadable" error.
        try:
            completion = decode_tolerantly(raw, ChatCompletion)
        except DECODE_FAILURES as exc:
            raise unreadable_response(
                raw, as_decode_error(exc), what="a chat.completion", status=status,
                headers=headers, request_id=request_id,
            ) from strict
    if completion.error:
        raise error_in_body(raw, headers=headers, streamed=False)
    for choice in completion.choices:
        # Once per answer, not per chunk: the strict decoder keeps "" (a valid string).
        finish = choice.finish_reason
        if finish == "" or finish == "null":  # ABSENT_FINISH_REASONS, without hashing
            choice.finish_reason = None
        message = choice.message
        if message.role == "":
            message.role = None
        if message.tool_calls:
            for call in message.tool_calls:
                if call.type == "":
                    call.type = "function"  # the field's default, as when it is absent
    return completion


def decode_tolerantly(raw: bytes | str, target: type[_S]) -> _S:
    """The fallback: decode to builtins, reshape by the module's rules, convert to `target`.

    Raises `msgspec.DecodeError` (not JSON) or `msgspec.ValidationError` (a shape no rule
    fixes, with the `$.path` of the first problem).
    """
    data = msgspec.json.decode(raw)
    if isinstance(data, dict):
        data = _reshape(data, _shape_of(target))
    return msgspec.convert(data, target, strict=False)


def error_in_body(
    raw: bytes | str, *, headers: Mapping[str, str], streamed: bool
) -> APIStatusError:
    """The typed error for an error object that arrived in a 2xx answer (a body or a stream
    event), with its status read from the object (500 when it names none)."""
    data = raw.encode() if isinstance(raw, str) else raw
    parsed = parse_error_body(data)
    status = parsed.status if parsed.status is not None and parsed.status >= 400 else 500
    where = "inside its HTTP 200 stream" if streamed else "inside an HTTP 200 body"
    return make_status_error(
        status, data, headers=headers, what="the stream" if streamed else "request",
        arrived=where,
    )


def describe_decode_failure(exc: msgspec.DecodeError) -> tuple[str, str | None]:
    """Why strict decoding failed, in words, and the `$.path` where the shape was unexpected
    (None when the text is not JSON at all)."""
    if isinstance(exc, msgspec.ValidationError):
        match = _PATH.search(str(exc))
        path = match.group(1) if match else "$"
        return f"valid JSON, unexpected shape at {path}: {_PATH.sub('', str(exc))}", path
    return f"not valid JSON ({exc})", None


def unreadable_response(
    raw: bytes | str,
    exc: msgspec.DecodeError,
    *,
    what: str,
    status: int,
    headers: Mapping[str, str],
    request_id: str | None,
) -> APIResponseValidationError:
    """The error for a 2xx body or event that decoding refused, saying why."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    # Redacted before it is cut: a secret cut in half would no longer be recognised. (Only the
    # first 64 KiB are read for it: a huge body is not scanned whole for a 500-character quote.)
    text = redact(text[:65536])
    excerpt = text[:MAX_BODY_EXCERPT] + ("…" if len(text) > MAX_BODY_EXCERPT else "")
    why, path = describe_decode_failure(exc)
    message = (
        f"the server answered HTTP {status} with a body that is not {what}: {why}; "
        "it was not retried, since the server already did the work (the body is in .body)"
    )
    if request_id:
        message += f"; request id {request_id}"
    return APIResponseValidationError(
        message, status_code=status, body=excerpt, path=path, request_id=request_id,
        headers=headers,
    )


# -- the tolerant reshaping ---------------------------------------------------------------------
class _Rule:
    """What one Struct field accepts, read once from its type."""

    __slots__ = ("absent", "dict_ok", "int_only", "item_shape", "json_text", "list_ok",
                 "nullable", "shape")

    def __init__(self, name: str, kind: mi.Type) -> None:
        kinds = kind.types if isinstance(kind, mi.UnionType) else (kind,)
        anything = any(isinstance(k, mi.AnyType) for k in kinds)
        self.nullable = anything or any(isinstance(k, mi.NoneType) for k in kinds)
        self.shape: _Shape | None = None
        self.item_shape: _Shape | None = None
        self.list_ok = anything
        self.dict_ok = anything
        for k in kinds:
            if isinstance(k, mi.StructType):
                self.shape = _shape_of(k.cls)
                self.dict_ok = True
            elif isinstance(k, mi.DictType):
                self.dict_ok = True
            elif isinstance(k, mi.ListType):
                self.list_ok = True
                if isinstance(k.item_type, mi.StructType):
                    self.item_shape = _shape_of(k.item_type.cls)
        self.int_only = any(isinstance(k, mi.IntType) for k in kinds) and not any(
            isinstance(k, mi.FloatType) for k in kinds
        )
        self.json_text = name in _JSON_TEXT_FIELDS and any(isinstance(k, mi.StrType) for k in kinds)
        if name == "finish_reason":
            self.absent: frozenset[str] = ABSENT_FINISH_REASONS
        elif name in SENTINEL_FIELDS:
            self.absent = frozenset({""})
        else:
            self.absent = frozenset()


class _Shape:
    """The rules of one Struct's fields, by wire name, and the aliases that apply to it."""

    __slots__ = ("aliases", "rules")

    def __init__(self) -> None:
        self.rules: dict[str, _Rule] = {}
        self.aliases: tuple[tuple[str, str], ...] = ()


@functools.cache
def _shape_of(cls: type[msgspec.Struct]) -> _Shape:
    # Built on first use of the fallback only (never on the strict path). No wire type refers
    # to itself, so building depth-first ends.
    shape = _Shape()
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{cls!r} is not a msgspec Struct")
    names = {field.encode_name for field in info.fields}
    shape.aliases = tuple(
        (alias, ours) for alias, ours in FIELD_ALIASES.items() if ours in names
    )
    for field in info.fields:
        shape.rules[field.encode_name] = _Rule(field.encode_name, field.type)
    return shape


def _reshape(obj: dict[str, Any], shape: _Shape) -> dict[str, Any]:
    """Apply the rules to one decoded object (in place; it is fresh from the decoder)."""
    for alias, ours in shape.aliases:
        if alias in obj:
            value = obj.pop(alias)
            if obj.get(ours) is None and value is not None:
                obj[ours] = value
    rules = shape.rules
    for key in list(obj):
        rule = rules.get(key)
        if rule is None:
            continue  # unknown fields are skipped by msgspec anyway
        value = obj[key]
        if value is None:
            if not rule.nullable:
                del obj[key]  # the field's default applies
        elif type(value) is str:
            if value in rule.absent:
                del obj[key]
        elif type(value) is dict:
            if rule.shape is not None:
                obj[key] = _reshape(value, rule.shape)
            elif rule.dict_ok:
                pass
            elif rule.item_shape is not None:
                obj[key] = [_reshape(value, rule.item_shape)]
            elif rule.list_ok:
                obj[key] = [value]
            elif rule.json_text:
                obj[key] = msgspec.json.encode(value).decode()
        elif type(value) is list:
            if rule.item_shape is not None:
                item_shape = rule.item_shape
                obj[key] = [
                    _reshape(item, item_shape) if type(item) is dict else item for item in value
                ]
            elif rule.json_text and not rule.list_ok:
                obj[key] = msgspec.json.encode(value).decode()
        elif type(value) is float and rule.int_only and math.isfinite(value):
            obj[key] = int(value)
    return obj
