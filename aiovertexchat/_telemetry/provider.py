"""`gen_ai.provider.name` from the host requests go to, and the server address and port.

The conventions list well-known provider values; a host we do not recognise (a self-deployed
vLLM, a local emulator, a proxy) is `_OTHER`, as the conventions ask, rather than a guess.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from . import names

__all__ = ["provider_name", "server_of"]

# (host suffix, provider). A suffix starting with "." or "-" matches hosts ending with it (Vertex
# regions are `{location}-aiplatform...`); others match the host itself or any subdomain of it.
_HOSTS: tuple[tuple[str, str], ...] = (
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("-aiplatform.googleapis.com", "gcp.vertex_ai"),
    (".prediction.vertexai.goog", "gcp.vertex_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    ("models.inference.ai.azure.com", "azure.ai.inference"),
    ("api.anthropic.com", "anthropic"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.moonshot.ai", "moonshot_ai"),
    (".ml.cloud.ibm.com", "ibm.watsonx.ai"),
)


def provider_name(host: str) -> str:
    """The conventions' provider value for `host` ("gcp.vertex_ai", "openai", ... or "_OTHER")."""
    host = host.lower().rstrip(".")
    for suffix, provider in _HOSTS:
        if suffix.startswith((".", "-")):
            if host.endswith(suffix):
                return provider
        elif host == suffix or host.endswith("." + suffix):
            return provider
    if host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com"):
        return "aws.bedrock"
    return names.PROVIDER_OTHER


def server_of(url: str) -> tuple[str, int]:
    """(`server.address`, `server.port`) of a URL; the port defaults by scheme."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "", port
