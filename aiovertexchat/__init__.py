"""aiovertexchat: a fast asyncio client for Vertex AI's OpenAI-compatible Chat Completions API."""

from .auth import AuthProvider, CallableToken, NoAuth, StaticToken
from .client import AsyncVertexChat, ResponseInfo
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamInterruptedError,
    StreamTimeoutError,
    TokenRefreshError,
    UnprocessableEntityError,
)
from .extras import ConflictingParametersError, GoogleExtras, SafetySetting, ThinkingConfig
from .google_auth import AuthStats, GoogleAuth
from .multimodal import (
    MediaError,
    MediaTooLargeError,
    UnknownMediaTypeError,
    audio_part,
    file_part,
    image_part,
    text_part,
)
from .ratelimit import RateLimit
from .retry import RetryPolicy
from .schema import UnsupportedSchemaError
from .stats import ClientStats
from .stream import ChatStream, StreamMetrics
from .structured import (
    ContentFilterFinishReasonError,
    InvalidJSONError,
    LengthFinishReasonError,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    StructuredOutputError,
    parse_completion,
    resolve_response_format,
)
from .thoughts import ThoughtSplitter
from .timeouts import Timeouts
from .token_schedule import RefreshPolicy
from .tools import function_tool, pydantic_function_tool
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

__all__ = [
    "APIConnectionError",
    "APIError",
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
    "GoogleAuth",
    "GoogleExtras",
    "InternalServerError",
    "InvalidJSONError",
    "LengthFinishReasonError",
    "MediaError",
    "MediaTooLargeError",
    "NoAuth",
    "NotFoundError",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RefreshPolicy",
    "ResponseInfo",
    "RetryPolicy",
    "SafetySetting",
    "StaticToken",
    "StreamInterruptedError",
    "StreamMetrics",
    "StreamTimeoutError",
    "StructuredOutputError",
    "ThinkingConfig",
    "ThoughtSplitter",
    "Timeouts",
    "TokenRefreshError",
    "ToolCall",
    "UnknownMediaTypeError",
    "UnprocessableEntityError",
    "UnsupportedSchemaError",
    "Usage",
    "__version__",
    "audio_part",
    "file_part",
    "function_tool",
    "image_part",
    "parse_completion",
    "pydantic_function_tool",
    "resolve_response_format",
    "text_part",
]
