"""Proxies and TLS (README "Security"): a real forward proxy and a TLS server with a test CA.

Every test that involves Google credentials makes a real google-auth token refresh (requests,
a signed JWT) and a chat call, so the two paths are checked to go the same way: through the
same proxy, trusting the same certificate authorities.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from aiovertexchat import (
    APIConnectionError,
    AsyncVertexChat,
    ConfigurationError,
    GoogleAuth,
    RetryPolicy,
    TokenRefreshError,
)
from aiovertexchat._http.network import Network, bypasses_proxy, env_proxy
from aiovertexchat.emulator import Emulator

from .conftest import service_account_credentials
from .netkit import PKI, ForwardProxy, TLSFront

MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hello through the proxy"}]
ONCE = RetryPolicy(max_attempts=1)


def google_client(front: TLSFront, pem: str, **options: Any) -> AsyncVertexChat:
    """A client whose chat calls and token refreshes both go to the TLS front."""
    auth = GoogleAuth(service_account_credentials(f"{front.url}/token", pem))
    options.setdefault("environ", {})
    return AsyncVertexChat(base_url=f"{front.url}/v1", auth=auth, retry=ONCE, **options)


async def ask(client: AsyncVertexChat) -> str:
    completion = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3)
    content = completion.choices[0].message.content
    assert content
    return content


# -- proxies --------------------------------------------------------------------------------
async def test_environment_proxy_carries_chat_calls_and_token_refreshes(
    front: TLSFront, proxy: ForwardProxy, emu: Emulator, pki: PKI, private_key_pem: str
) -> None:
    env = {"HTTPS_PROXY": proxy.url}
    async with google_client(front, private_key_pem, ssl=str(pki.ca_file), environ=env) as c:
        await ask(c)
        await ask(c)
    # One CONNECT tunnel from aiohttp (the chat calls share it) and one from requests (the
    # token refresh): both paths went through the proxy, to the server they were meant for.
    assert proxy.tunnels == {f"127.0.0.1:{front.port}": 2}
    assert emu.stats.token_requests == 1 and emu.stats.tokens_issued == 1
    assert emu.stats.rejected_auth == 0


@pytest.mark.parametrize(
    "no_proxy",
    ["127.0.0.1", "127.0.0.0/8", "localhost, 127.0.0.1:{port}", "*", ".0.0.1,127.0.0.1"],
)
async def test_no_proxy_sends_both_paths_direct(
    no_proxy: str, front: TLSFront, proxy: ForwardProxy, emu: Emulator, pki: PKI,
    private_key_pem: str,
) -> None:
    env = {"HTTPS_PROXY": proxy.url, "NO_PROXY": no_proxy.format(port=front.port)}
    async with google_client(front, private_key_pem, ssl=str(pki.ca_file), environ=env) as c:
        await ask(c)
    assert proxy.requests == 0
    assert front.connections == 2  # one from each path, both direct
    assert emu.stats.token_requests == 1


async def test_lower_case_variables_and_all_proxy_are_read(
    front: TLSFront, proxy: ForwardProxy, pki: PKI, private_key_pem: str
) -> None:
    for env in ({"https_proxy": proxy.url}, {"ALL_PROXY": proxy.url},
                {"https_proxy": proxy.url, "HTTPS_PROXY": "http://127.0.0.1:9"}):
        before = proxy.requests
        async with google_client(front, private_key_pem, ssl=pki.ca_file, environ=env) as c:
            await ask(c)
        assert proxy.requests == before + 2, env


async def test_proxy_variables_are_read_from_os_environ_by_default(
    front: TLSFront, proxy: ForwardProxy, pki: PKI, private_key_pem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("https_proxy", "http_proxy", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    auth = GoogleAuth(service_account_credentials(f"{front.url}/token", private_key_pem))
    async with AsyncVertexChat(
        base_url=f"{front.url}/v1", auth=auth, ssl=pki.ca_file, retry=ONCE
    ) as client:
        await ask(client)
    assert proxy.requests == 2


async def test_trust_env_false_ignores_proxy_variables(
    front: TLSFront, proxy: ForwardProxy, pki: PKI, private_key_pem: str
) -> None:
    env = {"HTTPS_PROXY": proxy.url}
    async with google_client(
        front, private_key_pem, ssl=pki.ca_file, environ=env, trust_env=False
    ) as client:
        await ask(client)
    assert proxy.requests == 0 and front.connections == 2


async def test_explicit_proxy_with_credentials_serves_both_paths_and_ignores_no_proxy(
    front: TLSFront, pki: PKI, private_key_pem: str
) -> None:
    async with ForwardProxy(credentials=("corp-user", "corp-password-1234")) as guarded:
        env = {"NO_PROXY": "*", "HTTPS_PROXY": "http://127.0.0.1:9"}
        url = guarded.url_with("corp-user", "corp-password-1234")
        async with google_client(
            front, private_key_pem, ssl=pki.ca_file, environ=env, proxy=url
        ) as client:
            await ask(client)
        assert guarded.tunnels == {f"127.0.0.1:{front.port}": 2}
        assert guarded.refused == 0


async def test_a_proxy_refusing_the_credentials_is_a_typed_error_on_both_paths(
    front: TLSFront, pki: PKI, private_key_pem: str
) -> None:
    async with ForwardProxy(credentials=("corp-user", "right-password-1234")) as guarded:
        wrong = guarded.url_with("corp-user", "wrong-password-5678")
        # The token refresh is refused first: TokenRefreshError.
        async with google_client(
            front, private_key_pem, ssl=pki.ca_file, proxy=wrong
        ) as client:
            with pytest.raises(TokenRefreshError) as refresh:
                await ask(client)
        # A chat call with a static token: APIConnectionError (the tunnel was refused).
        async with AsyncVertexChat(
            base_url=f"{front.url}/v1", api_key="static-token-for-the-proxy-test",
            ssl=pki.ca_file, proxy=wrong, retry=ONCE, environ={},
        ) as client:
            with pytest.raises(APIConnectionError) as chat:
                await ask(client)
        assert guarded.refused == 2
    for error in (refresh.value, chat.value):
        assert "wrong-password-5678" not in str(error)
    assert "407" in str(chat.value)


def test_malformed_proxy_settings_are_configuration_errors() -> None:
    for proxy in ("ftp://proxy:21", "http://", "http://proxy:port"):
        with pytest.raises(ConfigurationError, match="proxy"):
            AsyncVertexChat(base_url="http://127.0.0.1:9/v1", proxy=proxy, environ={})
    with pytest.raises(ConfigurationError, match="ALL_PROXY environment variable"):
        AsyncVertexChat(base_url="https://127.0.0.1:9/v1",
                        environ={"ALL_PROXY": "socks5://127.0.0.1:1080"})
    # A variable that does not apply to the client's URL is not its concern.
    AsyncVertexChat(base_url="https://127.0.0.1:9/v1",
                    environ={"HTTP_PROXY": "socks5://127.0.0.1:1080"})
    AsyncVertexChat(base_url="https://127.0.0.1:9/v1", trust_env=False,
                    environ={"HTTPS_PROXY": "socks5://127.0.0.1:1080"})


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypassed"),
    [
        ("https://api.example.com/v1", "example.com", True),
        ("https://api.example.com/v1", ".example.com", True),
        ("https://api.example.com/v1", "*.example.com", True),
        ("https://example.com/v1", ".example.com", True),
        ("https://notexample.com/v1", "example.com", False),
        ("https://api.example.com/v1", "example.com:8443", False),
        ("https://api.example.com:8443/v1", "example.com:8443", True),
        ("https://api.example.com/v1", "example.com:443", True),
        ("http://10.1.2.3/v1", "10.0.0.0/8", True),
        ("http://11.1.2.3/v1", "10.0.0.0/8", False),
        ("http://[::1]:8080/v1", "::1", True),
        ("http://[::1]:8080/v1", "[::1]:8080", True),
        ("https://API.Example.COM./v1", "example.com", True),
        ("https://anything/v1", "*", True),
        ("https://anything/v1", "", False),
        ("https://anything/v1", " , ", False),
    ],
)
def test_no_proxy_rules(url: str, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(url, no_proxy) is bypassed


def test_which_variable_serves_which_scheme() -> None:
    env = {"HTTPS_PROXY": "http://s:1", "HTTP_PROXY": "http://p:1", "ALL_PROXY": "http://a:1"}
    assert env_proxy("https://x/v1", env) == "http://s:1"
    assert env_proxy("http://x/v1", env) == "http://p:1"
    assert env_proxy("http://x/v1", {"ALL_PROXY": "http://a:1"}) == "http://a:1"
    # In a CGI request any client could set HTTP_PROXY through a `Proxy:` header (httpoxy).
    assert env_proxy("http://x/v1", {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}) is None
    assert Network(proxy=None, environ={"HTTPS_PROXY": "proxy.corp:3128"}).proxy_for(
        "https://x/v1") == "http://proxy.corp:3128"


# -- TLS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["path", "str", "context"])
async def test_a_private_ca_serves_chat_calls_and_token_refreshes(
    form: str, front: TLSFront, emu: Emulator, pki: PKI, private_key_pem: str
) -> None:
    option: Any = {"path": pki.ca_file, "str": str(pki.ca_file),
                   "context": pki.client_context()}[form]
    async with google_client(front, private_key_pem, ssl=option) as client:
        assert await ask(client)
    assert emu.stats.tokens_issued == 1 and front.connections == 2


async def test_certificates_are_verified_by_default_on_both_paths(
    front: TLSFront, emu: Emulator, private_key_pem: str
) -> None:
    # The token refresh meets the unknown CA first.
    async with google_client(front, private_key_pem) as client:
        with pytest.raises(TokenRefreshError, match="CERTIFICATE_VERIFY_FAILED"):
            await ask(client)
    async with AsyncVertexChat(
        base_url=f"{front.url}/v1", api_key="static-token-for-the-tls-test", retry=ONCE,
        environ={},
    ) as client:
        with pytest.raises(APIConnectionError, match=r"(?i)certificate"):
            await ask(client)
    assert emu.stats.token_requests == 0 and emu.stats.requests == 0


async def test_a_ca_directory_is_read_as_hashed_certificates(
    tmp_path: Path, front: TLSFront, pki: PKI, private_key_pem: str
) -> None:
    def client(directory: Path) -> AsyncVertexChat:
        return AsyncVertexChat(
            base_url=f"{front.url}/v1", api_key="static-token-for-the-tls-test", retry=ONCE,
            ssl=directory, environ={},
        )

    empty = tmp_path / "empty"
    empty.mkdir()
    async with client(empty) as c:  # an empty directory trusts nothing
        with pytest.raises(APIConnectionError, match=r"(?i)certificate"):
            await ask(c)
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make the hashed names a CA directory needs")
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    shutil.copy(pki.ca_file, hashed / "test-ca.pem")
    await asyncio.to_thread(
        subprocess.run, [openssl, "rehash", str(hashed)], check=True, capture_output=True
    )
    async with google_client(front, private_key_pem, ssl=hashed) as c:
        assert await ask(c)


async def test_turning_verification_off_warns_loudly(
    front: TLSFront, emu: Emulator, private_key_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.warns(UserWarning, match="verification is OFF"):
        client = google_client(front, private_key_pem, ssl=False)
    assert any(r.levelno == logging.WARNING and "verification is OFF" in r.getMessage()
               for r in caplog.records)
    with warnings.catch_warnings():
        # urllib3 warns on each unverified request too: loud, as wanted; not the point here.
        warnings.simplefilter("ignore")
        async with client:
            assert await ask(client)
    assert emu.stats.tokens_issued == 1


def test_a_context_that_does_not_verify_warns_too() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.warns(UserWarning, match="verification is OFF"):
        AsyncVertexChat(base_url="http://127.0.0.1:9/v1", ssl=context, environ={})


def test_an_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("this is not a certificate\n")
    for option in (bad, tmp_path / "missing.pem"):
        with pytest.raises(ConfigurationError, match="CA certificates"):
            AsyncVertexChat(base_url="http://127.0.0.1:9/v1", ssl=option, environ={})
    with pytest.raises(ConfigurationError, match="ssl must be"):
        AsyncVertexChat(base_url="http://127.0.0.1:9/v1", ssl=42, environ={})  # type: ignore[arg-type]
