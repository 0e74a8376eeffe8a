"""Content-part helpers: sources, MIME detection, and the inline size limit."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from aiovertexchat import (
    MediaError,
    MediaTooLargeError,
    UnknownMediaTypeError,
    audio_part,
    file_part,
    image_part,
    text_part,
)
from aiovertexchat._protocol.multimodal import MAX_INLINE_IMAGE_BYTES, detect_mime

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
PDF = b"%PDF-1.7\n" + b"x" * 20
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 16
MP3 = b"ID3\x04\x00" + b"\x00" * 20


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (PDF, "application/pdf"),
        (WAV, "audio/wav"),
        (MP3, "audio/mp3"),
        (b"\xff\xfb\x90\x00" + b"\x00" * 8, "audio/mp3"),
        (b"\xff\xf1\x50\x80" + b"\x00" * 8, "audio/aac"),
        (b"fLaC\x00\x00", "audio/flac"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"FORM\x00\x00\x00\x00AIFF", "audio/aiff"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x20ftypqt  \x00\x00", "video/quicktime"),
        (b"\x00\x00\x00\x20ftypheic\x00\x00", "image/heic"),
        (b"\x1a\x45\xdf\xa3\x01\x00", "video/webm"),
    ],
)
def test_magic_bytes(data: bytes, mime: str) -> None:
    assert detect_mime(data) == mime


def test_magic_bytes_beat_a_wrong_extension_and_names_are_the_fallback() -> None:
    assert detect_mime(PNG, "photo.jpg") == "image/png"
    assert detect_mime(b"plain text", "notes.pdf") == "application/pdf"
    assert detect_mime(None, "song.mp3") == "audio/mp3"  # Gemini's spelling of audio/mpeg
    assert detect_mime(b"????", "unknown.zzz") is None


def test_image_from_bytes_and_path(tmp_path: Path) -> None:
    part = image_part(PNG, detail="low")
    url = part["image_url"]["url"]
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "low"
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG
    path = tmp_path / "picture.bin"
    path.write_bytes(JPEG)
    assert image_part(path)["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert image_part(str(path))["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a.png", "gs://bucket/scones.jpg", "data:image/png;base64,iVBO"],
)
def test_urls_pass_through(url: str) -> None:
    assert image_part(url) == {"type": "image_url", "image_url": {"url": url}}


def test_any_mime_through_a_data_uri_and_extra_content(tmp_path: Path) -> None:
    doc = tmp_path / "report.pdf"
    doc.write_bytes(PDF)
    part = file_part(doc, extra_content={"google": {"x": 1}})
    assert part["image_url"]["url"].startswith("data:application/pdf;base64,")
    assert part["extra_content"] == {"google": {"x": 1}}
    video = file_part(b"\x00\x00\x00\x20ftypisom\x00\x00")
    assert video["image_url"]["url"].startswith("data:video/mp4;base64,")
    custom = file_part(b"a,b\n1,2\n", mime_type="text/csv")
    assert custom["image_url"]["url"] == "data:text/csv;base64," + base64.b64encode(
        b"a,b\n1,2\n"
    ).decode()
    assert text_part("hi", extra_content={"google": {"thought": False}}) == {
        "type": "text",
        "text": "hi",
        "extra_content": {"google": {"thought": False}},
    }


def test_audio_parts() -> None:
    part = audio_part(WAV)
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "audio/wav"
    assert part["input_audio"]["data"].startswith("data:audio/wav;base64,")
    gs = audio_part("gs://cloud-samples-data/generative-ai/audio/pixel.mp3")
    assert gs["input_audio"] == {
        "data": "gs://cloud-samples-data/generative-ai/audio/pixel.mp3",
        "format": "audio/mp3",
    }
    assert audio_part(b"raw pcm?", format="mp3")["input_audio"]["format"] == "audio/mp3"
    assert audio_part("https://x/y", format="audio/mpeg")["input_audio"]["format"] == "audio/mp3"
    with pytest.raises(UnknownMediaTypeError, match="format="):
        audio_part("https://example.com/stream")


def test_unknown_type_asks_for_mime_type() -> None:
    with pytest.raises(UnknownMediaTypeError, match="mime_type="):
        file_part(b"\x00\x01\x02\x03")


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="neither a file nor a URL"):
        image_part(str(tmp_path / "nope.png"))


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as f:
        f.write(PNG)
        f.truncate(MAX_INLINE_IMAGE_BYTES + 1)
    with pytest.raises(MediaTooLargeError) as caught:
        image_part(big)
    error = caught.value
    assert (error.size, error.limit) == (MAX_INLINE_IMAGE_BYTES + 1, MAX_INLINE_IMAGE_BYTES)
    message = str(error)
    assert "7,000,000-byte limit" in message and "gs://" in message
    # A higher limit (e.g. for a self-deployed endpoint) lets it through.
    assert image_part(big, max_bytes=10_000_000)["image_url"]["url"].startswith("data:image/png")
    with pytest.raises(MediaTooLargeError):
        audio_part(WAV, max_bytes=10)
    with pytest.raises(MediaTooLargeError):
        image_part("data:image/png;base64," + "A" * 4000, max_bytes=1000)
