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
    TokenRefreshError,
    UnprocessableEntityError,
)
from .google_auth import AuthStats, GoogleAuth
from .stream import ChatStream, StreamMetrics
from .token_schedule import RefreshPolicy
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
    "ConfigurationError",
    "ConflictError",
    "GoogleAuth",
    "InternalServerError",
    "NoAuth",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RefreshPolicy",
    "ResponseInfo",
    "StaticToken",
    "StreamInterruptedError",
    "StreamMetrics",
    "TokenRefreshError",
    "ToolCall",
    "UnprocessableEntityError",
    "Usage",
    "__version__",
]
