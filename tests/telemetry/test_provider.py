"""`gen_ai.provider.name` and the server address from the URL requests go to."""

from __future__ import annotations

import pytest

from aiovertexchat._telemetry.provider import provider_name, server_of


@pytest.mark.parametrize(("host", "provider"), [
    ("us-central1-aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("1234.us-central1-5678.prediction.vertexai.goog", "gcp.vertex_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("api.openai.com", "openai"),
    ("API.OPENAI.COM.", "openai"),
    ("myres.openai.azure.com", "azure.ai.openai"),
    ("api.anthropic.com", "anthropic"),
    ("bedrock-runtime.eu-west-1.amazonaws.com", "aws.bedrock"),
    ("api.groq.com", "groq"),
    # Not the provider: lookalikes and self-hosted servers are "_OTHER".
    ("aiplatform.googleapis.com.evil.example", "_OTHER"),
    ("notapi.openai.com.example", "_OTHER"),
    ("openai.azure.com", "_OTHER"),
    ("127.0.0.1", "_OTHER"),
    ("vllm.internal", "_OTHER"),
])
def test_provider_from_host(host: str, provider: str) -> None:
    assert provider_name(host) == provider


@pytest.mark.parametrize(("url", "server"), [
    ("https://us-central1-aiplatform.googleapis.com/v1/projects/p", (
        "us-central1-aiplatform.googleapis.com", 443)),
    ("http://127.0.0.1:8080/v1", ("127.0.0.1", 8080)),
    ("http://vllm/v1", ("vllm", 80)),
    ("https://user:pw@host.example:8443/v1", ("host.example", 8443)),
])
def test_server_address_and_port(url: str, server: tuple[str, int]) -> None:
    assert server_of(url) == server
