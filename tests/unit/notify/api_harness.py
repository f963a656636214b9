"""The notification API on a real loopback socket, and clients for it: urllib for well-formed
requests, a raw socket for everything a well-behaved client would not send."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from prometheus_client import CollectorRegistry

from vitalwatch.metrics import Metrics
from vitalwatch.notify.api import ApiServer, start_api
from vitalwatch.notify.operations import Operations
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.silences import SilenceStore
from vitalwatch.settings import ApiSettings

NURSE, PAGER = "nurse-a", "pager-system"
NURSE_TOKEN = "t0ken-of-nurse-a-for-the-tests"
PAGER_TOKEN = "t0ken-of-the-pager-system-xyz"
TOKENS = f"# who may use the API\n{NURSE}:{NURSE_TOKEN}\n\n{PAGER}: {PAGER_TOKEN}\n"


def open_ops(path: Path) -> Operations:
    return Operations(
        AlertStore(path), AckStore(path), SilenceStore(path), AuditLog(path),
        Metrics(CollectorRegistry()),
    )  # fmt: skip


@dataclass
class Served:
    server: ApiServer
    ops: Operations
    settings: ApiSettings

    @property
    def base(self) -> str:
        return f"{self.server.scheme}://127.0.0.1:{self.server.port}"

    @property
    def port(self) -> int:
        return self.server.port

    def stored(self) -> tuple[int, int, int]:
        """Silences (expired too), acknowledgements and audit entries: what a request may change."""
        acks = self.ops.acks._db.execute("SELECT count(*) FROM acks")[0][0]
        silences = self.ops.silences.list(0, include_expired=True)
        return len(silences), acks, len(self.ops.audit.query())


@contextlib.contextmanager
def serve_api(tmp_path: Path, **settings: Any) -> Iterator[Served]:
    tmp_path.mkdir(exist_ok=True)
    tokens = tmp_path / "api-tokens"
    tokens.write_text(TOKENS)
    options: dict[str, Any] = {
        "port": 0, "tokens_file": tokens, "request_timeout": "1s",
        "public_url": "http://127.0.0.1", "link_credential": PAGER,
    }  # fmt: skip
    api_settings = ApiSettings(**{**options, **settings})
    ops = open_ops(tmp_path / "n.sqlite")
    server = start_api(api_settings, ops)
    assert server is not None
    try:
        yield Served(server, ops, api_settings)
    finally:
        server.stop()
        ops.close()


def call(
    url: str,
    body: Any = None,
    token: str | None = NURSE_TOKEN,
    method: str = "POST",
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urlopen(request, timeout=5, context=context) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text[:1] in "[{" else text)
    except HTTPError as exc:
        text = exc.read().decode()
        return exc.code, (json.loads(text) if text[:1] in "[{" else text)
    except URLError as exc:  # e.g. plain HTTP to a TLS port
        return 0, str(exc.reason)


@dataclass
class Exchange:
    """What became of one raw request: the status (None: closed without an answer) and the
    seconds from the last byte sent to the answer or the close."""

    status: int | None
    body: bytes
    seconds: float


def exchange(
    port: int, pieces: list[bytes], bound: float, pause: float = 0.0, method: str = "GET"
) -> Exchange:
    """Send ``pieces`` (``pause`` seconds apart), then read one response or the close, within
    ``bound`` seconds (a TimeoutError past it: the server hung). ``method``: HEAD's answer
    has no body."""
    with socket.create_connection(("127.0.0.1", port), timeout=bound) as sock:
        try:
            for number, piece in enumerate(pieces):
                if number and pause:
                    time.sleep(pause)
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered or closed early: read what it said
        sent = time.monotonic()
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            body = response.read()
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError):
            return Exchange(None, b"", time.monotonic() - sent)
        except http.client.BadStatusLine as exc:
            if str(exc) in ("", "''"):
                return Exchange(None, b"", time.monotonic() - sent)
            raise
        return Exchange(response.status, body, time.monotonic() - sent)


def request_bytes(
    method: str, path: str, body: bytes = b"", token: str | None = NURSE_TOKEN, **headers: str
) -> bytes:
    """One HTTP/1.1 request as bytes; ``Content-Length`` is the body's unless given."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    headers.setdefault("Content_Length", str(len(body)))
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
