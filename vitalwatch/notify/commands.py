"""The notification commands of the CLI: ``notify check|test|serve``, ``silence``, ``ack``,
``audit``. Registered on the main parser by ``add_commands``; run by ``run_command``."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from vitalwatch.durations import format_duration_ms, parse_duration_ms
from vitalwatch.errors import ConfigError
from vitalwatch.metrics import Metrics
from vitalwatch.notify.operations import Operations, UnknownAlert, state_file
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.settings import Settings

COMMANDS = frozenset({"notify", "silence", "ack", "audit"})


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = commands.add_parser("notify", help="notification routing and the notifier")
    actions = notify.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate a routing file (default: the setting)")
    check.add_argument("file", nargs="?", type=Path)
    check.add_argument(
        "--labels", nargs="+", metavar="NAME=VALUE",
        help="also show where an alert with these labels goes, e.g. severity=high ward=ICU-A",
    )  # fmt: skip
    test = actions.add_parser("test", help="send a test notification along a route")
    test.add_argument("route", help="a route name (or path such as root.0)")
    actions.add_parser("serve", help="run the notifier alone (alerts topic to receivers)")

    silence = commands.add_parser("silence", help="silences: add, list, expire")
    sactions = silence.add_subparsers(dest="action", required=True)
    add = sactions.add_parser("add", help="e.g. silence add patient_id=P-0042 --for 2h -r theatre")
    add.add_argument("matchers", nargs="+", help="name=value, name!=value, name=~regex")
    add.add_argument("--for", dest="duration", required=True, help="e.g. 90m, 2h")
    add.add_argument("--reason", "-r", required=True)
    add.add_argument("--by", default=None, help="who asks (default: your user name)")
    listing = sactions.add_parser("list", help="active silences")
    listing.add_argument("--all", action="store_true", help="include expired ones")
    expire = sactions.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id")

    ack = commands.add_parser("ack", help="acknowledge an alert (stops its escalation)")
    ack.add_argument("alert_id")
    ack.add_argument("--by", default=None, help="who acknowledges (default: your user name)")

    audit = commands.add_parser("audit", help="the audit trail of alerts and notifications")
    audit.add_argument("--patient")
    audit.add_argument("--alert")
    audit.add_argument("--since", help="a duration back from now (2h) or an ISO time")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")


def run_command(
    settings: Settings,
    args: argparse.Namespace,
    stop: threading.Event,
    reload: threading.Event | None = None,
) -> int:
    """``reload``: set on SIGHUP (``notify serve`` re-reads its routing then)."""
    if args.command == "notify":
        if args.action == "check":
            return _check(settings, args.file, args.labels)
        if args.action == "test":
            return _test(settings, args.route)
        return _serve(settings, stop, reload or threading.Event())
    ops = Operations.open(settings, Metrics())
    try:
        if args.command == "silence":
            return _silence(ops, args, settings)
        if args.command == "ack":
            try:
                ack, new = ops.acknowledge(args.alert_id, args.by or _user(), "cli", time.time())
            except UnknownAlert:
                raise ConfigError(
                    f"no alert {args.alert_id} has reached the notifier "
                    f"(state in {settings.state_dir}); check the id in the notification"
                ) from None
            when = _iso(ack.at)
            print(f"acknowledged {args.alert_id} at {when}" if new else
                  f"already acknowledged by {ack.by} via {ack.via} at {when}")  # fmt: skip
            return 0
        return _audit(ops, args)
    finally:
        ops.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="seconds")


def _check(settings: Settings, file: Path | None, labels: list[str] | None = None) -> int:
    from vitalwatch.notify.config.receivers import build_named_receivers
    from vitalwatch.notify.config.routing import build_router, load_routing

    path = file or settings.notify.routing_file
    source = str(path or "(embedded default routing)")
    config = load_routing(path)
    receivers = build_named_receivers(config, settings.notify, os.environ)
    router = build_router(config)
    for route in router.routes():
        matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
        print(f"route    {route.name:24} {matchers} -> {route.receiver}")
    for name, receiver in receivers.items():
        for tier in receiver.tiers:
            if not tier.receivers:  # the loader saw a source; it resolved to no URL
                raise ConfigError(
                    f"{source}: receiver {name!r} tier {tier.number}: no targets (its URLs "
                    "resolve to none: check notify.urls, the URL file, variable or apprise tags)"
                )
            after = (
                f", escalates after {format_duration_ms(tier.escalate_after_ms)}"
                if tier.escalate_after_ms is not None
                else ""
            )
            targets = ", ".join(t.name for t in tier.receivers)
            print(f"receiver {name:24} tier {tier.number}: {targets}{after}")
    if router.root.matchers:  # the loader refuses this without a fallback
        matchers = ", ".join(str(m) for m in router.root.matchers)
        print(f"alerts matching no route ({matchers}) go to the fallback receiver "
              f"{config.fallback!r} as technical alerts")  # fmt: skip
    print(f"routing valid: {path or '(embedded default)'}")
    if labels:
        pairs = [label.split("=", 1) for label in labels]
        if any(len(pair) != 2 for pair in pairs):
            raise ConfigError("--labels: write each label as name=value, e.g. severity=high")
        routes = router.match(dict(pairs))
        for route in routes:
            print(f"an alert with {' '.join(labels)} -> route {route.name} "
                  f"-> receiver {route.receiver}")  # fmt: skip
        if not routes:
            print(f"an alert with {' '.join(labels)} -> no route "
                  f"-> fallback receiver {config.fallback} (technical alarm)")  # fmt: skip
    return 0


def _test(settings: Settings, route_name: str) -> int:
    from vitalwatch.notify.config.receivers import build_named_receivers
    from vitalwatch.notify.config.routing import build_router, load_routing
    from vitalwatch.notify.config.templates import render_technical

    config = load_routing(settings.notify.routing_file)
    route = build_router(config).find(route_name)
    receiver = build_named_receivers(config, settings.notify, os.environ)[route.receiver]
    title, body = render_technical(
        f"test notification for route {route.name}",
        f"Sent by `vitalwatch notify test` at {_iso(time.time())} to receiver {receiver.name}. "
        "No patient is concerned.",
    )
    results = {}
    for tier in receiver.tiers:
        for target in tier.receivers:
            try:
                ok = target.send(title.replace("TECHNICAL", "TEST"), body)
            except Exception as exc:  # report every service, whatever one of them does
                ok, why = False, type(exc).__name__
            else:
                why = ""
            results[f"tier {tier.number} {target.name}"] = "ok" if ok else "failed"
            print(f"{'ok    ' if ok else 'FAILED'} tier {tier.number} {target.name} {why}".rstrip())
    failed = sum(r == "failed" for r in results.values())
    print(f"route {route.name} -> receiver {receiver.name}: {failed} failed")
    audit = AuditLog(state_file(settings))
    audit.record("notification.test", time.time(), receiver=receiver.name, route=route.name,
                 results=results)  # fmt: skip
    audit.close()
    return 1 if failed else 0


def _serve(settings: Settings, stop: threading.Event, reload: threading.Event) -> int:
    """The notifier alone; it re-reads its routing on SIGHUP or an edit of the routing file,
    as ``vitalwatch run`` does (``vitalwatch.service.reload``)."""
    from vitalwatch.kafka_clients import ensure_topics, make_producer
    from vitalwatch.notify.service import NotificationService
    from vitalwatch.rules.watch import RuleWatcher
    from vitalwatch.service.reload import RoutingReloads
    from vitalwatch.service.technical_alarm import KafkaPublish, TechnicalAlarm

    ensure_topics(settings)
    metrics = Metrics()
    routing_file = settings.notify.routing_file
    watcher = RuleWatcher(routing_file) if routing_file else None
    service = NotificationService(settings, metrics)
    producer = make_producer(settings)
    alarm = TechnicalAlarm(metrics, KafkaPublish(producer, settings.topics.deadletter, metrics))
    routing = RoutingReloads(watcher, service, metrics, alarm)
    service.start()
    try:
        while not stop.wait(0.5):
            if not service.is_alive():
                return 1
            signalled = reload.is_set()
            reload.clear()
            routing.check(signalled)
    finally:
        service.stop()
        producer.flush(5)
    return 0


def _silence(ops: Operations, args: argparse.Namespace, settings: Settings) -> int:
    now = time.time()
    if args.action == "add":
        try:
            ends_at = now + parse_duration_ms(args.duration) / 1000
            silence = ops.add_silence(
                args.matchers, ends_at, args.reason, args.by or _user(), now,
                settings.api.max_silence / 1000,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"silence not added: {exc}") from None
        print(f"{silence.id}  until {_iso(silence.ends_at)}")
        return 0
    if args.action == "expire":
        if not ops.expire_silence(args.silence_id, _user(), now):
            raise ConfigError(f"no active silence {args.silence_id}; see `vitalwatch silence list`")
        print(f"expired {args.silence_id}")
        return 0
    for s in ops.silences.list(now, include_expired=args.all):
        matchers = " ".join(str(m) for m in s.matchers)
        state = "active " if s.active(now) else "expired"
        until = _iso(s.ends_at) if math.isfinite(s.ends_at) else "never (invalid: mutes nothing)"
        print(f"{s.id}  {state}  until {until}  {matchers}  ({s.reason}; {s.created_by})")
    return 0


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration_ms(text) / 1000
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a duration (2h) or an ISO time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _audit(ops: Operations, args: argparse.Namespace) -> int:
    for e in ops.audit.query(args.patient, args.alert, _since(args.since)):
        if args.json:
            print(json.dumps({"at": _iso(e.at), "event": e.event, "alert_id": e.alert_id,
                              "patient_id": e.patient_id, "rule_id": e.rule_id,
                              "receiver": e.receiver, **e.detail}, default=str))  # fmt: skip
            continue
        who = " ".join(x for x in (e.patient_id, e.rule_id, e.receiver) if x)
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        print(f"{_iso(e.at)}  {e.event:24} {e.alert_id or '-':36}  {who}  {detail}".rstrip())
    return 0
