"""Where requests go: building the chat-completions URL from the client's settings.

Precedence (first match wins):
1. an explicit `base_url` argument;
2. explicit Vertex settings (`project` or `location` given as arguments, or `dedicated_domain`);
3. the `OPENAI_BASE_URL` environment variable (Google's docs tell users to set it);
4. Vertex settings from `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION`.

With a location but no project anywhere, the project is the one Application Default
Credentials name (`google.auth.default()`, as google-genai does). Finding it may block (file
reads, the metadata server), so it is not looked up here: the target is returned with
`pending_project` set and `{project}` in its URL, and the client completes it at first use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from .._redact import remember_url_password
from ..errors import ConfigurationError

__all__ = ["PROJECT_PLACEHOLDER", "ResolvedEndpoint", "resolve_target"]

PROJECT_PLACEHOLDER = "{project}"
"""Stands for the project in a Vertex URL until Application Default Credentials name it."""

_API_VERSIONS = ("v1", "v1beta1")
_LOCATION_RE = re.compile(r"^[a-z]+(-[a-z0-9]+)*$")
_ENDPOINT_RE = re.compile(r"^(openapi|[0-9]+)$")
# Google's rules: a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a
# letter and not ending with a hyphen; older domain-scoped ids carry a prefix
# ("example.com:my-project"). A project number is digits only.
_PROJECT_ID_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*:)?"
    r"[a-z][a-z0-9-]{4,28}[a-z0-9]$"
)
_PROJECT_NUMBER_RE = re.compile(r"^[0-9]{1,20}$")
# A DNS name: dot-separated labels of letters, digits and inner hyphens, 63 characters each.
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")


def _source(name: str, from_env: bool) -> str:
    return f"the {name} environment variable" if from_env else f"{name.lower()}="


def _check_project(project: str, source: str) -> None:
    if _PROJECT_ID_RE.match(project) or _PROJECT_NUMBER_RE.match(project):
        return
    raise ConfigurationError(
        f"{source} {project!r} is not a Google Cloud project id or number: an id is 6 to 30 "
        "lowercase letters, digits and hyphens, starting with a letter and not ending with a "
        "hyphen (e.g. 'my-project-123'); a number is digits only"
    )


def _check_location(location: str, source: str) -> None:
    if not _LOCATION_RE.match(location):
        raise ConfigurationError(
            f"{source} {location!r} does not look like a Google Cloud location "
            "(e.g. 'us-central1' or 'global')"
        )


def _dedicated_host(domain: str) -> str:
    host = domain.removeprefix("https://").rstrip("/")
    if len(host) > 253 or not _DNS_NAME_RE.match(host):
        raise ConfigurationError(
            f"dedicated_domain= {domain!r} is not a DNS name: give the dedicated endpoint's "
            "host, e.g. '1234567.us-central1-987654321.prediction.vertexai.goog' (no path, "
            "port, query or credentials)"
        )
    return host.lower()


@dataclass(frozen=True)
class ResolvedEndpoint:
    """A resolved destination: the base URL (everything before `/chat/completions`)."""

    base_url: str
    is_vertex: bool
    # True when the URL came from OPENAI_BASE_URL, so OPENAI_API_KEY belongs with it.
    from_openai_env: bool = False
    # True while the project is still to come from Application Default Credentials: the URL
    # holds PROJECT_PLACEHOLDER until `with_project()` fills it in.
    pending_project: bool = False

    def with_project(self, project: str) -> ResolvedEndpoint:
        """This target with its pending project filled in."""
        if not self.pending_project:
            return self
        _check_project(project, "the project of Application Default Credentials")
        url = self.base_url.replace(PROJECT_PLACEHOLDER, project, 1)
        return replace(self, base_url=url, pending_project=False)

    @property
    def chat_completions_url(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


def _vertex_host(location: str) -> str:
    return "aiplatform.googleapis.com" if location == "global" else (
        f"{location}-aiplatform.googleapis.com"
    )


def vertex_base_url(
    *,
    project: str,
    location: str,
    endpoint: str = "openapi",
    api_version: str = "v1",
    dedicated_domain: str | None = None,
    project_source: str = "project=",
    location_source: str = "location=",
) -> str:
    """The Vertex base URL for managed Gemini (`openapi`) or a deployed endpoint id.

    Every part is checked before it becomes part of the URL (`ConfigurationError` naming the
    setting, or the environment variable it came from: `*_source`).
    """
    if api_version not in _API_VERSIONS:
        raise ConfigurationError(
            f"api_version must be one of {', '.join(_API_VERSIONS)}, not {api_version!r}"
        )
    if project != PROJECT_PLACEHOLDER:  # filled in at first use from ADC, checked then
        _check_project(project, project_source)
    _check_location(location, location_source)
    if not _ENDPOINT_RE.match(endpoint):
        raise ConfigurationError(
            "endpoint must be 'openapi' (managed Gemini) or a numeric ENDPOINT_ID, "
            f"not {endpoint!r}"
        )
    path = f"/{api_version}/projects/{project}/locations/{location}/endpoints/{endpoint}"
    if dedicated_domain:
        if endpoint == "openapi":
            raise ConfigurationError(
                "a dedicated endpoint domain needs the numeric endpoint id: pass endpoint='ID'"
            )
        host = _dedicated_host(dedicated_domain)
        # The dedicated host only serves v1 (Google's samples); keep the caller's choice anyway.
        return f"https://{host}{path}"
    return f"https://{_vertex_host(location)}{path}"


def _clean_base_url(url: str, source: str) -> str:
    # A password in the URL is a secret like any token: never quoted, even in this message.
    remember_url_password(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source} must be an absolute http(s) URL such as "
            f"'http://127.0.0.1:8080/v1', not {url!r}"
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigurationError(
            f"{source} must not carry a query or fragment ({url!r}): '/chat/completions' is "
            "appended to it"
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise ConfigurationError(f"{source} contains spaces or control characters: {url!r}")
    url = url.rstrip("/")
    # Accept a full chat-completions URL too; people paste it from curl samples.
    return url.removesuffix("/chat/completions")


def resolve_target(
    *,
    project: str | None,
    location: str | None,
    endpoint: str,
    api_version: str,
    base_url: str | None,
    dedicated_domain: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedEndpoint:
    env = os.environ if environ is None else environ
    if base_url:
        url = _clean_base_url(base_url, "base_url")
        return ResolvedEndpoint(url, is_vertex=_looks_like_vertex(url))
    explicit_vertex = project is not None or location is not None or dedicated_domain is not None
    env_base = env.get("OPENAI_BASE_URL")
    if env_base and not explicit_vertex:
        url = _clean_base_url(env_base, "OPENAI_BASE_URL")
        return ResolvedEndpoint(url, is_vertex=_looks_like_vertex(url), from_openai_env=True)
    project_source = _source("PROJECT", False)
    if not project and not location:
        project = env.get("GOOGLE_CLOUD_PROJECT")
        project_source = _source("GOOGLE_CLOUD_PROJECT", True)
    location_source = _source("LOCATION", False)
    if not location:
        location = env.get("GOOGLE_CLOUD_LOCATION")
        location_source = _source("GOOGLE_CLOUD_LOCATION", True)
    if not project and not location:
        raise ConfigurationError(
            "no Google Cloud project: pass project=... or set GOOGLE_CLOUD_PROJECT "
            "(or pass base_url=... / set OPENAI_BASE_URL for another OpenAI-compatible server)"
        )
    if not location:
        raise ConfigurationError(
            "no Google Cloud location: pass location=... or set GOOGLE_CLOUD_LOCATION "
            "(e.g. 'us-central1', or 'global' for the global endpoint)"
        )
    url = vertex_base_url(
        project=project or PROJECT_PLACEHOLDER,
        location=location,
        endpoint=endpoint,
        api_version=api_version,
        dedicated_domain=dedicated_domain,
        project_source=project_source,
        location_source=location_source,
    )
    return ResolvedEndpoint(url, is_vertex=True, pending_project=not project)


def _looks_like_vertex(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(("aiplatform.googleapis.com", ".prediction.vertexai.goog"))
