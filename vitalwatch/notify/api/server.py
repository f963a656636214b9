"""The API's HTTP server: uvicorn (h11) on its own thread and event loop inside the daemon.

uvicorn supplies the limits: ``limit_concurrency`` (``api.max_connections``; one more
connection is answered 503), a 16 KiB limit on a request's head, its keep-alive timeout, strict
HTTP parsing (a negative or malformed ``Content-Length`` is a 400) and TLS
(``api.tls_certificate_file``, ``api.tls_key_file``). One limit it lacks is added here: its
timeout starts only after a response, so a client that connects and sends nothing, sends its
head a byte at a time or a body shorter than its ``Content-Length`` would hold a connection,
and a place under the concurrency limit, for ever. ``_DeadlineProtocol`` closes a connection
whose request has not arrived and been answered within ``api.request_timeout`` of the
connection opening or of the previous answer on it; and it closes the connection when a
request's body turns out malformed (uvicorn would send a 400 that the application then answers
too, or that h11 refuses after HEAD: errors with a traceback, found by
``tests/fuzz/test_api_fuzz.py``). The body limit (``bodies.MAX_BODY``) is the application's.

The listening socket is bound before the thread starts, so a port in use or a bad TLS file is a
``ConfigError`` at start-up, not a thread that silently ended.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from typing import Any

import h11
import structlog
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from vitalwatch.errors import ConfigError
from vitalwatch.settings import ApiSettings

log = structlog.get_logger(__name__)

HEAD_LIMIT = 16_384
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def _deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    class _DeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers 400 to whatever malformed bytes come, also after a head it
            # accepted (a bad chunk of a body): then the application answers that head too,
            # or, after HEAD, h11 refuses the 400's body; either way an h11 error logged with
            # a traceback. A malformed head gets uvicorn's 400; any other malformed input
            # ends the connection, and the request in progress sees a disconnect.
            if self.conn.our_state is h11.IDLE:
                super().send_400_response(msg)
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()  # a body being read ends: http.disconnect
            self.transport.close()

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            if not self.transport.is_closing():
                self._deadline = self.loop.call_later(timeout_s, self._expire)

        def _expire(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

    return _DeadlineProtocol


class ApiServer:
    """``start()`` returns once the API accepts connections; ``stop()`` once its thread ended."""

    def __init__(self, settings: ApiSettings, app: ASGIApp) -> None:
        self._config = uvicorn.Config(
            app,
            http=_deadline_protocol(settings.request_timeout / 1000),
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,  # paths hold alert ids
            server_header=False,
            limit_concurrency=settings.max_connections,
            timeout_keep_alive=max(1, min(5, settings.request_timeout // 1000)),
            timeout_graceful_shutdown=int(STOP_TIMEOUT_S / 2),
            h11_max_incomplete_event_size=HEAD_LIMIT,
            ssl_certfile=settings.tls_certificate_file,
            ssl_keyfile=settings.tls_key_file,
        )
        try:
            self._config.load()  # the TLS context, now rather than in the thread
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"api.tls_certificate_file {settings.tls_certificate_file} / api.tls_key_file "
                f"{settings.tls_key_file}: not a usable PEM certificate and key ({exc})"
            ) from None
        self._socket = _listen(settings.host, settings.port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.scheme = "https" if settings.tls else "http"
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="notify-api",
            daemon=True,
        )  # fmt: skip

    def start(self) -> None:
        # uvicorn's per-connection warnings are what any client can cause: not for the journal.
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise ConfigError(f"the API on {self.host}:{self.port} did not start")
            time.sleep(0.01)
        log.info("api.listening", host=self.host, port=self.port, tls=self.scheme == "https")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()
        if self._thread.is_alive():
            log.warning("api.stop_timeout", seconds=STOP_TIMEOUT_S)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family: Any = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise ConfigError(
            f"the API cannot listen on api.host {host} api.port {port} ({exc.strerror or exc}); "
            "choose a free port (VITALWATCH_API__PORT) or an address of this host"
        ) from None
