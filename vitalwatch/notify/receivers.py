"""Receivers: where notifications go. One method, ``send``; apprise does the talking.

Each apprise URL is its own receiver, so each has its own result, retry, metric and dedup key.
A receiver's ``key`` (a hash of its URL) and ``name`` (its masked URL) are safe to log and
store; the URL itself carries secrets and is never logged.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Protocol

import apprise
from apprise.decorators import notify as apprise_notification

from vitalwatch.errors import ConfigError


class Receiver(Protocol):
    key: str  # stable id for the notification log
    name: str  # masked, loggable
    service: str  # metric label: the URL scheme (json, mailto, console, ...)

    def send(self, title: str, body: str) -> bool: ...


class AppriseReceiver:
    def __init__(self, url: str) -> None:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
            raise ConfigError(
                f"notify.urls: an apprise URL with scheme {scheme!r} is not valid; "
                "see https://github.com/caronc/apprise/wiki for the URL of each service"
            )
        self._plugin: Any = plugin
        self.key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.name = str(plugin.url(privacy=True))
        self.service = url.split("://", 1)[0].lower()

    def send(self, title: str, body: str) -> bool:
        return bool(self._plugin.notify(body=body, title=title))


@apprise_notification(on="console", name="vitalwatch console")
def _console(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    """``console://``: print notifications to standard output (local demo receiver)."""
    print(f"\n=== NOTIFICATION [{notify_type}] {title}\n{body}\n", file=sys.stdout, flush=True)
    return True


def build_receivers(urls: list[str]) -> list[Receiver]:
    return [AppriseReceiver(url) for url in urls]
