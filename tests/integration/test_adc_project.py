"""The project from Application Default Credentials: with a location but no project anywhere,
the client asks `google.auth.default()` for one, at first use and once, off the event loop.

ADC is a key file whose `token_uri` is the emulator's; the Vertex host is answered by the
emulator (see fake_google), so the URL the client built is checked as sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import google.auth
import pytest

from aiovertexchat import AsyncVertexChat, ConfigurationError, GoogleAuth
from aiovertexchat.emulator import Emulator, EmulatorConfig

from .fake_google import PROJECT, install, private_key_pem

MODEL = "google/gemini-2.5-flash"
HELLO: list[Any] = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def pem() -> str:
    return private_key_pem()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(require_issued_tokens=True)) as emulator:
        yield emulator


@pytest.fixture
def discoveries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread of each `google.auth.default()` call."""
    seen: list[int] = []
    real_default = google.auth.default

    def recording_default(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident())
        return real_default(*args, **kwargs)

    monkeypatch.setattr(google.auth, "default", recording_default)
    return seen


async def test_project_comes_from_adc_at_first_use(
    emu: Emulator, pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    discoveries: list[int],
) -> None:
    google_cloud = install(monkeypatch, tmp_path, emu, pem)
    client = AsyncVertexChat(location="us-central1", environ={})
    assert discoveries == []  # constructing looked nothing up
    assert "/projects/{project}/" in client.base_url
    async with client:
        results = await asyncio.gather(
            *(client.chat.completions.create(model=MODEL, messages=HELLO) for _ in range(8))
        )
    assert all(r.choices[0].message.content for r in results)
    assert len(discoveries) == 1 and threading.get_ident() not in discoveries
    assert f"/projects/{PROJECT}/locations/us-central1/endpoints/openapi" in client.base_url
    assert {url.split("/")[5] for url in google_cloud.urls} == {PROJECT}
    assert emu.stats.rejected_auth == 0


async def test_project_from_adc_with_other_credentials(
    emu: Emulator, pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    discoveries: list[int],
) -> None:
    google_cloud = install(monkeypatch, tmp_path, emu, pem)
    emu.state.config.require_issued_tokens = False
    async with AsyncVertexChat(location="global", api_key="static", environ={}) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert len(discoveries) == 1
    assert all(f"/projects/{PROJECT}/locations/global/" in url for url in google_cloud.urls)
    assert [h["Authorization"] for h in google_cloud.headers] == ["Bearer static"] * 2


async def test_project_from_given_service_account_credentials(
    emu: Emulator, pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    discoveries: list[int],
) -> None:
    google_cloud = install(monkeypatch, tmp_path, emu, pem)
    auth = GoogleAuth.from_service_account_file(tmp_path / "adc-key.json")
    async with AsyncVertexChat(location="us-central1", auth=auth, environ={}) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert discoveries == []  # the key file names its project
    assert f"/projects/{PROJECT}/" in google_cloud.urls[0]


async def test_adc_without_a_project_says_what_to_set(
    emu: Emulator, pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    google_cloud = install(monkeypatch, tmp_path, emu, pem, project=None)
    async with AsyncVertexChat(location="us-central1", environ={}) as client:
        for _ in range(2):
            with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
                await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert google_cloud.urls == []  # nothing was sent


async def test_no_adc_at_all_fails_at_first_use_not_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    client = AsyncVertexChat(location="us-central1", environ={})
    async with client:
        with pytest.raises(ConfigurationError, match="gcloud auth application-default login"):
            await client.chat.completions.create(model=MODEL, messages=HELLO)


def test_an_explicit_or_environment_project_needs_no_lookup(discoveries: list[int]) -> None:
    env = {"GOOGLE_CLOUD_PROJECT": "env-project", "GOOGLE_CLOUD_LOCATION": "europe-west4"}
    assert "/projects/env-project/locations/europe-west4/" in AsyncVertexChat(environ=env).base_url
    assert "/projects/arg-project/" in AsyncVertexChat(project="arg-project", environ=env).base_url
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
        AsyncVertexChat(environ={})  # neither project nor location: nothing to go on
    assert discoveries == []
