"""The keyword arguments `create()` takes besides `messages` and `stream`, as TypedDicts, so the
wrappers (`with_raw_response`, `with_streaming_response`, `stream()`, the sync client) type
them once instead of repeating every parameter."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from .._protocol.params import CompletionParams, ParseParams

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import NotRequired

if TYPE_CHECKING:
    from .._protocol.given import NotGiven, Omit
    from .._protocol.google_options import GoogleExtras
    from .._reliability.retry import RetryPolicy
    from .._reliability.timeouts import Timeouts

__all__ = ["CallOptions", "CreateOptions", "ParseOptions"]


class CallOptions(TypedDict):
    """`create()`'s keywords that are not body parameters (see `Completions.create`)."""

    model: NotRequired[str | NotGiven | Omit | None]
    extra_body: NotRequired[Mapping[str, Any] | None]
    extra_headers: NotRequired[Mapping[str, str] | None]
    extra_query: NotRequired[Mapping[str, object] | None]
    timeout: NotRequired[float | Timeouts | NotGiven | Omit | None]
    retry: NotRequired[RetryPolicy | None]
    google: NotRequired[GoogleExtras | Mapping[str, Any] | None]
    separate_thoughts: NotRequired[bool]


class CreateOptions(CallOptions, CompletionParams):
    """Every keyword of `create()` but `messages` and `stream`."""


class ParseOptions(CallOptions, ParseParams):
    """Every keyword of `parse()` and `stream()` but `messages` and `response_format`."""
