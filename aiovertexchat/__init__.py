"""aiovertexchat: a fast asyncio client for Vertex AI's OpenAI-compatible Chat Completions API."""

from . import _compat
from ._auth.google import AuthStats, GoogleAuth
from ._auth.schedule import RefreshPolicy
from ._auth.sources import AuthProvider, CallableToken, NoAuth, StaticToken
from ._http.stream import ChatStream, StreamMetrics
from ._protocol.given import NOT_GIVEN, NotGiven, Omit, omit
from ._protocol.google_options import GoogleExtras, SafetySetting, ThinkingConfig
from ._protocol.multimodal import audio_part, file_part, image_part, text_part
from ._protocol.structured import (
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    parse_completion,
    resolve_response_format,
)
from ._protocol.thoughts import ThoughtSplitter
from ._protocol.tools import function_tool, pydantic_function_tool
from ._reliability.client_stats import ClientStats
from ._reliability.ratelimit import RateLimit
from ._reliability.redis_ratelimit import RedisRateLimit
from ._reliability.retry import RetryPolicy
from ._reliability.sizes import SizeLimits
from ._reliability.timeouts import Timeouts
from ._surface.responses import RawResponse
from ._surface.sync import SyncChatStream, VertexChat
from .client import AsyncVertexChat, ResponseInfo
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConflictingParametersError,
    ContentFilterFinishReasonError,
    Failure,
    FailureKind,
    InternalServerError,
    InvalidJSONError,
    InvalidRequestError,
    LengthFinishReasonError,
    MediaError,
    MediaTooLargeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedactedError,
    ResponseTooLargeError,
    StreamInterruptedError,
    StreamTimeoutError,
    StructuredOutputError,
    TokenRefreshError,
    UnknownMediaTypeError,
    UnknownParameterError,
    UnprocessableEntityError,
    UnsupportedSchemaError,
    classify_failure,
)
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    ToolCall,
    Usage,
)

__version__ = "0.1.0"

_compat.install()

__all__ = [
    "NOT_GIVEN",
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
