"""``vitalwatch run``: the streaming query, the notifier and the HTTP endpoint, supervised.

Start order: HTTP endpoint (``/metrics``, ``/healthz``, ``/readyz``), topics, rules, Spark,
query, the heartbeat (a tick per trigger so the query's timers run when no feed sends anything),
notifier; then READY=1 to systemd. The supervisor loop (one tick a second) then:
- restarts a failed query from its checkpoint with exponential backoff and a cap, and exits 1
  after ``supervisor.max_failures`` failures within ``supervisor.failure_window`` (systemd then
  restarts the process); every failure is a technical alarm (``vitalwatch.service.query``);
- probes the query's dependencies, the broker and the checkpoint directory: an outage is a
  technical alarm and makes the daemon not ready; a query failing during one waits for it to
  end, uncounted, and restarts by itself (``vitalwatch.service.dependencies``);
- ends the process (exit 1, technical alarm) if the notifier, the heartbeat or the HTTP
  endpoint dies;
- raises a technical alarm when the query stops reporting (stuck batch), and pings systemd's
  watchdog only while it reports; sends a STATUS line with throughput;
- reloads rules on a file edit (polled every second) or SIGHUP: valid new rules replace the query
  with one running them, from the same checkpoint, so no reading is skipped and each patient's
  state keeps what unchanged rules had; invalid files are a technical alarm, the running rules
  stay;
- reloads the notification routing the same way, on SIGHUP or an edit of
  ``notify.routing_file`` (polled every second when one is set): a valid file replaces the
  routes, receivers, inhibition rules and fallback for what is routed from then on, without
  dropping anything grouped, queued or in retry (``Dispatcher.use_routing`` says how pending
  groups and open alerts are treated); an invalid one is a technical alarm, the running routing
  stays. Both count their attempts by outcome (``vitalwatch_rule_reloads_total``,
  ``vitalwatch_routing_reloads_total``).

SIGTERM or Ctrl-C sets one stop event: STOPPING=1; the running micro-batch completes (at most
``supervisor.drain_timeout``), the notifier finishes its current alert or leaves it uncommitted
for redelivery (at most 30 s), Spark stops, the process exits 0.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from vitalwatch.kafka_clients import close_producer, ensure_topics, make_producer
from vitalwatch.metrics import Metrics
from vitalwatch.notify.service import NotificationService
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.loader import load_rules
from vitalwatch.rules.watch import RuleWatcher
from vitalwatch.service.dependencies import DependencyWatch
from vitalwatch.service.health import BrokerProbe, CheckpointProbe, Health
from vitalwatch.service.http import HttpEndpoint
from vitalwatch.service.progress import ProgressTracker
from vitalwatch.service.reload import RoutingReloads, reloaded
from vitalwatch.service.restart import RestartPolicy
from vitalwatch.service.sd_notify import SdNotify
from vitalwatch.service.technical_alarm import KafkaPublish, TechnicalAlarm
from vitalwatch.settings import Settings

if TYPE_CHECKING:
    from vitalwatch.service.query import QuerySupervisor
    from vitalwatch.stream.listener import MetricsListener

log = structlog.get_logger(__name__)

STATUS_EVERY_S = 5.0
NOTIFIER_STOP_TIMEOUT_S = 30.0


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
    settings: Settings, running: Sequence[RuleKind[Any]], metrics: Metrics, alarm: TechnicalAlarm
) -> list[RuleKind[Any]] | None:
    """New rules if the files now hold a valid, different rule set; else None."""
    rules = reloaded(
        "rules", partial(load_rules, settings.rules.directory),
        lambda new: [r.spec for r in new] == [r.spec for r in running],
        metrics.rule_reloads, alarm, running=_rule_ids(running),
    )  # fmt: skip
    if rules is not None:
        old, new = set(_rule_ids(running)), set(_rule_ids(rules))
        log.info("rules.reloaded", added=sorted(new - old), removed=sorted(old - new),
                 count=len(rules))  # fmt: skip
    return rules


class _Reloads:
    """Rules reloaded when their files change, routing when its file does, both on SIGHUP."""

    def __init__(
        self,
        settings: Settings,
        rules: list[RuleKind[Any]],
        rule_files: RuleWatcher,
        routing: RoutingReloads,
        alarm: TechnicalAlarm,
        metrics: Metrics,
    ) -> None:
        self.settings, self.rules, self.routing = settings, rules, routing
        self._rule_files = rule_files
        self.alarm, self.metrics = alarm, metrics

    def check(
        self, signalled: bool, spark: Any, query: QuerySupervisor, listener: MetricsListener
    ) -> None:
        if self._rule_files.changed() or signalled:
            self.reload_rules(spark, query, listener)
        self.routing.check(signalled)

    def reload_rules(self, spark: Any, query: QuerySupervisor, listener: MetricsListener) -> None:
        from vitalwatch.stream.job import start_query

        new_rules = _reloaded_rules(self.settings, self.rules, self.metrics, self.alarm)
        if new_rules is not None:
            self.rules = new_rules
            listener.use_rules(new_rules)
            query.replace(partial(start_query, spark, new_rules, self.settings))


class _Loop:
    """The supervisor loop's state: what it watches, and what it tells systemd."""

    def __init__(
        self,
        query: QuerySupervisor,
        listener: MetricsListener,
        progress: ProgressTracker,
        health: Health,
        systemd: SdNotify,
        alarm: TechnicalAlarm,
        metrics: Metrics,
    ) -> None:
        self.query, self.listener = query, listener
        self.progress, self.health, self.systemd = progress, health, systemd
        self.alarm, self.metrics = alarm, metrics
        self.restarts = 0
        self._last_ping = self._last_status = 0.0
        self._stalled = False

    def watch_progress(self) -> None:
        """Technical alarm when a running query stops reporting; watchdog pings while it does."""
        now = time.monotonic()
        self.health.tick()
        recent = self.health.batches_recent()
        progressing = recent.ok and self.query.running()
        if self.query.running() and not recent.ok and not self._stalled:
            self.alarm.report("query", "query.stalled", detail=recent.detail)
        self._stalled = self.query.running() and not recent.ok
        interval = self.systemd.watchdog_interval
        if interval and progressing and now - self._last_ping >= interval:
            self.systemd.watchdog()
            self._last_ping = now
        if now - self._last_status >= STATUS_EVERY_S:
            restarts = int(self.metrics.query_restarts._value.get())
            self.systemd.status(self.progress.status_line(self.listener.firing, restarts))
            self._last_status = now


def run_daemon(
    settings: Settings,
    stop: threading.Event,
    metrics: Metrics | None = None,
    reload: threading.Event | None = None,
    systemd: SdNotify | None = None,
) -> int:
    from vitalwatch.service.query import QuerySupervisor
    from vitalwatch.stream.driver_jvm import spark_log_file
    from vitalwatch.stream.heartbeat import run_heartbeat
    from vitalwatch.stream.job import QUERY_NAME, checkpoint_buckets, start_query
    from vitalwatch.stream.listener import MetricsListener
    from vitalwatch.stream.session import start_spark

    began = time.monotonic()
    log.info("daemon.starting", spark_log=str(spark_log_file(settings.state_dir)))
    metrics = metrics or Metrics()
    reload = reload or threading.Event()
    # systemd's protocol variables, not configuration: read once, here, at the entry point.
    systemd = systemd or SdNotify.from_environ(os.environ)
    sup = settings.supervisor
    progress = ProgressTracker()
    producer = make_producer(settings)
    alarm = TechnicalAlarm(metrics, KafkaPublish(producer, settings.topics.deadletter, metrics))
    supervisor: QuerySupervisor | None = None
    probes = (BrokerProbe(settings), CheckpointProbe(settings.checkpoint_dir / QUERY_NAME))
    dependencies = DependencyWatch(probes, metrics, alarm)
    health = Health(
        progress,
        sup.stale_after / 1000,
        lambda: supervisor is not None and supervisor.running(),
        probes,
    )
    http = HttpEndpoint(settings.http.host, settings.http.port, metrics.registry, health)
    http.start()
    log.info("http.listening", host=settings.http.host, port=http.port)
    routing_file = settings.notify.routing_file
    # RuleWatcher fingerprints any file (name, size, mtime): it serves the routing file too.
    routing_watcher = RuleWatcher(routing_file) if routing_file else None
    notifier = NotificationService(settings, metrics)  # routing checked before Spark starts
    ensure_topics(settings)
    rule_watcher = RuleWatcher(settings.rules.directory)
    rules = load_rules(settings.rules.directory)
    routing = RoutingReloads(routing_watcher, notifier, metrics, alarm)
    reloads = _Reloads(settings, rules, rule_watcher, routing, alarm, metrics)
    log.info("rules.loaded", count=len(rules), rules=_rule_ids(rules))
    # A checkpoint of another state layout is refused before Spark starts.
    checkpoint_buckets(settings.checkpoint_dir / QUERY_NAME, settings.spark.state_buckets)
    spark = start_spark(settings)
    heartbeat_stop = threading.Event()
    heartbeat = threading.Thread(
        target=run_heartbeat, args=(settings, metrics, heartbeat_stop), name="heartbeat",
        daemon=True,
    )  # fmt: skip
    exit_code = 0
    try:
        listener = MetricsListener(
            metrics, rules, progress, settings.rules.allowed_lateness / 1000, alarm
        )
        spark.streams.addListener(listener)
        policy = RestartPolicy(
            sup.restart_backoff / 1000, sup.restart_backoff_max / 1000,
            sup.max_failures, sup.failure_window / 1000,
        )  # fmt: skip
        supervisor = QuerySupervisor(
            partial(start_query, spark, rules, settings), policy, progress, metrics, alarm,
            dependencies=dependencies.failing,
        )  # fmt: skip
        query = supervisor.start()
        heartbeat.start()
        notifier.start()
        ready_s = round(time.monotonic() - began, 1)
        log.info("daemon.ready", query=query.name, seconds=ready_s)
        systemd.ready(f"running {len(rules)} rules; ready after {ready_s} s")
        loop = _Loop(supervisor, listener, progress, health, systemd, alarm, metrics)
        tick = min(1.0, (systemd.watchdog_interval or 2.0) / 2)
        while not stop.wait(tick):
            signalled = reload.is_set()
            reload.clear()
            reloads.check(signalled, spark, supervisor, listener)
            dependencies.tick()
            if not supervisor.tick():
                exit_code = 1
                break
            if not notifier.is_alive():
                alarm.report("notifier", "daemon.notifier_ended")
                exit_code = 1
                break
            if not heartbeat.is_alive():
                alarm.report("heartbeat", "daemon.heartbeat_ended")
                exit_code = 1
                break
            if not http.is_alive():
                alarm.report("http", "daemon.http_ended")
                exit_code = 1
                break
            loop.watch_progress()
    finally:
        stopping = time.monotonic()
        systemd.stopping("draining: finishing the running micro-batch and notifications")
        drained = supervisor.drain(sup.drain_timeout / 1000) if supervisor else 0.0
        notifier.stop(NOTIFIER_STOP_TIMEOUT_S)
        heartbeat_stop.set()
        for active in spark.streams.active:
            active.stop()
        spark.stop()
        # Spark's listener (through py4j) keeps the alarm, and so this producer, alive after
        # return; closed, it stops reconnecting to a broker that goes next (``vitalwatch demo``).
        close_producer(producer, 5)
        http.stop()
        systemd.close()
        log.info(
            "daemon.stopped",
            exit_code=exit_code,
            batch_drain_s=round(drained, 2),
            stop_s=round(time.monotonic() - stopping, 1),
        )
    return exit_code
