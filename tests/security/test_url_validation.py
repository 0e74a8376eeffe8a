"""What the client validates before anything is sent (README "Security"), and redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiovertexchat import APIStatusError, AsyncVertexChat, ConfigurationError, RetryPolicy

from .netkit import HostileServer

HELLO = [{"role": "user", "content": "kind:redirect"}]


def vertex(**settings: str) -> str:
    """The URL a Vertex client would send to, or ConfigurationError."""
    environ = {k: v for k, v in settings.items() if k.isupper()}
    arguments = {k: v for k, v in settings.items() if not k.isupper()}
    client = AsyncVertexChat(api_key="k" * 20, environ=environ, **arguments)  # type: ignore[arg-type]
    return client._url


@pytest.mark.parametrize(
    "project",
    ["../../../../evil", "p#frag", "p?x=1", "p/x", "my project", "MyProject", "p", "abcde",
     "a" * 31, "-abc123", "abc123-", "1abcdef", "my_project", "my-proj%2Fx", "proj\u0435ct",
     "example.com:", ":my-project", "exa mple.com:my-project", " my-project"],
)
def test_a_project_google_would_not_accept_is_refused_naming_its_source(project: str) -> None:
    with pytest.raises(ConfigurationError, match=r"project= .* is not a Google Cloud project"):
        vertex(project=project, location="us-central1")
    env = {"GOOGLE_CLOUD_PROJECT": project, "GOOGLE_CLOUD_LOCATION": "us-east4"}
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT environment variable"):
        vertex(**env)


@pytest.mark.parametrize(
    "project", ["my-project", "abcdef", "a" * 30, "project-123", "123456789012", "1",
                "example.com:my-project", "google.com:api-project-1"],
)
def test_project_ids_numbers_and_domain_scoped_ids_are_accepted(project: str) -> None:
    assert f"/projects/{project}/locations/us-central1/" in vertex(
        project=project, location="us-central1"
    )


def test_the_path_injection_examples_never_reach_a_url() -> None:
    # Before: POST https://.../evil/... with the token attached, and POST .../projects/p.
    for bad in ("../../../../evil", "p#frag"):
        with pytest.raises(ConfigurationError):
            vertex(project=bad, location="us-central1")


@pytest.mark.parametrize("location", ["US Central", "us-central1/../x", "us#1", "-us", ""])
def test_a_location_is_checked_naming_its_source(location: str) -> None:
    if location:
        with pytest.raises(ConfigurationError, match="location= "):
            vertex(project="my-project", location=location)
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_LOCATION"):
        vertex(GOOGLE_CLOUD_PROJECT="my-project", GOOGLE_CLOUD_LOCATION=location or "a b")


@pytest.mark.parametrize(
    "domain",
    ["evil.example/x", "host.example:8443", "user@host.example", "a..b", "-a.example",
     "a-.example", "x" * 64 + ".example", "host.example?x", "host.example#f", "ho st.example",
     "http://host.example", "https://host.example/path", "."],
)
def test_a_dedicated_domain_must_be_a_dns_name(domain: str) -> None:
    with pytest.raises(ConfigurationError, match=r"dedicated_domain= .* is not a DNS name"):
        vertex(project="my-project", location="us-central1", endpoint="42",
               dedicated_domain=domain)


def test_a_dedicated_domain_may_carry_its_scheme_and_a_slash() -> None:
    url = vertex(project="my-project", location="us-central1", endpoint="42",
                 dedicated_domain="https://42.us-central1-987.prediction.vertexai.goog/")
    assert url.startswith("https://42.us-central1-987.prediction.vertexai.goog/v1/projects/")


@pytest.mark.parametrize(
    ("settings", "source"),
    [
        ({"base_url": "http://127.0.0.1:9/v1?api-version=1"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9/v1#x"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9/v 1"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9/v1\n"}, "base_url"),
        ({"base_url": "http://127.0.0.1:port/v1"}, "base_url"),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1?x=1"}, "OPENAI_BASE_URL"),
    ],
)
def test_base_urls_that_cannot_take_the_path_are_refused(
    settings: dict[str, str], source: str
) -> None:
    with pytest.raises(ConfigurationError, match=source):
        vertex(**settings)


def test_endpoint_and_api_version_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="ENDPOINT_ID"):
        vertex(project="my-project", location="us-central1", endpoint="../x")
    with pytest.raises(ConfigurationError, match="api_version"):
        vertex(project="my-project", location="us-central1", api_version="v1/../x")


def test_a_url_password_never_appears_in_messages_or_reprs() -> None:
    url = "http://someone:url-pass-0123456789@127.0.0.1:9/v1"
    with pytest.raises(ConfigurationError) as info:
        AsyncVertexChat(base_url=url + "?x=1", environ={})
    assert "url-pass-0123456789" not in str(info.value)
    client = AsyncVertexChat(base_url=url, environ={})
    assert "url-pass-0123456789" not in repr(client)
    # Credentials in the URL and a token: aiohttp would refuse at the first request.
    with pytest.raises(ConfigurationError, match="only one Authorization"):
        AsyncVertexChat(base_url=url, api_key="k" * 20, environ={})


# -- redirects ------------------------------------------------------------------------------------
@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
async def test_redirects_are_not_followed(hostile: HostileServer, stream: bool) -> None:
    async with AsyncVertexChat(base_url=hostile.base_url, api_key="redirect-token-0123456789",
                               retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.001),
                               environ={}) as client:
        with pytest.raises(APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=HELLO, stream=stream)
    error = info.value
    assert error.status_code == 302 and "not followed" in str(error)
    assert "redirect-token" not in str(error)
    # One request, never retried, never sent to the Location (evil.example is not resolvable,
    # and a followed redirect would have been a connection error instead of this status).
    assert hostile.kinds["redirect"] == 1
