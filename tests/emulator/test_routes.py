"""The emulator's routes and its bearer-token check over loopback HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import (
    AUTH,
    CHAT,
    VERTEX,
    chat_body,
    error_of,
    frozen_emulator,
    post,
)


class TestRoutes:
    @pytest.mark.parametrize("version", ["v1", "v1beta1"])
    async def test_managed_endpoint(
        self, emu: Emulator, http: aiohttp.ClientSession, version: str
    ) -> None:
        path = f"/{version}/projects/my-proj/locations/global/endpoints/openapi/chat/completions"
        reply = await post(http, emu, chat_body(model="google/gemini-2.5-flash"), path=path)
        assert reply.status == 200
        assert reply.json()["model"] == "google/gemini-2.5-flash"

    async def test_managed_endpoint_rejects_other_models(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(http, emu, chat_body(model="gemini-2.5-flash"), path=VERTEX)
        assert reply.status == 400
        error = error_of(reply)
        assert error["status"] == "INVALID_ARGUMENT"
        assert "google/{MODEL_ID}" in error["message"]

    async def test_self_deployed_endpoint_takes_any_model(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        path = "/v1/projects/p/locations/europe-west4/endpoints/1234567890/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}]}
        assert (await post(http, emu, body, path=path)).json()["model"] == "emulator"
        reply = await post(http, emu, {**body, "model": "meta-llama/Llama-3"}, path=path)
        assert reply.json()["model"] == "meta-llama/Llama-3"

    async def test_plain_route_without_version(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        assert (await post(http, emu, chat_body(), path="/chat/completions")).status == 200

    @pytest.mark.parametrize(
        "path",
        [
            "/v2/chat/completions",
            "/v1/models",
            "/v1/projects/p/locations/l/endpoints/my-endpoint/chat/completions",
            "/v1beta1/projects/p/locations/l/endpoints/openapi/completions",
        ],
    )
    async def test_unknown_paths_are_google_404s(
        self, emu: Emulator, http: aiohttp.ClientSession, path: str
    ) -> None:
        reply = await post(http, emu, chat_body(), path=path)
        assert reply.status == 404
        assert error_of(reply)["status"] == "NOT_FOUND"
        assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"

    async def test_get_is_405(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        async with http.get(emu.url + VERTEX, headers=AUTH) as resp:
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST"
            body = await resp.json()
        assert body["error"]["code"] == 405 and "GET" in body["error"]["message"]

    @pytest.mark.parametrize(
        ("data", "complaint"),
        [
            (b"{not json", "Invalid JSON payload"),
            (b'{"model": "m"}', "messages"),
            (b'{"messages": []}', "messages"),
        ],
    )
    async def test_bad_bodies_are_400(
        self, emu: Emulator, http: aiohttp.ClientSession, data: bytes, complaint: str
    ) -> None:
        reply = await post(http, emu, data=data, headers={"Content-Type": "application/json"})
        assert reply.status == 400
        error = error_of(reply)
        assert error["status"] == "INVALID_ARGUMENT" and complaint in error["message"]

    async def test_unknown_parameters_are_ignored(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(http, emu, chat_body(temprature=2, extra_body={"google": {"x": 1}}))
        assert reply.status == 200


class TestAuth:
    EXPECTED_401: ClassVar[dict[str, Any]] = {
        "error": {
            "code": 401,
            "message": (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            ),
            "status": "UNAUTHENTICATED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "domain": "googleapis.com",
                }
            ],
        }
    }

    @pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc"])
    async def test_missing_token_is_401(
        self, emu: Emulator, http: aiohttp.ClientSession, header: str | None
    ) -> None:
        headers = {} if header is None else {"Authorization": header}
        async with http.post(emu.url + CHAT, json=chat_body(), headers=headers) as resp:
            assert resp.status == 401
            assert await resp.json() == self.EXPECTED_401
        assert emu.stats.by_status == {401: 1}

    async def test_accepted_tokens(self, http: aiohttp.ClientSession) -> None:
        async with frozen_emulator(EmulatorConfig(accepted_tokens=frozenset({"fresh"}))) as emu:
            stale = await post(http, emu, chat_body(), headers={"Authorization": "Bearer stale"})
            fresh = await post(http, emu, chat_body(), headers={"Authorization": "Bearer fresh"})
        assert stale.status == 401 and stale.json() == self.EXPECTED_401
        assert fresh.status == 200

    async def test_auth_can_be_off(self, http: aiohttp.ClientSession) -> None:
        async with (
            frozen_emulator(EmulatorConfig(require_auth=False)) as emu,
            http.post(emu.url + CHAT, json=chat_body()) as resp,
        ):
            assert resp.status == 200
