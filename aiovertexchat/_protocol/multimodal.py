"""Content parts for images, audio, PDFs and video, ready for `messages[i]["content"]`.

On this API a URL (`https://…`, `gs://…`) is passed through for the server to fetch, and local
bytes travel inline as a `data:<MIME>;base64,…` URI, through which Vertex accepts any MIME type
(the `image_url` part carries PDFs and video too). Audio uses `input_audio` with a `format`.

Inline data has a size limit on Vertex (7 MB per inline image for Gemini 2.x/3; larger inline
files make the whole request fail with a 400 that does not say which part was too big). The
helpers check the size before encoding and raise `MediaTooLargeError` naming the limit; the
remedy is to upload the file to Cloud Storage and pass its `gs://` URL. Pass `max_bytes=` to
use another limit (e.g. for a self-deployed endpoint).

Paths are read synchronously: build parts for large files in a worker thread
(`await asyncio.to_thread(file_part, path)`).
"""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any, Literal

from ..errors import MediaError, MediaTooLargeError, UnknownMediaTypeError

__all__ = [
    "MAX_INLINE_BYTES",
    "MAX_INLINE_IMAGE_BYTES",
    "MediaError",
    "MediaTooLargeError",
    "UnknownMediaTypeError",
    "audio_part",
    "data_uri",
    "detect_mime",
    "file_part",
    "image_part",
    "text_part",
]

MAX_INLINE_IMAGE_BYTES = 7_000_000
"""Vertex's documented limit for one inline image (Gemini 2.x and 3)."""
MAX_INLINE_BYTES = 20_000_000
"""Default for other inline files: Gemini's request-size limit for inline data; beyond it,
upload to Cloud Storage and pass the gs:// URL."""

_URL_SCHEMES = ("https://", "http://", "gs://", "data:")

Source = str | os.PathLike[str] | bytes | bytearray | memoryview


# -- MIME detection ---------------------------------------------------------------------------
_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"heif": "image/heif",
    b"M4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
}

# Names Gemini uses where they differ from the IANA / mimetypes spelling.
_GEMINI_NAMES = {
    "audio/mpeg": "audio/mp3",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-aiff": "audio/aiff",
    "audio/x-aac": "audio/aac",
    "video/x-msvideo": "video/avi",
}


def _sniff(data: bytes) -> str | None:
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/avi"}.get(
            head[8:12]
        )
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3"):
        return "audio/mp3"
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return "audio/aac"  # ADTS frame header
        if head[1] & 0xE0 == 0xE0:
            return "audio/mp3"  # MPEG audio frame sync
    return None


def detect_mime(data: bytes | None = None, name: str | None = None) -> str | None:
    """The MIME type from magic bytes (trusted first), else from the file name's extension."""
    if data:
        sniffed = _sniff(bytes(data[:16]))
        if sniffed is not None:
            return sniffed
    if name:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        if guessed is not None:
            return _GEMINI_NAMES.get(guessed, guessed)
    return None


def data_uri(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


# -- loading ----------------------------------------------------------------------------------
def _is_url(source: Source) -> bool:
    return isinstance(source, str) and source.startswith(_URL_SCHEMES)


def _too_large(what: str, size: int, limit: int) -> MediaTooLargeError:
    return MediaTooLargeError(
        f"{what} is {size:,} bytes, above the {limit:,}-byte limit for inline data "
        f"({limit / 1e6:g} MB: larger inline files make Vertex reject the whole request). "
        "Upload it to Cloud Storage and pass its gs:// URL, or pass max_bytes= to change the "
        "limit (e.g. for a self-deployed endpoint).",
        size=size,
        limit=limit,
    )


def _check_data_uri(uri: str, limit: int) -> None:
    _, _, payload = uri.partition(",")
    size = len(payload) * 3 // 4  # base64 length to byte length, within 2 bytes
    if size > limit:
        raise _too_large("the data: URI", size, limit)


def _load(source: Source, limit: int) -> tuple[bytes, str | None]:
    """(bytes, name for MIME guessing) of a path or bytes source, size-checked first."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limit:
            raise _too_large("the data", len(data), limit)
        return data, None
    path = Path(source)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(
            f"{str(source)!r} is neither a file nor a URL (https://, gs://, data:)"
        ) from None
    if size > limit:
        raise _too_large(f"{path.name!r}", size, limit)
    return path.read_bytes(), path.name


def _inline(source: Source, mime_type: str | None, limit: int) -> tuple[str, str]:
    """(data: URI, MIME type) for a path or bytes."""
    data, name = _load(source, limit)
    mime = mime_type or detect_mime(data, name)
    if mime is None:
        what = repr(name) if name else "these bytes"
        raise UnknownMediaTypeError(
            f"cannot tell the MIME type of {what}: pass mime_type= (e.g. 'application/pdf')"
        )
    return data_uri(data, mime), mime


def _with_extra(part: dict[str, Any], extra_content: dict[str, Any] | None) -> dict[str, Any]:
    if extra_content is not None:
        part["extra_content"] = extra_content
    return part


# -- parts ------------------------------------------------------------------------------------
def text_part(text: str, *, extra_content: dict[str, Any] | None = None) -> dict[str, Any]:
    return _with_extra({"type": "text", "text": text}, extra_content)


def image_part(
    source: Source,
    *,
    mime_type: str | None = None,
    detail: Literal["auto", "low", "high"] | None = None,
    max_bytes: int = MAX_INLINE_IMAGE_BYTES,
    extra_content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An `image_url` part from a path, bytes, or an `https://` / `gs://` / `data:` URL."""
    if _is_url(source):
        url = str(source)
        if url.startswith("data:"):
            _check_data_uri(url, max_bytes)
    else:
        url, _ = _inline(source, mime_type, max_bytes)
    image: dict[str, Any] = {"url": url}
    if detail is not None:
        image["detail"] = detail
    return _with_extra({"type": "image_url", "image_url": image}, extra_content)


def file_part(
    source: Source,
    *,
    mime_type: str | None = None,
    max_bytes: int = MAX_INLINE_BYTES,
    extra_content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Any file (PDF, video, text, …) as a part; local bytes go inline as a `data:` URI."""
    return image_part(
        source, mime_type=mime_type, max_bytes=max_bytes, extra_content=extra_content
    )


def _audio_format(value: str) -> str:
    mime = value if "/" in value else f"audio/{value.lower()}"
    return _GEMINI_NAMES.get(mime, mime)


def audio_part(
    source: Source,
    *,
    format: str | None = None,  # named as the wire field
    max_bytes: int = MAX_INLINE_BYTES,
    extra_content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An `input_audio` part. `format` ("mp3", "wav", "audio/flac", …) is detected when not
    given: from the bytes, or from the URL's extension."""
    if _is_url(source):
        data = str(source)
        if data.startswith("data:"):
            _check_data_uri(data, max_bytes)
            declared = data[5:].split(";", 1)[0].split(",", 1)[0]
            detected = declared or None
        else:
            detected = detect_mime(None, data.rsplit("/", 1)[-1].split("?", 1)[0])
    else:
        data, detected = _inline(source, format and _audio_format(format), max_bytes)
    fmt = format or detected
    if fmt is None:
        raise UnknownMediaTypeError(
            f"cannot tell the audio format of {data[:80]!r}: pass format= (e.g. 'mp3', 'wav')"
        )
    audio = {"data": data, "format": _audio_format(fmt)}
    return _with_extra({"type": "input_audio", "input_audio": audio}, extra_content)
