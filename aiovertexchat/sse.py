"""Public home of the sans-IO SSE decoder (`aiovertexchat.sse.SSEDecoder`); see `_protocol.sse`."""

from ._protocol.sse import ServerSentEvent, SSEBufferOverflowError, SSEDecoder

__all__ = ["SSEBufferOverflowError", "SSEDecoder", "ServerSentEvent"]
