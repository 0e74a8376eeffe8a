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
    UnprocessableEntityError,
)
from .stream import ChatStream, StreamMetrics
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
    "InternalServerError",
    "NoAuth",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseInfo",
    "StaticToken",
    "StreamInterruptedError",
    "StreamMetrics",
    "ToolCall",
    "UnprocessableEntityError",
    "Usage",
    "__version__",
]
