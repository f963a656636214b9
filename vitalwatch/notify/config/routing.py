"""The routing config: a tree of routes matched on alert labels, named receivers with escalation
tiers, inhibition rules and a fallback receiver for technical alerts. YAML, validated on load.

Routes match as in Alertmanager: an alert enters the root, goes down to the first child whose
matchers all match (and on to later siblings too when that child has ``continue: true``); the
deepest matching routes deliver. Children inherit their parent's receiver and timing unless
they set their own. Without ``notify.routing_file`` the embedded default below routes every
alert to the apprise URLs of ``notify.urls``/``notify.urls_file``, grouped per patient.

``group_wait`` is one duration or one per severity (``{high: 0s, medium: 5s, low: 30s}``, the
default): Alertmanager's wait lets a burst of server alerts become one message, but a ``high``
alert (IEC 60601-1-8: immediate response) should not wait for company; follow-ups of the same
group are still folded into one message per ``group_interval``.

An invalid file is rejected with the file, the route or receiver and the field named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from vitalwatch.contracts.alerts import Severity
from vitalwatch.durations import DurationMs, parse_duration_ms
from vitalwatch.errors import ConfigError
from vitalwatch.notify.config.matchers import Matcher, all_match, parse_matchers
from vitalwatch.yaml_input import YamlInputError, YamlModel, line_of, load_yaml

DEFAULT_ROUTING = """
route:
  name: default
  receiver: default
  group_by: [patient_id]
  group_wait: {high: 0s, medium: 5s, low: 30s}
  group_interval: 1m
  repeat_interval: 0s
receivers:
  - name: default
    tiers:
      - use_notify_urls: true
"""


class _Model(YamlModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_matchers(value: list[str]) -> list[str]:
    parse_matchers(value)
    return value


class GroupWait(YamlModel):
    """How long a new group waits for more alerts before its first message, by the severity of
    its alerts (a group goes out when the wait of any of its pending alerts is over)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high: DurationMs
    medium: DurationMs
    low: DurationMs

    def ms(self, severity: Severity) -> int:
        return int(getattr(self, severity.value))


# Without a group_wait anywhere on the path: a high alert leaves at once (see the docstring).
DEFAULT_GROUP_WAIT = GroupWait.model_validate({"high": "0s", "medium": "5s", "low": "30s"})


def _group_wait(value: Any) -> Any:
    """One duration for every severity, or a mapping that names each severity."""
    if isinstance(value, (str, int, float)):
        parse_duration_ms(value)  # one error, on the field itself, when it is not a duration
        return {severity.value: value for severity in Severity}
    return value


class TierConfig(_Model):
    """Who is told at one escalation step, and how long they have to acknowledge."""

    urls: list[SecretStr] = Field(default_factory=list)
    urls_file: Path | None = None  # one apprise URL per line (a credential file)
    urls_env: str | None = None  # name of an environment variable: URLs, one per line
    use_notify_urls: bool = False  # the URLs of the settings notify.urls / notify.urls_file
    # An apprise config file (YAML or TEXT) and the tags to take from it (any of them matches;
    # "a, b" in one entry needs both), so URLs can live in the config hospitals already keep.
    apprise_config: Path | None = None
    tags: list[str] = Field(default_factory=list)
    escalate_after: DurationMs | None = None  # not acknowledged by then: the next tier
    # Least time between two messages to one URL. Default: apprise's for the service, which
    # is 5.5 s for most (email included), so a burst for many patients queues behind it.
    throttle: DurationMs | None = None

    @model_validator(mode="after")
    def _tags_need_a_config(self) -> TierConfig:
        if bool(self.tags) != (self.apprise_config is not None):
            raise ValueError("'tags' and 'apprise_config' go together")
        return self

    def names_targets(self) -> bool:
        """Whether the tier says where to send at all (what it names may still resolve to no
        URL: ``notify check`` and the dispatcher's fallback stage catch that)."""
        return bool(
            self.urls or self.urls_file or self.urls_env or self.use_notify_urls
            or self.apprise_config
        )  # fmt: skip


class ReceiverConfig(_Model):
    name: str = Field(min_length=1)
    # short: SMS-like, one line; rich: email and chat. Default: chosen by the URL's service.
    template: Literal["short", "rich"] | None = None
    send_resolved: bool | None = None  # default: the setting notify.notify_resolved
    tiers: list[TierConfig] = Field(min_length=1)


class RouteConfig(_Model):
    name: str | None = None
    matchers: list[str] = Field(default_factory=list)
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: GroupWait | None = None  # one duration, or {high: .., medium: .., low: ..}
    group_interval: DurationMs | None = None
    # Wall-clock reminder of a group still firing unacknowledged; 0 (default): never. Rules
    # re-notify in event time themselves (``renotify``), which is usually what is wanted.
    repeat_interval: DurationMs | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    _matchers = field_validator("matchers")(_check_matchers)
    _group_wait = field_validator("group_wait", mode="before")(_group_wait)


class InhibitRule(_Model):
    """While an alert matching ``source_matchers`` fires, alerts matching ``target_matchers``
    that share the ``equal`` labels with it are not notified."""

    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=lambda: ["patient_id"])

    _source = field_validator("source_matchers")(_check_matchers)
    _target = field_validator("target_matchers")(_check_matchers)


class RoutingConfig(_Model):
    route: RouteConfig
    receivers: list[ReceiverConfig] = Field(min_length=1)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    fallback: str | None = None  # receiver for technical alerts (delivery failures)

    def receiver(self, name: str) -> ReceiverConfig:
        return next(r for r in self.receivers if r.name == name)


@dataclass(frozen=True)
class Route:
    """A route with everything inherited resolved; ``name`` is its own or its path."""

    name: str
    matchers: tuple[Matcher, ...]
    receiver: str
    group_by: tuple[str, ...]
    group_wait: GroupWait
    group_interval_ms: int
    repeat_interval_ms: int
    continue_: bool
    children: tuple[Route, ...]

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The group an alert joins on this route; the receiver is part of it, so a reload
        that gives the route another receiver starts new groups."""
        values = "\x1f".join(f"{k}={labels.get(k, '')}" for k in self.group_by)
        return f"{self.name}\x1e{self.receiver}\x1e{values}"


class Router:
    def __init__(self, root: Route) -> None:
        self.root = root

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        return _match(self.root, labels)

    def routes(self) -> list[Route]:
        found: list[Route] = []
        stack = [self.root]
        while stack:
            route = stack.pop(0)
            found.append(route)
            stack[:0] = route.children
        return found

    def find(self, name: str) -> Route:
        for route in self.routes():
            if route.name == name:
                return route
        names = ", ".join(r.name for r in self.routes())
        raise ConfigError(f"no route named {name!r} (routes: {names})")


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not all_match(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.children:
        matched = _match(child, labels)
        found += matched
        if matched and not child.continue_:
            break
    return found or [route]


def _resolve(config: RouteConfig, parent: Route | None, path: str) -> Route:
    def pick(own: Any, inherited: Any, default: Any) -> Any:
        return own if own is not None else (inherited if parent is not None else default)

    route = Route(
        name=config.name or path,
        matchers=parse_matchers(config.matchers),
        receiver=pick(config.receiver, parent and parent.receiver, None),
        group_by=tuple(pick(config.group_by, parent and parent.group_by, ["patient_id"])),
        group_wait=pick(config.group_wait, parent and parent.group_wait, DEFAULT_GROUP_WAIT),
        group_interval_ms=pick(config.group_interval, parent and parent.group_interval_ms, 60_000),
        repeat_interval_ms=pick(config.repeat_interval, parent and parent.repeat_interval_ms, 0),
        continue_=config.continue_,
        children=(),
    )
    children = tuple(_resolve(child, route, f"{path}.{i}") for i, child in enumerate(config.routes))
    return Route(**{**route.__dict__, "children": children})


def build_router(config: RoutingConfig) -> Router:
    return Router(_resolve(config.route, None, "root"))


def _check_references(config: RoutingConfig, source: str) -> None:
    names = [r.name for r in config.receivers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: receiver {duplicates[0]!r}: duplicate name")
    if config.route.receiver is None:
        raise ConfigError(f"{source}: route 'root': field 'receiver': the root route needs one")
    seen_routes: set[str] = set()
    for route in build_router(config).routes():
        if route.receiver not in names:
            raise ConfigError(
                f"{source}: route {route.name!r}: field 'receiver': unknown receiver "
                f"{route.receiver!r} (receivers: {', '.join(names)})"
            )
        if route.name in seen_routes:
            raise ConfigError(f"{source}: route {route.name!r}: duplicate name")
        seen_routes.add(route.name)
    if config.fallback is not None and config.fallback not in names:
        raise ConfigError(
            f"{source}: field 'fallback': unknown receiver {config.fallback!r} "
            f"(receivers: {', '.join(names)})"
        )
    _check_somewhere_to_go(config, source)


def _check_somewhere_to_go(config: RoutingConfig, source: str) -> None:
    """Refuse what would send alerts nowhere: a tier without targets, and a root route with
    matchers (alerts that fail them match no route) unless a fallback receiver takes those."""
    for receiver in config.receivers:
        for index, tier in enumerate(receiver.tiers):
            if not tier.names_targets():
                raise ConfigError(
                    f"{source}: receiver {receiver.name!r}: field 'tiers.{index}': tier "
                    f"{index + 1} has no targets; give it urls, urls_file, urls_env, "
                    "use_notify_urls or apprise_config"
                )
    if config.route.matchers and config.fallback is None:
        raise ConfigError(
            f"{source}: route 'root': field 'matchers': alerts that match none of them go "
            "nowhere; remove the root's matchers (match in child routes) or set 'fallback:' to "
            "a receiver that takes them"
        )


def _where(document: Any, loc: tuple[int | str, ...]) -> str:
    """Name the route or receiver an error location points into, and the field."""
    place, node, path = "", document, "root"
    field: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part == "receivers" and i == 0:
            place = "receivers"
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            item = node[part]
            if place == "receivers" and isinstance(item, dict):
                place = f"receiver {item.get('name', f'#{part + 1}')!r}"
                field = []
                node = item
                continue
            if loc[i - 1] == "routes":
                path = f"{path}.{part}"
                name = item.get("name") if isinstance(item, dict) else None
                place = f"route {name or path!r}"
                field = []
                node = item
                continue
        if part == "route" and i == 0:
            place = "route 'root'"
            node = node.get("route") if isinstance(node, dict) else None
            continue
        if part != "routes":
            field.append(str(part))
        node = node.get(part) if isinstance(node, dict) and isinstance(part, str) else None
    label = ".".join(field) or "(whole)"
    return f"{place}: field {label!r}" if place else f"field {label!r}"


def _line(document: Any, location: Sequence[int | str]) -> str:
    line = line_of(document, location)
    return f" (line {line})" if line else ""


def parse_routing(text: str, source: str) -> RoutingConfig:
    try:
        document = load_yaml(text)
    except YamlInputError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with 'route:' and 'receivers:'")
    try:
        config = RoutingConfig.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{source}: {_where(document, tuple(e['loc']))}: {e['msg']}{_line(document, e['loc'])}"
            for e in exc.errors()
        ]
        raise ConfigError("\n".join(problems)) from None
    _check_references(config, source)
    return config


def load_routing(path: Path | None) -> RoutingConfig:
    """The routing file at ``path``, or the embedded default when ``path`` is None."""
    if path is None:
        return parse_routing(DEFAULT_ROUTING, "(embedded default routing)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be read ({exc.strerror}); set notify.routing_file to a readable file"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot be read: not UTF-8 ({exc.reason})") from None
    return parse_routing(text, str(path))
