"""Proxies and TLS: one set of decisions, used by chat calls and by Google token refreshes.

Proxies, as curl, requests, httpx and the OpenAI SDK read them from the environment:
`HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http URLs, `ALL_PROXY` for either (lower-case
spellings first), and `NO_PROXY`: comma-separated host names (matching the host and its
subdomains; a leading `.` or `*.` is the same), `host:port`, IP addresses, CIDR ranges, or `*`
for every host. An explicit `proxy=` is used for every request and ignores the environment.
We decide here instead of letting aiohttp and requests each read the environment: they read it
differently (aiohttp knows no CIDR ranges, nor `ALL_PROXY`), and both would also read
`~/.netrc`, which would add credentials no one asked for.

TLS: certificates are always verified unless the caller turns it off explicitly (`ssl=False`,
which warns loudly). One `ssl.SSLContext` serves both paths, so chat calls and token refreshes
trust the same certificate authorities.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union
from urllib.parse import urlsplit

from .._redact import remember_url_password
from ..errors import ConfigurationError

__all__ = [
    "Network",
    "SSLOption",
    "bypasses_proxy",
    "default_ssl_context",
    "env_proxy",
    "make_ssl_context",
]

logger = logging.getLogger("aiovertexchat.http")

SSLOption = Union[ssl.SSLContext, str, "os.PathLike[str]", bool, None]
"""What `ssl=` accepts: a context, a CA bundle path (file or directory), True/None for the
default verification, or False to turn verification off."""

INSECURE_WARNING = (
    "TLS certificate verification is OFF (ssl=False): anyone on the network path can read and "
    "change this client's traffic, access tokens included. Use ssl='/path/to/ca-bundle.pem' or "
    "an ssl.SSLContext to trust a private certificate authority instead."
)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # Lower case first, as curl and urllib do. An upper-case HTTP_PROXY is ignored in a CGI
    # request, where any client can set it through a `Proxy:` header ("httpoxy").
    value = environ.get(name.lower())
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name)
    value = value.strip() if value else ""
    return value or None


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return host, port


def bypasses_proxy(url: str, no_proxy: str | None) -> bool:
    """Whether `NO_PROXY` (its value given) exempts `url` from the proxy."""
    if not no_proxy:
        return False
    host, port = _host_port(url)
    if not host:
        return False
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port: int | None = None
        if entry.startswith("[") and "]" in entry:  # [v6] or [v6]:port
            inner, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
            entry = inner
        elif entry.count(":") == 1:
            name, _, maybe_port = entry.partition(":")
            if maybe_port.isdigit():
                entry, entry_port = name, int(maybe_port)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.removeprefix("*").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def _env_proxy_named(url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable, proxy) the environment names for `url`, or None."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return None
    for name in (f"{scheme.upper()}_PROXY", "ALL_PROXY"):
        proxy = _env(environ, name)
        if proxy is not None:
            return None if bypasses_proxy(url, _env(environ, "NO_PROXY")) else (name, proxy)
    return None


def env_proxy(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the environment names for `url`, or None (no variable, or `NO_PROXY`)."""
    found = _env_proxy_named(url, environ)
    return None if found is None else found[1]


def _checked_proxy(proxy: str, source: str) -> str:
    if "://" not in proxy:
        proxy = "http://" + proxy  # "proxy.corp:3128", as curl and requests read it
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source} must be a proxy URL such as 'http://proxy.example.com:3128' "
            f"(http or https, with a host), not {proxy!r}"
        )
    remember_url_password(proxy)
    return proxy


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """The system's trust store (OpenSSL also reads SSL_CERT_FILE / SSL_CERT_DIR), built once
    per process: loading it costs milliseconds, and clients are created often in tests."""
    return ssl.create_default_context()


def make_ssl_context(option: SSLOption, *, source: str = "ssl") -> ssl.SSLContext | None:
    """The context to verify servers with; None when verification is turned off (warned)."""
    if option is None or option is True:
        return default_ssl_context()
    if option is False:
        warnings.warn(INSECURE_WARNING, UserWarning, stacklevel=4)
        logger.warning("%s", INSECURE_WARNING)
        return None
    if isinstance(option, ssl.SSLContext):
        if option.verify_mode == ssl.CERT_NONE:
            warnings.warn(INSECURE_WARNING, UserWarning, stacklevel=4)
            logger.warning("%s", INSECURE_WARNING)
        return option
    if isinstance(option, (str, os.PathLike)):
        path = os.fspath(option)
        try:
            if os.path.isdir(path):
                return ssl.create_default_context(capath=path)
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"{source}={path!r} must be a PEM file (or a directory) of CA certificates: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    raise ConfigurationError(
        f"{source} must be an ssl.SSLContext, a CA bundle path, True or False, "
        f"not {type(option).__name__}"
    )


@dataclass(frozen=True)
class Network:
    """Where requests go through (`proxy_for`) and how servers are verified (`ssl_context`)."""

    proxy: str | None = None
    """The explicit proxy for every request; None: the environment's, if `trust_env`."""
    trust_env: bool = True
    ssl_context: ssl.SSLContext | None = field(default_factory=default_ssl_context)
    """None: certificates are not verified (`ssl=False`)."""
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @classmethod
    def from_options(
        cls,
        *,
        proxy: str | None,
        ssl_option: SSLOption,
        trust_env: bool,
        environ: Mapping[str, str],
    ) -> Network:
        """Checks the options (`ConfigurationError`) and builds the settings once.

        A proxy variable is checked when it applies to a URL (`proxy_for`): one naming a
        proxy we cannot use (say `ALL_PROXY=socks5://...` set for other tools) matters only
        if a request would go through it.
        """
        checked = None if proxy is None else _checked_proxy(proxy, "proxy")
        return cls(
            proxy=checked,
            trust_env=trust_env,
            ssl_context=make_ssl_context(ssl_option),
            environ=environ,
        )

    def proxy_for(self, url: str) -> str | None:
        """The proxy to send a request for `url` through, or None to connect directly."""
        if self.proxy is not None:
            return self.proxy
        if not self.trust_env:
            return None
        found = _env_proxy_named(url, self.environ)
        if found is None:
            return None
        name, proxy = found
        return _checked_proxy(proxy, f"the {name} environment variable (or set NO_PROXY, or "
                              "trust_env=False)")
