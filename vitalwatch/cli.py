"""The ``vitalwatch`` command line. Builds the Settings once and hands them down."""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import SecretStr

from vitalwatch.errors import VitalwatchError
from vitalwatch.logs import configure_logging
from vitalwatch.notify.commands import COMMANDS as NOTIFY_COMMANDS
from vitalwatch.notify.commands import add_commands as add_notify_commands
from vitalwatch.notify.commands import run_command as run_notify_command
from vitalwatch.settings import Settings, load_settings

if TYPE_CHECKING:
    from vitalwatch.infra.broker import LocalBroker

log = structlog.get_logger("vitalwatch.cli")

SIMULATOR_STOP_S = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitalwatch",
        description="Advisory patient-alerting daemon (secondary to bedside alarms).",
    )
    parser.add_argument("--config", type=Path, help="YAML config file (else $VITALWATCH_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the daemon: streaming query, notifier, metrics")

    demo = commands.add_parser(
        "demo", help="local broker + simulator + daemon, notifications on the console"
    )
    demo.add_argument("--patients", type=int, default=20)

    sim = commands.add_parser("simulate", help="publish synthetic readings to the vitals topics")
    sim.add_argument("--patients", type=int, default=20)
    sim.add_argument("--duration", type=float, default=600, help="simulated seconds")
    sim.add_argument(
        "--speed", type=float, default=1.0, help="x real time; 0 = as fast as possible"
    )
    sim.add_argument("--bp-interval", type=float, default=300, help="seconds between BP readings")
    sim.add_argument(
        "--observation-interval",
        type=float,
        help="seconds between SpO2 and respiration readings (with an hourly temperature); "
        "default: not sent",
    )
    sim.add_argument("--malformed-share", type=float, default=0.01)
    sim.add_argument("--seed", type=int, default=7)

    replay = commands.add_parser("replay", help="replay a PhysioNet 2012 stay onto the topics")
    replay.add_argument(
        "stay", type=Path, help="e.g. ../shared/data/physionet2012/set-a/132539.txt"
    )
    replay.add_argument("--speed", type=float, default=600.0, help="x real time")

    kafka = commands.add_parser("kafka", help="the local single-node KRaft broker")
    kafka.add_argument("action", choices=["fetch", "start", "stop", "status"])

    backtest = commands.add_parser(
        "backtest",
        help="run rules over PhysioNet 2012 or 2019 stays with Spark batch; report per rule",
    )
    backtest.add_argument(
        "--input",
        required=True,
        help="a PhysioNet 2012 set-a directory or stay file (.txt); a PhysioNet 2019 directory "
        "or patient file (.psv), whose SepsisLabel column adds the sepsis figures (sepsis "
        "patients alerted before their first positive label, 6 h before onset; median lead; "
        "non-sepsis patients alerted); or kafka:FROM..TO (earliest, latest, epoch ms or ISO "
        "time) for a range of the reading topics",
    )
    backtest.add_argument("--rules", type=Path, help="rule directory (default: settings)")
    backtest.add_argument("--compare", type=Path, help="a second rule directory, side by side")
    backtest.add_argument(
        "--outcomes",
        type=Path,
        help="PhysioNet 2012 Outcomes-a.txt, to relate alerts to in-hospital death (not with "
        ".psv input: its sepsis labels are read from the files)",
    )
    backtest.add_argument("--format", choices=["table", "csv", "json"], default="table")
    backtest.add_argument("--limit", type=int, help="only the first N stays")
    backtest.add_argument("--html", type=Path, help="also write a self-contained HTML report")
    backtest.add_argument(
        "--patient", help="patient for the report's timeline (default: most alerted)"
    )

    gateway = commands.add_parser("gateway", help="hospital feeds in, readings to Kafka")
    gateway.add_argument(
        "protocol",
        choices=["hl7", "fhir"],
        help="hl7: HL7 v2 ORU^R01 (IHE PCD-01) over MLLP; fhir: FHIR R4 vital-sign "
        "Observations over HTTP",
    )

    rules = commands.add_parser("rules", help="rule files")
    rules.add_argument("action", choices=["check", "test"])
    rules.add_argument("path", nargs="?", type=Path, help="rules (check) or rule tests (test)")
    add_notify_commands(commands)
    return parser


def _local_broker(settings: Settings) -> LocalBroker:
    from vitalwatch.infra.broker import LocalBroker
    from vitalwatch.infra.jarsets import kafka_broker_jars
    from vitalwatch.infra.java import find_java

    java = find_java()
    port = int(settings.kafka.bootstrap_servers.rsplit(":", 1)[1])
    jars = tuple(kafka_broker_jars(settings.cache_dir, java))
    return LocalBroker(settings.state_dir / "kafka", port, jars, java)


def _kafka(settings: Settings, action: str) -> int:
    broker = _local_broker(settings)
    if action == "fetch":
        from vitalwatch.infra.jarsets import spark_kafka_connector_jars

        spark_kafka_connector_jars(settings.cache_dir, broker.java)
        print(f"jars cached under {settings.cache_dir}")
    elif action == "start":
        broker.start()
    elif action == "stop":
        broker.stop()
    else:
        pid = broker.running_pid()
        print(f"running (pid {pid}) on {broker.bootstrap_servers}" if pid else "not running")
        return 0 if pid else 3
    return 0


def _simulate(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> int:
    from vitalwatch.kafka_clients import ensure_topics
    from vitalwatch.simulate.messages import publish
    from vitalwatch.simulate.synthetic import SyntheticWard

    ensure_topics(settings)
    ward = SyntheticWard(
        patients=args.patients,
        duration_s=args.duration,
        start_ms=int(time.time() * 1000),
        bp_interval_s=args.bp_interval,
        malformed_share=args.malformed_share,
        seed=args.seed,
        observation_interval_s=args.observation_interval,
    )
    publish(ward.messages(), settings, speed=args.speed, stop=stop)
    return 0


def _replay(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> int:
    from vitalwatch.kafka_clients import ensure_topics
    from vitalwatch.simulate.messages import publish
    from vitalwatch.simulate.physionet import PHYSIONET_STAY_MS, stay_messages

    ensure_topics(settings)
    # The stay is placed so that it ends now: faster than real time, its readings are then never
    # stamped ahead of the moment they are published (they would be dead-lettered as future).
    start_ms = int(time.time() * 1000) - PHYSIONET_STAY_MS
    publish(stay_messages(args.stay, start_ms), settings, args.speed, stop)
    return 0


def _demo(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> int:
    from vitalwatch.daemon import run_daemon
    from vitalwatch.kafka_clients import ensure_topics
    from vitalwatch.rules.loader import load_rules
    from vitalwatch.simulate.synthetic import SyntheticWard
    from vitalwatch.stream.driver_jvm import spark_log_file

    if not settings.notify.urls and settings.notify.urls_file is None:
        settings.notify.urls = [SecretStr("console://")]
    load_rules(settings.rules.directory)  # bad or missing rules: stop before the broker starts
    broker = _local_broker(settings)
    log.info(
        "demo.starting",
        spark_log=str(spark_log_file(settings.state_dir)),
        kafka_log=str(broker.log_file),
        notifications="printed on standard output in framed blocks; stop with Ctrl-C",
    )
    started_broker = broker.running_pid() is None
    broker.start()
    ensure_topics(settings)
    if settings.roster is None:
        settings.roster = SyntheticWard(patients=args.patients).write_roster(
            settings.state_dir / "demo-roster.csv"
        )
    sim_args = argparse.Namespace(
        patients=args.patients, duration=24 * 3600, speed=1.0, bp_interval=60,
        malformed_share=0.01, seed=7, observation_interval=5.0,
    )  # fmt: skip
    simulator = threading.Thread(
        target=_simulate, args=(settings, sim_args, stop), name="simulator", daemon=True
    )
    simulator.start()
    log.info(
        "demo.started",
        metrics=f"http://{settings.http.host}:{settings.http.port}/metrics",
        expect="P-0001 becomes tachycardic and P-0004 deteriorates: NEWS2 notifications print "
        "about 35 s after start, P-0001's tachycardia one about 90 s",
    )
    try:
        return run_daemon(settings, stop)
    finally:
        stop.set()
        simulator.join(SIMULATOR_STOP_S)
        if started_broker:
            # Free the Kafka clients of the simulator and the daemon (some sit in reference
            # cycles) before their broker goes, not at exit: librdkafka would print connection
            # failures on the console while the broker shuts down.
            gc.collect()
            broker.stop()


def _backtest(settings: Settings, args: argparse.Namespace) -> int:
    from vitalwatch.backtest.report import BurdenFigures, as_csv, as_json, as_table, figures
    from vitalwatch.backtest.run import (
        KAFKA_PREFIX,
        is_physionet2019,
        kafka_records,
        physionet_outcomes,
        physionet_records,
        run_rules,
        sepsis_labels,
        stay_files,
    )
    from vitalwatch.backtest.sepsis import sepsis_figures, sepsis_summary
    from vitalwatch.errors import ConfigError
    from vitalwatch.rules.loader import load_rules
    from vitalwatch.stream.session import start_spark

    started = time.monotonic()
    kafka = args.input.startswith(KAFKA_PREFIX)
    files = [] if kafka else stay_files(Path(args.input), args.limit)
    labels = sepsis_labels(files) if is_physionet2019(files) else None
    if labels is not None and args.outcomes:
        raise ConfigError("--outcomes is for PhysioNet 2012; .psv files carry their sepsis labels")
    died = physionet_outcomes(args.outcomes) if args.outcomes else None
    # Rule sets are checked before Spark starts and the files are read (~10 s): a bad rule file
    # is refused at once.
    rule_sets = [
        (directory, load_rules(directory))
        for directory in [args.rules or settings.rules.directory, args.compare]
        if directory is not None
    ]
    # The files are read while Spark starts, whose start mostly waits for the JVM (with the Arrow
    # hand-over of ``records_frame``, the 2012 set's run 1.5 s shorter, bench/CAPACITY.md).
    with ThreadPoolExecutor(1, thread_name_prefix="backtest-files") as reader:
        reading = None if kafka else reader.submit(physionet_records, files, settings)
        spark = start_spark(settings)
        if reading is None:
            records, spans = kafka_records(spark, settings, args.input)
            source = f"{len(spans)} patients from {args.input}"
        else:
            records, spans = reading.result()
            source = f"{len(files)} stays from {args.input}"
    counts = f"{source}, {len(records)} readings"
    if labels is not None:
        counts += f"\n{sepsis_summary(spans, labels)}"
    runs: dict[str, Sequence[BurdenFigures]] = {}
    first_alerts: list[dict[str, Any]] = []
    for directory, rules in rule_sets:
        alerts = run_rules(spark, settings, rules, records)
        first_alerts = first_alerts or alerts
        rule_ids = [r.spec.id for r in rules]
        rows: Sequence[BurdenFigures] = (
            figures(alerts, rule_ids, spans, died)
            if labels is None
            else sepsis_figures(alerts, rule_ids, spans, labels)
        )
        runs[str(directory)] = rows
        title = f"{directory}: {counts}"
        if args.format == "table":
            print(as_table(rows, title) + "\n")
        else:
            print(as_csv(rows) if args.format == "csv" else as_json(rows))
    spark.stop()
    if args.html:
        from vitalwatch.backtest.html import episodes_of, report
        from vitalwatch.backtest.run import patient_series

        patient = args.patient or most_alerted(first_alerts)
        title = f"vitalwatch backtest: {source}"
        page = report(title, runs, patient, patient_series(records, patient),
                      episodes_of(first_alerts, patient))  # fmt: skip
        args.html.write_text(page, encoding="utf-8")
        print(f"report written to {args.html}")
    log.info("backtest.finished", patients=len(spans), seconds=round(time.monotonic() - started, 1))
    return 0


def most_alerted(alerts: Sequence[dict[str, Any]]) -> str:
    firing = Counter(a["patient_id"] for a in alerts if a["state"] == "firing")
    return firing.most_common(1)[0][0] if firing else ""


def _rules_test(settings: Settings, path: Path | None) -> int:
    from vitalwatch.rules.loader import load_rules
    from vitalwatch.rules.testing import run_test_files

    rules = load_rules(settings.rules.directory)
    results = run_test_files(path or settings.rules.directory / "tests", rules)
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.file.name}: {result.name}")
        if not result.passed:
            print(f"     expected {result.expected}\n     got      {result.actual}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _rules(settings: Settings, args: argparse.Namespace) -> int:
    from vitalwatch.rules.loader import load_rules

    if args.action == "test":
        return _rules_test(settings, args.path)
    path = args.path or settings.rules.directory
    rules = load_rules(path)
    for rule in rules:
        print(f"ok  {rule.spec.id:32} {rule.spec.kind:12} {rule.spec.severity.value}")
    print(f"{len(rules)} rules valid in {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        configure_logging(settings.log_format, settings.log_level)
        stop, reload = threading.Event(), threading.Event()
        if args.command in {"run", "demo", "simulate", "replay", "gateway"}:
            from vitalwatch.daemon import install_signals, run_daemon

            install_signals(stop, reload)
            if args.command == "run":
                return run_daemon(settings, stop, reload=reload)
            if args.command == "gateway":
                from vitalwatch.gateway.service import run_fhir_gateway, run_hl7_gateway

                if args.protocol == "fhir":
                    return run_fhir_gateway(settings, stop)
                return run_hl7_gateway(settings, stop)
            handler = {"demo": _demo, "simulate": _simulate, "replay": _replay}[args.command]
            return handler(settings, args, stop)
        if args.command == "kafka":
            return _kafka(settings, args.action)
        if args.command in NOTIFY_COMMANDS:
            if args.command == "notify" and args.action == "serve":
                from vitalwatch.daemon import install_signals

                install_signals(stop, reload)
            return run_notify_command(settings, args, stop, reload)
        if args.command == "backtest":
            return _backtest(settings, args)
        return _rules(settings, args)
    except VitalwatchError as exc:
        print(f"vitalwatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
