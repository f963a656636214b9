"""sd_notify on a real unix datagram socket, path and abstract names."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitalwatch.service.sd_notify import SdNotify


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        name = str(tmp_path / "notify.sock")
        sock.bind(name)
    else:
        name = f"@vitalwatch-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name[1:])
    sock.settimeout(2)
    yield name, sock
    sock.close()


def test_messages_arrive_as_systemd_reads_them(notify_socket) -> None:
    name, sock = notify_socket
    notify = SdNotify(name)
    assert notify.ready("running 3 rules")
    assert notify.watchdog()
    assert notify.stopping("draining")
    assert sock.recv(4096) == b"READY=1\nSTATUS=running 3 rules"
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=draining"
    notify.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notify = SdNotify.from_environ({})
    assert not notify.enabled
    assert not notify.ready("x")
    assert notify.watchdog_interval is None


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert not SdNotify(str(tmp_path / "gone.sock")).ready("x")


def test_watchdog_interval_is_half_the_timeout_and_only_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "20000000"}
    assert SdNotify.from_environ(env).watchdog_interval == 10.0
    mine = SdNotify.from_environ({**env, "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval == 10.0
    assert SdNotify.from_environ({**env, "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert SdNotify.from_environ({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None
