"""Small servers for the security tests, all on 127.0.0.1 and stopped by their context managers.

- `make_pki()`: a test certificate authority and a server certificate for 127.0.0.1/localhost.
- `TLSFront`: terminates TLS with that certificate and pipes bytes to a plain server (the
  emulator), so chat calls and token requests can be made over https.
- `ForwardProxy`: an HTTP forward proxy (CONNECT tunnels and absolute-form requests) that
  counts what goes through it, optionally demands `Proxy-Authorization`, and (hostile) echoes
  the credentials it was sent into its 407 page.
- `HostileServer`: answers each request the way its body asks (`kind:NAME`), echoing the
  credentials it received into whatever it answers; also a token endpoint echoing assertions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import json
import secrets
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- certificates -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PKI:
    ca_file: Path
    """The test CA's certificate (PEM): what a client must trust."""
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_pki(directory: Path) -> PKI:
    """A CA generated now, and a certificate it signed for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiovertexchat test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "test-ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return PKI(ca_file, cert_file, key_file)


# -- plumbing -----------------------------------------------------------------------------------
async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


class _Server:
    """An asyncio server whose connection handlers are tracked and cancelled on exit."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _tracked(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def __aenter__(self) -> _Server:
        self._server = await asyncio.start_server(
            self._tracked, "127.0.0.1", 0, ssl=self._ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Connections still open are cut (their handlers then end by themselves); a handler
        # still waiting after that is cancelled.
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """The request line, headers (lower-case names) and the raw head bytes."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers, raw


# -- TLS in front of a plain server -------------------------------------------------------------
class TLSFront(_Server):
    """https://127.0.0.1:port/... served by the plain server at `upstream_port`."""

    def __init__(self, pki: PKI, upstream_port: int) -> None:
        super().__init__(pki.server_context())
        self._upstream = upstream_port
        self.connections = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream = await asyncio.open_connection("127.0.0.1", self._upstream)
        await _splice((reader, writer), upstream)


# -- a forward proxy ----------------------------------------------------------------------------
class ForwardProxy(_Server):
    """A forward proxy: CONNECT tunnels (https targets) and absolute-form requests (http).

    `tunnels` counts CONNECT targets (`host:port`), `forwarded` absolute-form request targets
    (the first of each connection). With `credentials=(user, password)`, requests without the
    matching `Proxy-Authorization` get a 407 whose page echoes what was sent (hostile).
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__()
        self._expected = None
        if credentials is not None:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            self._expected = f"Basic {token}"
        self.tunnels: Counter[str] = Counter()
        self.forwarded: list[str] = []
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return sum(self.tunnels.values()) + len(self.forwarded)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, headers, raw = await _read_head(reader)
        method, target, _version = line.split(" ", 2)
        sent = headers.get("proxy-authorization", "")
        if self._expected is not None and sent != self._expected:
            self.refused += 1
            body = f"<html><title>407 you sent {sent!r}</title></html>".encode()
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\n'
                b"Content-Type: text/html\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            )
            await writer.drain()
            return
        if method == "CONNECT":
            self.tunnels[target] += 1
            host, _, port = target.rpartition(":")
            upstream = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        self.forwarded.append(target)
        parts = urlsplit(target)
        upstream = await asyncio.open_connection(parts.hostname, parts.port or 80)
        # Origin servers accept the absolute form: the head goes on as it came, minus the
        # proxy's own header.
        kept = [piece for piece in raw.split(b"\r\n")
                if not piece.lower().startswith(b"proxy-authorization:")]
        head = b"\r\n".join(kept)
        upstream[1].write(head)
        await _splice((reader, writer), upstream)


# -- a hostile chat server and token endpoint ---------------------------------------------------
class HostileServer(_Server):
    """Answers `POST .../chat/completions` the way the body asks (`kind:NAME`), and
    `POST /token` as `token_mode` says, echoing the credentials it got into every answer."""

    def __init__(self, token_mode: str = "ok") -> None:
        super().__init__()
        self.token_mode = token_mode
        self.kinds: Counter[str] = Counter()
        self.assertions: list[str] = []
        self.issued: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # keep-alive: one request after another
            try:
                line, headers, _ = await _read_head(reader)
            except asyncio.IncompleteReadError:
                return
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path = line.split(" ")[1]
            if path.endswith("/token"):
                if not await self._token(writer, body):
                    return
                continue
            text = body.decode("utf-8", "replace")
            kind = "ok"
            if "kind:" in text:
                kind = text.split("kind:", 1)[1].split('"', 1)[0].split()[0]
            self.kinds[kind] += 1
            echo = headers.get("authorization", "")
            raw = echo.partition(" ")[2]
            proxy = headers.get("proxy-authorization", "")
            said = f"you sent {echo!r} ({raw}) and {proxy!r}"
            if not await self._answer(reader, writer, kind, said, '"stream": true' in text):
                return

    async def _token(self, writer: asyncio.StreamWriter, body: bytes) -> bool:
        form = dict(parse_qsl(body.decode()))
        assertion = form.get("assertion", "")
        self.assertions.append(assertion)
        mode = self.token_mode
        if mode == "reset":
            writer.transport.abort()
            return False
        if mode == "echo":
            payload = {"error": "invalid_grant",
                       "error_description": f"assertion {assertion} is not valid, {assertion}"}
            _respond(writer, 400, json.dumps(payload).encode())
        else:
            token = f"hostile-at-{secrets.token_urlsafe(16)}"
            self.issued.append(token)
            payload_ok = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
            _respond(writer, 200, json.dumps(payload_ok).encode())
        await writer.drain()
        return True

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str, said: str,
        stream: bool,
    ) -> bool:
        status_of = {"401": "UNAUTHENTICATED", "403": "PERMISSION_DENIED",
                     "429": "RESOURCE_EXHAUSTED", "500": "INTERNAL", "400": "INVALID_ARGUMENT"}
        if kind in status_of:
            error = {"error": {"code": int(kind), "message": f"rejected: {said}",
                               "status": status_of[kind],
                               "details": [{"reason": "ECHO", "metadata": {"sent": said}}]}}
            _respond(writer, int(kind), json.dumps(error).encode())
        elif kind == "html":
            page = f"<html><head><title>502 {said}</title></head><body>{said}</body></html>"
            _respond(writer, 502, page.encode(), "text/html")
        elif kind == "text":
            _respond(writer, 503, f"upstream said no; {said}".encode(), "text/plain")
        elif kind == "redirect":
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: http://evil.example/{said}\r\n"
                         "Content-Length: 0\r\n\r\n".encode())
        elif kind == "badjson":
            _respond(writer, 200, ('{"choices": [' + json.dumps(said)).encode())
        elif kind == "badshape":
            _respond(writer, 200, json.dumps({"choices": said}).encode())
        elif kind == "badhttp":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {said}\r\n\r\n".encode())
            await writer.drain()
            return False
        elif kind == "garbage":
            writer.write(f"NOT-HTTP {said}\r\n\r\n".encode())
            await writer.drain()
            return False
        elif kind == "reset":
            writer.transport.abort()
            return False
        elif kind == "stall":
            await reader.read()  # nothing is answered: until the client gives up
            return False
        elif kind in ("instream", "malformedchunk", "cut") and stream:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            first = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]}
            events = [f"data: {json.dumps(first)}\n\n"]
            if kind == "instream":
                error = {"error": {"code": 500, "message": f"mid-stream: {said}",
                                   "status": "INTERNAL"}}
                events.append(f"data: {json.dumps(error)}\n\n")
            elif kind == "malformedchunk":
                events.append(f'data: {{"choices": [{{"delta": {said}\n\n')
            for event in events:
                data = event.encode()
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            if kind == "cut":
                await writer.drain()
                writer.transport.abort()
                return False
            writer.write(b"0\r\n\r\n")
        else:
            completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": "ok"}}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                    "total_tokens": 2}}
            if stream:
                chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1,
                         "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                                    "delta": {"content": "ok"}}]}
                data = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                _respond(writer, 200, data, "text/event-stream")
            else:
                _respond(writer, 200, json.dumps(completion).encode())
        await writer.drain()
        return True


def _respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = "application/json"
) -> None:
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
