"""Every Prometheus metric vitalwatch exports, in one place, on an explicit registry.

Names are ``vitalwatch_<noun>_<unit>``. Labels are rule, severity, signal, state, reason,
receiver and outcome, never a patient.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from vitalwatch import __version__

_LATENCY_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300)
# An alert's way to a clinician, stage by stage: from a tenth of a second (a Kafka hop, a
# notifier tick) through the seconds a high-priority alert should take in all (target: 3 s) to
# the two minutes past which an advisory alarm has missed its purpose.
# A gateway's answer: a Kafka round trip with acks=all (milliseconds) up to its delivery timeout.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_STAGE_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 30, 60, 120)
# The stages, in order (``vitalwatch.notify.stages.latency``).
ALERT_STAGES = ("released", "written", "read", "flushed", "accepted")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("vitalwatch_build", "vitalwatch version", registry=r)
        self.build_info.info({"version": __version__})
        self.readings = Counter(
            "vitalwatch_readings_total",
            "Readings consumed, by signal and outcome (ok, invalid, late)",
            ["signal", "outcome"],
            registry=r,
        )
        self.deadletters = Counter(
            "vitalwatch_deadletter_total",
            "Messages written to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.roster_spoilt_readings = Counter(
            "vitalwatch_roster_spoilt_readings_total",
            "Readings evaluated with a rule's own limit because the patient's roster override "
            "cell is not a finite number (edited while running)",
            registry=r,
        )
        self.alerts = Counter(
            "vitalwatch_alerts_total",
            "Alert state changes emitted by the rules, by rule, severity and state",
            ["rule", "severity", "state"],
            registry=r,
        )
        self.batches = Counter(
            "vitalwatch_batches_total", "Micro-batches completed by the streaming query", registry=r
        )
        self.batch_duration = Histogram(
            "vitalwatch_batch_duration_seconds",
            "Wall time of a streaming micro-batch",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.input_rate = Gauge(
            "vitalwatch_input_rows_per_second",
            "Kafka records per second read by the query",
            registry=r,
        )
        self.processing_rate = Gauge(
            "vitalwatch_processed_rows_per_second",
            "Kafka records per second the query processed in its last batch",
            registry=r,
        )
        self.query_up = Gauge(
            "vitalwatch_query_up", "1 while the streaming query is active", registry=r
        )
        self.notifications = Counter(
            "vitalwatch_notifications_total",
            "Notifications by routing receiver and outcome (sent, retried, failed, duplicate, "
            "silenced, inhibited, resent)",
            ["receiver", "outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "vitalwatch_notification_delivery_seconds",
            "Time apprise took to deliver one notification",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_notification = Histogram(
            "vitalwatch_event_to_notification_seconds",
            "From the event time of the reading that decided an alert to its delivery",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.alert_age = Histogram(
            "vitalwatch_alert_age_seconds",
            "From the event time of the reading that decided an alert to when its message reached "
            "a stage (released to the rules, written to Kafka, read by the notifier, its group "
            "flushed, accepted by the receiver), by stage and severity",
            ["stage", "severity"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.alert_stage = Histogram(
            "vitalwatch_alert_stage_seconds",
            "Time an alert message spent in one stage: from the previous stage (for released: "
            "from the deciding reading's event time) to reaching this one, by stage and severity",
            ["stage", "severity"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.alerts_unrouted = Counter(
            "vitalwatch_alerts_unrouted_total",
            "Alert messages no receiver could take, handed to the fallback receiver, by reason "
            "(no_route: matched no route; no_targets: the receiver's tier has no URL)",
            ["reason"],
            registry=r,
        )
        self.escalations = Counter(
            "vitalwatch_escalations_total",
            "Alerts escalated to a receiver's next tier (not acknowledged in time, or unreachable)",
            ["receiver"],
            registry=r,
        )
        self.acks = Counter(
            "vitalwatch_acks_total",
            "Acknowledgements recorded, by channel (cli, api, link) and outcome (new, repeated)",
            ["via", "outcome"],
            registry=r,
        )
        self.api_requests = Counter(
            "vitalwatch_api_requests_total",
            "Requests to the notification API by endpoint and outcome "
            "(ok, bad, unauthorized, not_found, too_large)",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.rules_loaded = Gauge(
            "vitalwatch_rules_loaded", "Rules the running query evaluates", registry=r
        )
        self.rule_reloads = Counter(
            "vitalwatch_rule_reloads_total",
            "Rule reload attempts by outcome (applied, invalid, unchanged)",
            ["outcome"],
            registry=r,
        )
        self.routing_reloads = Counter(
            "vitalwatch_routing_reloads_total",
            "Notification routing reload attempts by outcome (applied, invalid, unchanged)",
            ["outcome"],
            registry=r,
        )
        self.errors = Counter(
            "vitalwatch_errors_total",
            "Recoverable errors by component and kind (e.g. a Kafka consume error)",
            ["component", "kind"],
            registry=r,
        )
        self.technical_alerts = Counter(
            "vitalwatch_technical_alerts_total",
            "Internal failures raised as technical alerts, by component",
            ["component"],
            registry=r,
        )
        self.deadletter_failures = Counter(
            "vitalwatch_deadletter_failures_total",
            "Dead-letter writes of the notifier the broker did not confirm, by reason "
            "(bad_alert_message: offset held back and read again; notification_failed: written "
            "again)",
            ["reason"],
            registry=r,
        )
        self.notifier_commit_failures = Counter(
            "vitalwatch_notifier_commit_failures_total",
            "Offset commits of the notifier's consumer that failed (retried with backoff)",
            registry=r,
        )
        # Service: supervision and the query's progress (vitalwatch.service, the listener).
        self.query_restarts = Counter(
            "vitalwatch_query_restarts_total",
            "Restarts of the streaming query from its checkpoint after a failure",
            registry=r,
        )
        self.dependency_up = Gauge(
            "vitalwatch_dependency_up",
            "1 while a dependency of the query answers, by dependency (broker: a metadata "
            "request; checkpoint: a file written in its directory)",
            ["dependency"],
            registry=r,
        )
        self.last_batch = Gauge(
            "vitalwatch_last_batch_timestamp_seconds",
            "Unix time of the streaming query's last completed micro-batch",
            registry=r,
        )
        self.kafka_lag = Gauge(
            "vitalwatch_kafka_lag_records",
            "Records in the input topic not yet read by the query, summed over partitions",
            ["topic"],
            registry=r,
        )
        # Event time, per signal, from the newest valid reading of each micro-batch. The rule
        # evaluator's watermark (per patient and signal) trails the newest reading by
        # rules.allowed_lateness, so the watermark delay is the lag plus that lateness.
        self.event_time_lag = Gauge(
            "vitalwatch_event_time_lag_seconds",
            "End of the batch minus the event time of the newest valid reading of the signal in it",
            ["signal"],
            registry=r,
        )
        self.watermark_delay = Gauge(
            "vitalwatch_watermark_delay_seconds",
            "End of the batch minus the rules' event-time watermark (event time lag plus allowed "
            "lateness), by signal",
            ["signal"],
            registry=r,
        )
        self.state_rows = Gauge(
            "vitalwatch_state_rows",
            "Keys held in the query's state store (one per patient and state variable)",
            ["operator"],
            registry=r,
        )
        # Gateways (vitalwatch.gateway), labelled by protocol (hl7, fhir).
        self.gateway_messages = Counter(
            "vitalwatch_gateway_messages_total",
            "Messages received by a gateway, by protocol, outcome (accepted: AA, 201; rejected: "
            "AR, 4xx, dead-lettered if malformed; failed: AE, 503, not written) and reason",
            ["protocol", "outcome", "reason"],
            registry=r,
        )
        self.gateway_readings = Counter(
            "vitalwatch_gateway_readings_total",
            "Readings a gateway wrote to Kafka (confirmed by the brokers), by protocol and signal",
            ["protocol", "signal"],
            registry=r,
        )
        self.gateway_skipped = Counter(
            "vitalwatch_gateway_observations_skipped_total",
            "Observations of accepted messages not written, by protocol and reason (unknown_code, "
            "no_result, superseded: another code of the signal at that time is preferred, "
            "oxygen_alone: inhaled oxygen without an SpO2 at its time, mean_alone)",
            ["protocol", "reason"],
            registry=r,
        )
        self.gateway_ack_latency = Histogram(
            "vitalwatch_gateway_ack_seconds",
            "From a message received to its answer, by protocol and answer (ACK code, HTTP status)",
            ["protocol", "ack"],
            buckets=_ACK_BUCKETS,
            registry=r,
        )
        self.gateway_connections = Gauge(
            "vitalwatch_gateway_connections",
            "Open connections of senders to a gateway, by protocol",
            ["protocol"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "vitalwatch_alerts_firing",
            "Alerts firing now (fired minus resolved since the process started), by rule",
            ["rule", "severity"],
            registry=r,
        )
