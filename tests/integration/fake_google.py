"""Google Cloud, faked for code written against it: Application Default Credentials that are a
service-account key file whose `token_uri` is the emulator's `/token`, and the Vertex hosts
(`*aiplatform.googleapis.com`) answered by the emulator.

The hosts are redirected inside our transport (`Transport.post`), the one place every request
of the client passes, so code under test keeps its real `https://...googleapis.com` URLs; the
URLs it asked for are recorded in `FakeGoogle.urls` (query strings included) and the bodies in
`FakeGoogle.bodies`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.compute_engine import _metadata

from aiovertexchat._http.transport import Response, Transport
from aiovertexchat.emulator import Emulator

PROJECT = "emu-project"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_file_content(emu: Emulator, pem: str, project: str | None = PROJECT) -> dict[str, str]:
    info = {
        "type": "service_account",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": "tester@emu-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": emu.token_url,
    }
    if project is not None:
        info["project_id"] = project
    return info


@dataclass
class FakeGoogle:
    emu: Emulator
    urls: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[Mapping[str, str]] = field(default_factory=list)

    def vertex_base_url(self, location: str = "us-central1", version: str = "v1beta1") -> str:
        host = "aiplatform.googleapis.com" if location == "global" else (
            f"{location}-aiplatform.googleapis.com"
        )
        return (f"https://{host}/{version}/projects/{PROJECT}/locations/{location}"
                "/endpoints/openapi")


def install(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    emu: Emulator,
    pem: str,
    *,
    project: str | None = PROJECT,
) -> FakeGoogle:
    """ADC from a key file pointing at the emulator; Vertex hosts answered by the emulator."""
    key_file = tmp_path / "adc-key.json"
    key_file.write_text(json.dumps(key_file_content(emu, pem, project)))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud credentials
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)  # not on Google Cloud
    fake = FakeGoogle(emu)
    real_post = Transport.post

    async def post(
        self: Transport, url: str, body: bytes, headers: Mapping[str, str], **kwargs: Any
    ) -> Response:
        fake.urls.append(url)
        fake.bodies.append(body)
        fake.headers.append(dict(headers))
        parts = urlsplit(url)
        if (parts.hostname or "").endswith("aiplatform.googleapis.com"):
            url = emu.url + parts.path + (f"?{parts.query}" if parts.query else "")
        return await real_post(self, url, body, headers, **kwargs)

    monkeypatch.setattr(Transport, "post", post)
    return fake
