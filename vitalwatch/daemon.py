"""``vitalwatch run``: the streaming query, the notifier and the metrics endpoint in one process.

Start order: metrics endpoint, Java and jars, topics, rules, Spark, query, notifier. SIGTERM or
Ctrl-C sets one stop event: the notifier finishes its current alert (or leaves it uncommitted
for redelivery), the query stops, Spark stops, the process exits 0. A failed query ends the
process non-zero, after logging and counting it, so a supervisor (systemd) restarts it and the
query resumes from its checkpoint.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog
from prometheus_client import start_http_server

from vitalwatch.infra.jarsets import spark_kafka_connector_jars
from vitalwatch.infra.java import find_java
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.notify.log import NotificationLog
from vitalwatch.notify.notifier import Notifier
from vitalwatch.notify.receivers import build_receivers
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


def install_stop_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_daemon(settings: Settings, stop: threading.Event, metrics: Metrics | None = None) -> int:
    from vitalwatch.stream.job import start_query
    from vitalwatch.stream.listener import MetricsListener
    from vitalwatch.stream.session import build_spark_session

    metrics = metrics or Metrics()
    server, _ = start_http_server(
        settings.http.port, addr=settings.http.host, registry=metrics.registry
    )
    log.info("metrics.listening", host=settings.http.host, port=server.server_port)
    receivers = build_receivers(settings.notify.apprise_urls())
    if not receivers:
        log.warning("notify.no_receivers", hint="set VITALWATCH_NOTIFY__URLS to apprise URLs")
    java = find_java()
    connector = spark_kafka_connector_jars(settings.cache_dir, java)
    ensure_topics(settings)
    rules = load_rules(settings.rules.directory)
    log.info("rules.loaded", count=len(rules), rules=[r.spec.id for r in rules])
    spark = build_spark_session(settings, java, connector)
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
        spark.streams.addListener(MetricsListener(metrics, rules))
        query = start_query(spark, rules, settings)
        notifier.start()
        log.info("daemon.ready", query=query.name)
        while not stop.wait(1.0):
            if not query.isActive:
                log.error(
                    "daemon.query_ended", hint="the query resumes from its checkpoint on restart"
                )
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
