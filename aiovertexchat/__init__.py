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
from .extras import ConflictingParametersError, GoogleExtras, SafetySetting, ThinkingConfig
from .multimodal import (
    MediaError,
    MediaTooLargeError,
    UnknownMediaTypeError,
    audio_part,
    file_part,
    image_part,
    text_part,
)
from .schema import UnsupportedSchemaError
from .stream import ChatStream, StreamMetrics
from .structured import (
    ContentFilterFinishReasonError,
    InvalidJSONError,
    LengthFinishReasonError,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    StructuredOutputError,
)
from .thoughts import ThoughtSplitter
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
    "ConflictingParametersError",
    "ContentFilterFinishReasonError",
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
    "RateLimitError",
    "ResponseInfo",
    "SafetySetting",
    "StaticToken",
    "StreamInterruptedError",
    "StreamMetrics",
    "StructuredOutputError",
    "ThinkingConfig",
    "ThoughtSplitter",
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
    "pydantic_function_tool",
    "text_part",
]
