from __future__ import annotations

from ..errors import SSEBufferOverflowError

__all__ = ["SSEBufferOverflowError", "SSEDecoder", "ServerSentEvent"]

# Operations: `SSEDecoder.feed(chunk)` takes raw bytes as they come off the socket, split
#   anywhere, and returns the events those bytes complete; `end()` closes the stream. No I/O.
#   Parsing follows WHATWG HTML "interpreting an event stream".
# Goals: (1) the same events whatever the chunk boundaries; (2) time linear in the stream
#   length for any split, even one byte per feed; (3) memory bounded by `max_event_size`;
#   (4) as little Python work as possible per event, because every streamed chunk of every
#   completion comes through here.
# Plan:
#   - Fast path. Typical traffic is `data: {json}\n\n` (or \r\n\r\n) repeated, one or a few
#     events per read. When the decoder sits at an event boundary with nothing pending and the
#     chunk starts with "data: " and ends with LF, split it with `bytes.splitlines`; if the
#     lines alternate "data: ..." / "" it is all single-line data events: one event per pair,
#     no state to update. Any other shape goes to the general path, untouched (the fast path
#     changes nothing until it has succeeded).
#   - General path. `_buf` only ever holds the start of an unfinished line: bytes with no line
#     end in them, already scanned. A new chunk is scanned once, from its end, for its last CR
#     or LF; if there is none it is appended to `_buf` (O(len(chunk))), otherwise `_buf` plus
#     the chunk up to that line end is split with `bytes.splitlines` (which breaks on exactly
#     LF, CR and CRLF) and the rest becomes the new `_buf`. Every byte is scanned and copied a
#     fixed number of times, so feeding is linear however the input is split.
#   - A CR that is the last byte of a chunk sets `_cr`, and an LF opening the next chunk is then
#     dropped: a CRLF cut in two is one line end. A UTF-8 BOM is stripped once at stream start,
#     waiting for up to three bytes if the first chunks are shorter.
#   - Data values are kept as bytes and decoded (UTF-8, errors="replace") once per event; other
#     values once per line. Line ends are ASCII, so this equals decoding the whole stream.
#   - Size cap: "bytes of data kept for the current event + length of the line being read"
#     must stay <= max_event_size. That holds for whole lines and for line prefixes alike, so
#     whether it trips does not depend on how the input is split. After it trips the decoder
#     drops its buffers and refuses more input until `end()`.

_BOM = b"\xef\xbb\xbf"
# int() may refuse longer digit strings (sys.set_int_max_str_digits accepts no limit below 640).
# A retry value that long is ignored: it cannot be a meaningful delay anyway.
_MAX_RETRY_DIGITS = 640


class ServerSentEvent:
    """One dispatched event.

    `event` is the event type ("message" when the block gave none or an empty one). `data` is
    the block's data lines joined with "\\n". `id` is the stream's last event ID when the event
    was dispatched: an `id` field persists until another `id` field changes it, as WHATWG
    specifies. `retry` is the stream's reconnection time in milliseconds as last set by a valid
    `retry` field (None if none so far); like `id` it is stream state, not per-event.
    """

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self, event: str = "message", data: str = "", id: str = "", retry: int | None = None
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __repr__(self) -> str:
        return (
            f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, "
            f"retry={self.retry!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (
            self.data == other.data
            and self.event == other.event
            and self.id == other.id
            and self.retry == other.retry
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class SSEDecoder:
    """Incremental, sans-IO decoder of a `text/event-stream` byte stream (WHATWG rules).

    `feed` raises `SSEBufferOverflowError` once one event outgrows `max_event_size`; events
    completed earlier in that same chunk are lost with it, and the decoder refuses further
    input until `end()` resets it.
    """

    __slots__ = (
        "_bom",
        "_buf",
        "_clean",
        "_cr",
        "_error",
        "_event",
        "_id",
        "_lines",
        "_max",
        "_retry",
        "_size",
    )

    def __init__(self, *, max_event_size: int = 64 * 1024 * 1024) -> None:
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be a positive byte count, not {max_event_size}")
        self._max = max_event_size
        # Start of the line being read; never holds a CR or LF. Mutated in place, never rebound.
        self._buf = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._buf.clear()
        # Data values of the current event, undecoded; None between events (one list fewer
        # per open stream for the GC to visit: most streams never leave the fast path).
        self._lines: list[bytes] | None = None
        self._size = 0  # bytes kept in _lines, counting one separator per value
        self._event = ""  # event type buffer
        self._id = ""  # last event ID buffer
        self._retry: int | None = None  # reconnection time
        self._cr = False  # the last byte fed was a CR ending a line
        self._bom = True  # still at stream start: a BOM may follow
        self._error: SSEBufferOverflowError | None = None
        # At an event boundary with nothing pending: the fast path may run.
        self._clean = False

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode the next chunk of the stream; return the events it completes, in order."""
        if self._clean and data[:6] == b"data: " and data[-1:] == b"\n" and len(data) <= self._max:
            lines = data.splitlines()
            if len(lines) == 2 and not lines[1]:
                return [
                    ServerSentEvent(
                        "message", lines[0][6:].decode("utf-8", "replace"), self._id, self._retry
                    )
                ]
            if not (len(lines) & 1 or any(lines[1::2])):
                lines = lines[::2]
                for line in lines:
                    if line[:6] != b"data: ":
                        return self._feed(data)
                last_id = self._id
                retry = self._retry
                return [
                    ServerSentEvent("message", line[6:].decode("utf-8", "replace"), last_id, retry)
                    for line in lines
                ]
        return self._feed(data)

    def end(self) -> list[ServerSentEvent]:
        """Signal end of input and reset for a new stream.

        Always returns []: WHATWG discards an event whose blank line never arrived.
        """
        self._reset()
        return []

    def _feed(self, data: bytes) -> list[ServerSentEvent]:
        if self._error is not None:
            raise SSEBufferOverflowError(self._error.size, self._error.limit)
        buf = self._buf
        if self._bom:
            if buf:  # 1 or 2 bytes that might begin a BOM
                data = bytes(buf) + data
                buf.clear()
            if len(data) < 3 and _BOM.startswith(data):
                buf += data
                return []
            self._bom = False
            if data[:3] == _BOM:
                data = data[3:]
        if self._cr:
            if not data:
                return []
            self._cr = False
            if data[0] == 10:
                data = data[1:]

        last = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if last < 0:
            buf += data
            pending = self._size + len(buf)
            if pending > self._max:
                self._overflow(pending)
            self._clean = False
            return []

        stop = last + 1
        if buf:
            buf += data[:stop]
            block = bytes(buf)
            buf.clear()
        else:
            block = data if stop == len(data) else data[:stop]
        if stop < len(data):
            buf += data[stop:]
        elif data[last] == 13:
            self._cr = True

        limit = self._max
        size = self._size
        check = size + len(block) > limit  # else no line can break the cap
        lines = self._lines
        event = self._event
        events: list[ServerSentEvent] = []
        for line in block.splitlines():
            if not line:
                if lines is not None:
                    events.append(
                        ServerSentEvent(
                            event or "message",
                            b"\n".join(lines).decode("utf-8", "replace"),
                            self._id,
                            self._retry,
                        )
                    )
                    lines = None
                    size = 0
                event = ""
                continue
            if check and size + len(line) > limit:
                self._overflow(size + len(line))
            if line[0] == 58:  # ":" comment
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                if lines is None:
                    lines = [value]
                else:
                    lines.append(value)
                size += len(value) + 1
            elif name == b"event":
                event = value.decode("utf-8", "replace")
            elif name == b"id":
                if 0 not in value:
                    self._id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():  # bytes.isdigit: ASCII digits only
                digits = value.lstrip(b"0") or b"0"
                if len(digits) <= _MAX_RETRY_DIGITS:
                    self._retry = int(digits)
        self._lines = lines
        self._size = size
        self._event = event
        if buf and size + len(buf) > limit:
            self._overflow(size + len(buf))
        self._clean = not (buf or lines is not None or event or self._cr)
        return events

    def _overflow(self, size: int) -> None:
        error = SSEBufferOverflowError(size, self._max)
        self._buf.clear()
        self._lines = None
        self._size = 0
        self._clean = False
        self._error = error
        raise error
