"""Receivers: where notifications go. One method, ``send``; apprise does the talking.

Each apprise URL is its own receiver, so each service has its own result, retry, metric and
dedup key. A receiver's ``key`` (a hash of its URL) and ``name`` (apprise's masked URL,
``url(privacy=True)``) are safe to log and store; the URL itself carries secrets and is never
logged. A named receiver of the routing config is a list of tiers, each a list of these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import apprise

from vitalwatch.errors import ConfigError
from vitalwatch.notify import console as _console  # noqa: F401  (registers console://)
from vitalwatch.notify.config.routing import ReceiverConfig, RoutingConfig, TierConfig
from vitalwatch.settings import NotifySettings

# Services whose messages are read on a phone's lock screen or pager: the short template.
SHORT_SERVICES = frozenset(
    {"sns", "twilio", "nexmo", "vonage", "clickatell", "d7sms", "msg91", "sinch", "bulksms",
     "smseagle", "signal", "kavenegar", "plivo", "seven", "smsmgr", "pagerduty", "pagertree"}
)  # fmt: skip


class Receiver(Protocol):
    key: str  # stable id for the notification log
    name: str  # masked, loggable
    service: str  # the URL scheme (json, mailto, console, ...)

    def send(self, title: str, body: str) -> bool: ...


class AppriseReceiver:
    def __init__(
        self, url: str, where: str = "notify.urls", throttle_s: float | None = None
    ) -> None:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
            raise ConfigError(
                f"{where}: an apprise URL with scheme {scheme!r} is not valid; "
                "see https://github.com/caronc/apprise/wiki for the URL of each service"
            )
        self._plugin: Any = plugin
        if throttle_s is not None:  # apprise sleeps this long between two sends of one plugin
            self._plugin.request_rate_per_sec = throttle_s
        self.key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.name = str(plugin.url(privacy=True))
        self.service = url.split("://", 1)[0].lower()

    @classmethod
    def from_plugin(cls, plugin: Any, throttle_s: float | None = None) -> AppriseReceiver:
        """A target found in an apprise config file (by tag)."""
        receiver = cls.__new__(cls)
        receiver._plugin = plugin
        if throttle_s is not None:
            plugin.request_rate_per_sec = throttle_s
        url = str(plugin.url())
        receiver.key = hashlib.sha256(url.encode()).hexdigest()[:16]
        receiver.name = str(plugin.url(privacy=True))
        receiver.service = url.split("://", 1)[0].lower()
        return receiver

    def send(self, title: str, body: str) -> bool:
        return bool(self._plugin.notify(body=body, title=title))


def build_receivers(urls: list[str]) -> list[Receiver]:
    return [AppriseReceiver(url) for url in urls]


@dataclass(frozen=True)
class Tier:
    number: int  # 1-based
    receivers: tuple[Receiver, ...]
    escalate_after_ms: int | None


@dataclass(frozen=True)
class NamedReceiver:
    """A receiver of the routing config: its tiers and how it wants messages."""

    name: str
    tiers: tuple[Tier, ...]
    template: str | None
    send_resolved: bool

    def template_for(self, receiver: Receiver) -> str:
        if self.template is not None:
            return self.template
        return "short" if receiver.service in SHORT_SERVICES else "rich"


def _tier_urls(
    tier: TierConfig, where: str, notify: NotifySettings, environ: Mapping[str, str]
) -> list[str]:
    urls = [u.get_secret_value() for u in tier.urls]
    if tier.use_notify_urls:
        urls += notify.apprise_urls()
    if tier.urls_file is not None:
        try:
            lines = tier.urls_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"{where}: field 'urls_file': {tier.urls_file} cannot be read ({exc.strerror})"
            ) from None
        urls += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if tier.urls_env is not None:
        if tier.urls_env not in environ:
            raise ConfigError(
                f"{where}: field 'urls_env': the environment variable {tier.urls_env} is not set"
            )
        urls += [ln.strip() for ln in environ[tier.urls_env].splitlines() if ln.strip()]
    return urls


def _tagged(tier: TierConfig, where: str, throttle: float | None) -> tuple[Receiver, ...]:
    if tier.apprise_config is None:
        return ()
    config = apprise.AppriseConfig()
    if not tier.apprise_config.is_file() or not config.add(str(tier.apprise_config)):
        raise ConfigError(
            f"{where}: field 'apprise_config': {tier.apprise_config} is not a readable apprise "
            "config file (YAML or TEXT)"
        )
    loaded = apprise.Apprise()
    loaded.add(config)
    found = tuple(AppriseReceiver.from_plugin(p, throttle) for p in loaded.find(tag=tier.tags))
    if not found:
        raise ConfigError(
            f"{where}: field 'tags': no URL in {tier.apprise_config} has tag "
            f"{' or '.join(tier.tags)}"
        )
    return found


def build_named_receiver(
    config: ReceiverConfig, notify: NotifySettings, environ: Mapping[str, str]
) -> NamedReceiver:
    tiers = []
    for number, tier in enumerate(config.tiers, start=1):
        where = f"receiver {config.name!r} tier {number}"
        urls = _tier_urls(tier, where, notify, environ)
        throttle = None if tier.throttle is None else tier.throttle / 1000
        receivers: tuple[Receiver, ...] = tuple(
            AppriseReceiver(url, where, throttle) for url in urls
        ) + _tagged(tier, where, throttle)
        tiers.append(Tier(number, receivers, tier.escalate_after))
    send_resolved = config.send_resolved
    return NamedReceiver(
        name=config.name,
        tiers=tuple(tiers),
        template=config.template,
        send_resolved=notify.notify_resolved if send_resolved is None else send_resolved,
    )


def build_named_receivers(
    config: RoutingConfig, notify: NotifySettings, environ: Mapping[str, str]
) -> dict[str, NamedReceiver]:
    return {r.name: build_named_receiver(r, notify, environ) for r in config.receivers}
