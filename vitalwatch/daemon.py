"""``vitalwatch run``: the streaming query, the notifier and the metrics endpoint in one process.

Start order: metrics endpoint, Java and jars, topics, rules, Spark, query, notifier. SIGTERM or
Ctrl-C sets one stop event: the notifier finishes its current alert (or leaves it uncommitted
for redelivery), the query stops, Spark stops, the process exits 0. A failed query ends the
process non-zero, after logging and counting it, so a supervisor (systemd) restarts it and the
query resumes from its checkpoint.

Rule reload: an edit to the rule files (polled every second) or SIGHUP reloads them. Valid new
rules replace the query with one running them, from the same checkpoint: no reading is skipped,
and each patient's state, one value keyed by rule id, keeps what unchanged rules had. Invalid
files are logged and counted, and the running rules stay.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import structlog
from prometheus_client import start_http_server

from vitalwatch.errors import RuleFileError
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.notifier import Notifier
from vitalwatch.notify.receivers import build_receivers
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.loader import load_rules
from vitalwatch.rules.watch import RuleWatcher
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


def install_signals(stop: threading.Event, reload: threading.Event) -> None:
    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        stop.set()

    def on_reload(signum: int, frame: FrameType | None) -> None:
        reload.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)


def _rule_ids(rules: Sequence[RuleKind[Any]]) -> list[str]:
    return [rule.spec.id for rule in rules]


def _reloaded_rules(
    settings: Settings, running: Sequence[RuleKind[Any]], metrics: Metrics
) -> list[RuleKind[Any]] | None:
    """New rules if the files now hold a valid, different rule set; else None."""
    try:
        rules = load_rules(settings.rules.directory)
    except RuleFileError as exc:
        metrics.rule_reloads.labels("invalid").inc()
        metrics.technical_alerts.labels("rules").inc()
        log.error("rules.reload_rejected", error=str(exc), running=_rule_ids(running))
        return None
    if [r.spec for r in rules] == [r.spec for r in running]:
        metrics.rule_reloads.labels("unchanged").inc()
        return None
    metrics.rule_reloads.labels("applied").inc()
    old, new = set(_rule_ids(running)), set(_rule_ids(rules))
    log.info("rules.reloaded", added=sorted(new - old), removed=sorted(old - new), count=len(rules))
    return rules


def run_daemon(
    settings: Settings,
    stop: threading.Event,
    metrics: Metrics | None = None,
    reload: threading.Event | None = None,
) -> int:
    from vitalwatch.stream.job import start_query
    from vitalwatch.stream.listener import MetricsListener
    from vitalwatch.stream.session import start_spark

    metrics = metrics or Metrics()
    reload = reload or threading.Event()
    server, _ = start_http_server(
        settings.http.port, addr=settings.http.host, registry=metrics.registry
    )
    log.info("metrics.listening", host=settings.http.host, port=server.server_port)
    receivers = build_receivers(settings.notify.apprise_urls())
    if not receivers:
        log.warning("notify.no_receivers", hint="set VITALWATCH_NOTIFY__URLS to apprise URLs")
    ensure_topics(settings)
    watcher = RuleWatcher(settings.rules.directory)
    rules = load_rules(settings.rules.directory)
    log.info("rules.loaded", count=len(rules), rules=_rule_ids(rules))
    spark = start_spark(settings)
    notification_log = NotificationLog(settings.state_dir / "notifications.sqlite")
    notifier_stop = threading.Event()
    notifier = threading.Thread(
        target=Notifier(settings, receivers, notification_log, metrics).run,
        args=(notifier_stop,),
        name="notifier",
        daemon=True,
    )
    exit_code = 0
    try:
        listener = MetricsListener(metrics, rules)
        spark.streams.addListener(listener)
        query = start_query(spark, rules, settings)
        notifier.start()
        log.info("daemon.ready", query=query.name)
        while not stop.wait(1.0):
            if watcher.changed() or reload.is_set():
                reload.clear()
                new_rules = _reloaded_rules(settings, rules, metrics)
                if new_rules is not None:
                    query.stop()
                    rules = new_rules
                    listener.use_rules(rules)
                    query = start_query(spark, rules, settings)
                    continue
            if not query.isActive:
                log.error("daemon.query_ended", hint="it resumes from its checkpoint on restart")
                metrics.technical_alerts.labels("query").inc()
                exit_code = 1
                break
            if not notifier.is_alive():
                log.error("daemon.notifier_ended")
                metrics.technical_alerts.labels("notifier").inc()
                exit_code = 1
                break
    finally:
        notifier_stop.set()
        notifier.join(timeout=30)
        for active in spark.streams.active:
            active.stop()
        spark.stop()
        notification_log.close()
        server.shutdown()
        log.info("daemon.stopped", exit_code=exit_code)
    return exit_code
