"""systemd's notify protocol: datagrams of ``KEY=value`` lines to ``$NOTIFY_SOCKET``.

No dependency: the protocol is one ``sendto`` on a unix datagram socket. A socket name starting
with ``@`` is in the abstract namespace. Outside systemd (no ``NOTIFY_SOCKET``) every call is a
no-op, so the daemon speaks it unconditionally.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SdNotify:
    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        self._address = _address(socket_path) if socket_path else None
        self._socket: socket.socket | None = None
        self.watchdog_usec = watchdog_usec

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SdNotify:
        """What systemd passes a ``Type=notify`` service (the protocol, not configuration).

        ``WATCHDOG_USEC`` applies only if ``WATCHDOG_PID`` is unset or names this process.
        """
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watchdog = int(usec) if usec.isdigit() and int(usec) > 0 else None
        if pid and pid != str(os.getpid()):
            watchdog = None
        return cls(environ.get("NOTIFY_SOCKET") or None, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings: half the watchdog timeout, as sd_watchdog_enabled(3)
        recommends; None when systemd runs no watchdog for this service."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def send(self, *lines: str) -> bool:
        """Send one notification; False (and a log event) if it could not be delivered."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            log.warning("systemd.notify_failed", error=exc.strerror or type(exc).__name__)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str) -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(path: str) -> str:
    return "\0" + path[1:] if path.startswith("@") else path
