"""A small deterministic generator of JSON values that satisfy a JSON schema. Sans-IO.

The emulator answers `response_format: json_schema` and tool calls with values made here. It
covers what structured-output schemas use: `type` (also as a list), `properties` / `required`,
`items` / `minItems` / `maxItems`, `enum` / `const`, `anyOf` / `oneOf` / `allOf`, `$ref` into
`$defs`, `nullable`, string `format`s (date, date-time, time, email, uri, uuid),
`minLength` / `maxLength`, and `minimum` / `maximum` (also exclusive). `pattern` and
`additionalProperties` are not acted on.

Choices come from SHAKE-256 over a key, never from `random`, so the same request gets the
same value in every process and Python version. Optional properties are included when a draw
says so; beyond a nesting depth the generator takes the smallest valid choice (no optional
properties, `minItems` items, null where allowed), so even recursive schemas end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SchemaInstanceGenerator", "schema_instance"]

_MAX_DEPTH = 6
_DEFAULT_MAX_ITEMS = 3


class _Draws:
    """An endless deterministic byte source for one key."""

    __slots__ = ("_block", "_buffer", "_key", "_pos", "_words")

    def __init__(self, key: bytes, words: Sequence[str]) -> None:
        self._key = key
        self._words = words
        self._block = 0
        self._buffer = b""
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._buffer):
            self._buffer = hashlib.shake_256(self._key + b"|%d" % self._block).digest(64)
            self._block += 1
            self._pos = 0
        value = self._buffer[self._pos]
        self._pos += 1
        return value

    def below(self, n: int) -> int:
        """A value in [0, n) for n >= 1 (slightly biased; fine for test data)."""
        if n <= 1:
            return 0
        value = 0
        for _ in range(4 if n > 256 else 1):
            value = value * 256 + self.byte()
        return value % n

    def word(self) -> str:
        return self._words[self.below(len(self._words))]


_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


class SchemaInstanceGenerator:
    def __init__(
        self, root: Mapping[str, Any], key: bytes, words: Sequence[str] = _WORDS
    ) -> None:
        self._defs: dict[str, Any] = {}
        for name in ("$defs", "definitions"):
            found = root.get(name)
            if isinstance(found, Mapping):
                self._defs.update(found)
        self._root = root
        self._draws = _Draws(key, words)

    def value(self, schema: Any = None, depth: int = 0) -> Any:
        return self._value(self._root if schema is None else schema, depth)

    # -- dispatch ---------------------------------------------------------------------------
    def _resolve(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 64:
            ref: str = schema["$ref"]
            name = ref.rsplit("/", 1)[-1]
            target = self._root if ref == "#" else self._defs.get(name, {})
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
            seen += 1
        return schema

    def _value(self, schema: Any, depth: int) -> Any:
        schema = self._resolve(schema)
        if not isinstance(schema, Mapping):
            return self._draws.word()
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[self._draws.below(len(enum))]
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            merged: dict[str, Any] = {}
            for part in all_of:
                part = self._resolve(part)
                if isinstance(part, Mapping):
                    merged.update(part)
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self._value({**merged, **rest}, depth)
        options = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list) and options:
            return self._value(self._pick_option(options, depth), depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0] if depth < _MAX_DEPTH else ("null" if "null" in kind else kinds[0])
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                kind = "string"
        if schema.get("nullable") is True and depth >= _MAX_DEPTH:
            return None
        maker = getattr(self, f"_{kind}", None)
        if maker is None:
            return None
        return maker(schema, depth)

    def _pick_option(self, options: list[Any], depth: int) -> Any:
        resolved = [self._resolve(o) for o in options]
        non_null = [o for o in resolved if not (isinstance(o, Mapping) and o.get("type") == "null")]
        if depth >= _MAX_DEPTH and len(non_null) < len(resolved):
            return {"type": "null"}
        pool = non_null or resolved
        return pool[self._draws.below(len(pool))]

    # -- types ------------------------------------------------------------------------------
    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        required = schema.get("required")
        needed = set(required) if isinstance(required, list) else set()
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            include = name in needed or (depth < _MAX_DEPTH - 1 and self._draws.below(4) != 0)
            if include:
                result[name] = self._value(sub, depth + 1)
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, _DEFAULT_MAX_ITEMS)))
        count = low if depth >= _MAX_DEPTH - 1 else low + self._draws.below(high - low + 1)
        if count == 0 and depth < _MAX_DEPTH - 1 and high > 0:
            count = 1  # an empty list shows little; keep one item when the schema allows it
        items = schema.get("items", {})
        return [self._value(items, depth + 1) for _ in range(count)]

    def _string(self, schema: Mapping[str, Any], depth: int) -> str:
        fmt = schema.get("format")
        d = self._draws
        if fmt == "date":
            text = f"20{10 + d.below(20):02d}-{1 + d.below(12):02d}-{1 + d.below(28):02d}"
        elif fmt == "date-time":
            text = (
                f"20{10 + d.below(20):02d}-{1 + d.below(12):02d}-{1 + d.below(28):02d}"
                f"T{d.below(24):02d}:{d.below(60):02d}:{d.below(60):02d}Z"
            )
        elif fmt == "time":
            text = f"{d.below(24):02d}:{d.below(60):02d}:{d.below(60):02d}"
        elif fmt == "email":
            text = f"user{d.below(1000)}@example.com"
        elif fmt in ("uri", "url"):
            text = f"https://example.com/item/{d.below(10000)}"
        elif fmt == "uuid":
            hexes = "".join(f"{d.byte():02x}" for _ in range(16))
            text = f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-a{hexes[17:20]}-{hexes[20:32]}"
        else:
            text = " ".join(d.word() for _ in range(1 + d.below(3)))
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        while len(text) < low:
            text += " " + d.word()
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text

    def _bounds(self, schema: Mapping[str, Any], integer: bool) -> tuple[float, float]:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", max(100, low + 100)))
        step = 1 if integer else 0.25
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            low += step
        if "exclusiveMaximum" in schema and "maximum" not in schema:
            high -= step
        return low, high

    def _integer(self, schema: Mapping[str, Any], depth: int) -> int:
        low, high = self._bounds(schema, integer=True)
        lo, hi = int(-(-low // 1)), int(high // 1)
        return lo + self._draws.below(max(hi - lo + 1, 1))

    def _number(self, schema: Mapping[str, Any], depth: int) -> float:
        low, high = self._bounds(schema, integer=False)
        steps = int((high - low) * 4)
        return float(low + self._draws.below(max(steps + 1, 1)) / 4)

    def _boolean(self, schema: Mapping[str, Any], depth: int) -> bool:
        return self._draws.below(2) == 1

    def _null(self, schema: Mapping[str, Any], depth: int) -> None:
        return None


def schema_instance(
    schema: Mapping[str, Any], key: bytes, words: Sequence[str] = _WORDS
) -> Any:
    """A value satisfying `schema`, chosen deterministically by `key` (strings from `words`)."""
    return SchemaInstanceGenerator(schema, key, words).value()
