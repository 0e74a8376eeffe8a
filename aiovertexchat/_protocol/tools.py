"""Declaring tools from Python: `function_tool(func)` and `pydantic_function_tool(Model)`.

Both return the plain `{"type": "function", "function": {...}}` dict that `tools=` takes, with a
parameter schema Vertex accepts (references inlined; recursion refused, see `schema.py`).
`function_tool` reads the signature's type hints (msgspec describes them; pydantic models are
described by pydantic) and the docstring: its first paragraph becomes the description, and
`Args:` (Google style) or `:param name:` (Sphinx style) lines describe the parameters.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from .schema import UnsupportedSchemaError, is_pydantic_model, to_vertex_schema

__all__ = ["function_tool", "pydantic_function_tool"]

_REF_TEMPLATE = "#/$defs/{name}"
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")
_GOOGLE_PARAM = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$"
)


def _docstring_parts(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(description, {parameter: description}) from a Google- or Sphinx-style docstring."""
    if not doc:
        return None, {}
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        heading = _SECTION.match(line)
        if heading:
            section, entry_indent, current = heading.group(1), None, None
            continue
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            section = ":param"
            continue
        if section is None:
            summary.append(stripped)
        elif section in ("Args", "Arguments", "Parameters") and stripped:
            if entry_indent is None:
                entry_indent = indent
            google = _GOOGLE_PARAM.match(line)
            if indent == entry_indent and google:
                current = google.group(1).lstrip("*")
                params[current] = google.group(2).strip()
            elif indent > entry_indent and current is not None:
                params[current] = f"{params[current]} {stripped}".strip()
        elif section == ":param" and stripped and current is not None and indent > 0:
            params[current] = f"{params[current]} {stripped}".strip()
    # The description is the first paragraph.
    paragraph: list[str] = []
    for line in summary:
        if not line:
            if paragraph:
                break
            continue
        paragraph.append(line)
    return (" ".join(paragraph) or None), params


def _parameter_schemas(hints: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One schema per type, sharing one `$defs`. msgspec describes the types; a pydantic model
    anywhere inside one (even in `Model | None`) is described by pydantic through the hook."""
    pydantic_defs: dict[str, Any] = {}

    def hook(tp: Any) -> dict[str, Any]:
        if not is_pydantic_model(tp):
            raise NotImplementedError
        schema = tp.model_json_schema()  # pydantic refers to "#/$defs/{model}" too
        pydantic_defs.update(schema.pop("$defs", {}))
        pydantic_defs[tp.__name__] = schema
        return {"$ref": _REF_TEMPLATE.format(name=tp.__name__)}

    try:
        found, components = msgspec.json.schema_components(
            hints, schema_hook=hook, ref_template=_REF_TEMPLATE
        )
    except (TypeError, NotImplementedError) as exc:
        raise UnsupportedSchemaError(
            f"cannot describe a parameter type as JSON schema ({exc}); use builtins, "
            "Literal, enums, dataclasses, TypedDicts, msgspec Structs or pydantic models"
        ) from None
    return [dict(schema) for schema in found], {**components, **pydantic_defs}


def function_tool(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A tool declaration for `func`, from its type hints and docstring.

    Every parameter needs a type hint; parameters with a default are optional. `*args` and
    `**kwargs` cannot be described and raise `TypeError`.
    """
    if not callable(func):
        raise TypeError(f"function_tool() needs a function, got {type(func).__name__}")
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise TypeError(f"cannot resolve the type hints of {func!r}: {exc}") from None
    doc_description, doc_params = _docstring_parts(inspect.getdoc(func))
    names: list[str] = []
    types: list[Any] = []
    required: list[str] = []
    defaults: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"{func.__qualname__}(): *{param.name} / **{param.name} cannot be described to "
                "the model; declare each argument"
            )
        if param.name not in hints:
            raise TypeError(
                f"{func.__qualname__}(): parameter {param.name!r} has no type hint; the model "
                "needs one to know what to pass"
            )
        names.append(param.name)
        types.append(hints[param.name])
        if param.default is param.empty:
            required.append(param.name)
        else:
            # A default with no JSON form is still optional, just not shown.
            with contextlib.suppress(TypeError):
                defaults[param.name] = msgspec.to_builtins(param.default)
    schemas, defs = _parameter_schemas(types)
    properties: dict[str, Any] = {}
    for pname, schema in zip(names, schemas, strict=True):
        if pname in doc_params and "description" not in schema:
            schema["description"] = doc_params[pname]
        if pname in defaults:
            schema.setdefault("default", defaults[pname])
        properties[pname] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    if defs:
        parameters["$defs"] = defs
    function: dict[str, Any] = {"name": name or func.__name__}
    text = description if description is not None else doc_description
    if text:
        function["description"] = text
    function["parameters"] = to_vertex_schema(parameters)
    return {"type": "function", "function": function}


def pydantic_function_tool(
    model: type[Any], *, name: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """A tool whose arguments are `model`'s fields (`Model.model_validate_json(arguments)`
    turns a call back into the model). pydantic is an optional extra."""
    if not is_pydantic_model(model):
        try:
            import pydantic  # noqa: F401  (only to tell "missing" from "wrong type")
        except ImportError:
            raise ImportError(
                "pydantic_function_tool() needs pydantic: pip install 'aiovertexchat[pydantic]'"
            ) from None
        raise TypeError(f"pydantic_function_tool() needs a pydantic model class, got {model!r}")
    schema = to_vertex_schema(model.model_json_schema())
    doc = schema.pop("description", None)
    schema.pop("title", None)
    function: dict[str, Any] = {"name": name or model.__name__}
    text = description if description is not None else doc
    if text:
        function["description"] = text
    function["parameters"] = schema
    return {"type": "function", "function": function}
