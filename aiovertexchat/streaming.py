"""The types of the OpenAI SDK's call shapes, for annotations: the events of
`chat.completions.stream()`, its stream objects (async and sync), and the responses of
`with_raw_response` / `with_streaming_response`.

```python
from aiovertexchat.streaming import ChatCompletionStreamEvent, ContentDeltaEvent
```
"""

from ._protocol.stream_events import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    LogprobsContentDeltaEvent,
    LogprobsContentDoneEvent,
    LogprobsRefusalDeltaEvent,
    LogprobsRefusalDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
)
from ._surface.responses import AsyncStreamedResponse, Headers, RawResponse
from ._surface.streaming import AsyncChatCompletionStream, AsyncChatCompletionStreamManager
from ._surface.sync import (
    ChatCompletionStream,
    ChatCompletionStreamManager,
    StreamedResponse,
    SyncChatStream,
)

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncChatCompletionStreamManager",
    "AsyncStreamedResponse",
    "ChatCompletionStream",
    "ChatCompletionStreamEvent",
    "ChatCompletionStreamManager",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "Headers",
    "LogprobsContentDeltaEvent",
    "LogprobsContentDoneEvent",
    "LogprobsRefusalDeltaEvent",
    "LogprobsRefusalDoneEvent",
    "RawResponse",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "StreamedResponse",
    "SyncChatStream",
]
