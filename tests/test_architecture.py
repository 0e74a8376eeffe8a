"""The package's shape, checked: layer rules read from the imports, the exported names pinned,
and the old module paths still importing.

The layers (shared/DESIGN.md; README "How the code is organised"), bottom to top:
  errors, _redact                     what every layer may use
  _protocol, types                    sans-IO: no asyncio, no aiohttp
  _reliability, _auth, _telemetry     decisions, limits, tokens, telemetry: no aiohttp
  _http                               the only aiohttp importer on the client side
  client, __init__, sse, _compat,     composition and public surface
  _surface, streaming                 (the OpenAI SDK's call shapes and the sync client)
  batch, bench, cli, integrations     callers of the client
  emulator                            an independent server: imports nothing of the client
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import aiovertexchat
from aiovertexchat._compat import MOVED_MODULES

PACKAGE_DIR = Path(aiovertexchat.__file__).parent
CALLERS = ("batch", "bench", "cli", "integrations")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (relative imports resolved)
    module_level: bool  # not inside a function
    type_only: bool  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    if not _is(dotted, "aiovertexchat"):
        return False
    path = PACKAGE_DIR.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports_of(path: Path) -> list[Import]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), in_function, type_only)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(name, alias.name, not in_function, type_only))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append(Import(name, target, not in_function, type_only))
                # `from . import x` imports the module `x` (when `x` is a module)
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    if _is_module(sub):
                        found.append(Import(name, sub, not in_function, type_only))
            else:
                visit(child, in_function, type_only)

    visit(tree, False, False)
    return found


def _all_imports() -> list[Import]:
    return [imp for path in sorted(PACKAGE_DIR.rglob("*.py")) for imp in _imports_of(path)]


def _layer(module: str) -> str:
    """The first component below `aiovertexchat` ('client', '_http', 'emulator', ...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is(target: str, top: str) -> bool:
    return target == top or target.startswith(top + ".")


IMPORTS = _all_imports()


def test_the_import_reader_sees_the_package() -> None:
    # Guards the checks below against passing on an empty list.
    importers = {imp.importer for imp in IMPORTS}
    assert {"aiovertexchat.client", "aiovertexchat._http.transport"} <= importers
    assert Import("aiovertexchat._http.transport", "aiohttp", True, False) in IMPORTS


def test_aiohttp_only_in_the_http_layer_and_the_emulator() -> None:
    offenders = sorted(
        f"{imp.importer} imports {imp.target}"
        for imp in IMPORTS
        if _is(imp.target, "aiohttp") and _layer(imp.importer) not in ("_http", "emulator")
    )
    assert offenders == []


@pytest.mark.parametrize("forbidden", ["asyncio", "aiohttp", "anyio", "time"])
def test_sans_io_layer_has_no_io_and_no_clock(forbidden: str) -> None:
    sans_io = ("_protocol", "types", "errors", "_redact")
    offenders = sorted(
        f"{imp.importer} imports {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) in sans_io and _is(imp.target, forbidden)
    )
    assert offenders == []


def test_lower_layers_never_import_upper_ones() -> None:
    rank = {
        "errors": 0, "_redact": 0,
        "_protocol": 1, "types": 1,
        "_reliability": 2, "_auth": 2,
        # Telemetry sits beside _reliability: the attempt loop (_http) calls it, it reads the
        # limiter and the price table, and it never imports aiohttp.
        "_telemetry": 2,
        "_http": 3,
        "client": 4, "__init__": 4, "sse": 4, "_compat": 4, "_surface": 4, "streaming": 4,
        **dict.fromkeys((*CALLERS, "emulator", "__main__"), 5),
    }
    offenders = []
    for imp in IMPORTS:
        if imp.type_only or not _is(imp.target, "aiovertexchat"):
            continue
        source, target = _layer(imp.importer), _layer(imp.target)
        if source == "emulator" or source == target:
            continue
        if rank[target] > rank[source]:
            offenders.append(f"{imp.importer} imports {imp.target}")
    # Two named exceptions, both imports made when called, never at import time:
    # `AsyncVertexChat.batch()` is the documented entry point to the batch runner (batch depends
    # on the client, never the reverse), and errors.py keeps `make_status_error` importable
    # from its old home through a module __getattr__.
    allowed = {"aiovertexchat.client imports aiovertexchat.batch",
               "aiovertexchat.errors imports aiovertexchat._protocol",
               "aiovertexchat.errors imports aiovertexchat._protocol.error_body"}
    assert sorted(set(offenders) - allowed) == []
    lazy = [imp for imp in IMPORTS
            if f"{imp.importer} imports {imp.target}" in allowed and not imp.type_only]
    assert lazy and not any(imp.module_level for imp in lazy)


def test_core_never_imports_its_callers_or_the_emulator() -> None:
    core = {"errors", "types", "_redact", "_protocol", "_reliability", "_auth", "_http", "sse",
            "_telemetry"}
    offenders = sorted(
        f"{imp.importer} imports {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) in core
        and any(_is(imp.target, f"aiovertexchat.{c}") for c in (*CALLERS, "emulator"))
        and not imp.type_only
    )
    assert offenders == []


def test_emulator_imports_nothing_of_the_client() -> None:
    offenders = sorted(
        f"{imp.importer} imports {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) == "emulator"
        and _is(imp.target, "aiovertexchat")
        and not _is(imp.target, "aiovertexchat.emulator")
    )
    assert offenders == []


EXPORTED = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncVertexChat",
    "AuthProvider",
    "AuthStats",
    "AuthenticationError",
    "BadRequestError",
    "CallableToken",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatStream",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "ClientStats",
    "ConfigurationError",
    "ConflictError",
    "ConflictingParametersError",
    "ContentFilterFinishReasonError",
    "Failure",
    "FailureKind",
    "GoogleAuth",
    "GoogleExtras",
    "InternalServerError",
    "InvalidJSONError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "MediaError",
    "MediaTooLargeError",
    "NOT_GIVEN",
    "NoAuth",
    "NotFoundError",
    "NotGiven",
    "Omit",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RawResponse",
    "RedactedError",
    "RedisRateLimit",
    "RefreshPolicy",
    "ResponseInfo",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SafetySetting",
    "SizeLimits",
    "StaticToken",
    "StreamInterruptedError",
    "StreamMetrics",
    "StreamTimeoutError",
    "StructuredOutputError",
    "SyncChatStream",
    "ThinkingConfig",
    "ThoughtSplitter",
    "Timeouts",
    "TokenRefreshError",
    "ToolCall",
    "UnknownMediaTypeError",
    "UnknownParameterError",
    "UnprocessableEntityError",
    "UnsupportedSchemaError",
    "Usage",
    "VertexChat",
    "__version__",
    "audio_part",
    "classify_failure",
    "file_part",
    "function_tool",
    "image_part",
    "omit",
    "parse_completion",
    "pydantic_function_tool",
    "resolve_response_format",
    "text_part",
]


def test_exported_names_are_pinned() -> None:
    # A change here is a change of the public API: update the README with it.
    assert sorted(aiovertexchat.__all__) == sorted(EXPORTED)
    for name in aiovertexchat.__all__:
        assert getattr(aiovertexchat, name) is not None, name


def test_every_public_exception_lives_in_errors() -> None:
    import aiovertexchat.errors as errors

    for name in aiovertexchat.__all__:
        value = getattr(aiovertexchat, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert value.__module__ == "aiovertexchat.errors", name
            assert name in errors.__all__, name
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_the_root_shows_only_its_exports_and_sub_packages() -> None:
    public = {name for name in vars(aiovertexchat) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(aiovertexchat, name)).__name__ == "module"}
    assert public - modules <= set(aiovertexchat.__all__)


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_paths_import_the_moved_module(old: str) -> None:
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED_MODULES[old])
    assert sys.modules[old] is module
    # The module keeps its own identity: relative imports inside it still resolve.
    assert module.__spec__ is not None and module.__spec__.name == MOVED_MODULES[old]
    assert module.__package__ == module.__spec__.parent


def test_old_paths_give_the_same_classes() -> None:
    from aiovertexchat.multimodal import MediaError  # type: ignore[import-not-found]
    from aiovertexchat.retry import RetryPolicy  # type: ignore[import-not-found]
    from aiovertexchat.stream import ChatStream  # type: ignore[import-not-found]

    from aiovertexchat.errors import make_status_error  # moved helper, still importable

    assert ChatStream is aiovertexchat.ChatStream
    assert RetryPolicy is aiovertexchat.RetryPolicy
    assert MediaError is aiovertexchat.MediaError
    assert make_status_error(429, b"").status_code == 429


def test_refused_requests_stay_catchable_as_before() -> None:
    from aiovertexchat.errors import (
        ConflictingParametersError,
        InvalidBatchItemError,
        InvalidRequestError,
        MediaError,
        UnknownParameterError,
        UnsupportedSchemaError,
    )

    for cls in (ConflictingParametersError, InvalidBatchItemError, MediaError,
                UnknownParameterError, UnsupportedSchemaError):
        assert issubclass(cls, InvalidRequestError) and issubclass(cls, ValueError)
    assert issubclass(UnknownParameterError, TypeError)
