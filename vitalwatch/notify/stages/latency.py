"""Where an alert's time goes on its way to a clinician, stage by stage, as metrics.

    released  the stream processor released the deciding reading to the rules (``released_ms``)
    written   the alert's record was written to Kafka (the record's timestamp)
    read      the notifier read it
    flushed   its group was flushed: the message for this state, per receiver
    accepted  the receiver accepted that message (tier 1; not repeats, escalations, redeliveries)

For each stage reached, ``vitalwatch_alert_age_seconds`` takes the time since the event time of
the reading that decided the alert (``detected_ms``) and ``vitalwatch_alert_stage_seconds`` the
time since the previous stage, by severity. Everything comes from the alert's own fields, its
Kafka record and this process's clock, so the Spark side needs no metrics route of its own.
Clocks of the Spark workers and the notifier may differ by a little on a cluster: a time is
never negative (clamped at 0). A stage whose start is unknown (a message without
``released_ms``, a record without a timestamp) gives its age only.
"""

from __future__ import annotations

from vitalwatch.contracts.alerts import Alert
from vitalwatch.metrics import Metrics


class StageClock:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def read(self, alert: Alert, written_at: float | None, now: float) -> None:
        """A new alert message read from Kafka at ``now`` (its record written at ``written_at``,
        when the record has a timestamp): the stages up to the notifier."""
        released = None if alert.released_ms is None else alert.released_ms / 1000
        self.reached(alert, "released", released, alert.detected_ms / 1000)
        self.reached(alert, "written", written_at, released)
        self.reached(alert, "read", now, written_at)

    def reached(self, alert: Alert, stage: str, at: float | None, since: float | None) -> None:
        """``alert`` reached ``stage`` at ``at`` (unknown: nothing), the previous one ``since``."""
        if at is None:
            return
        severity = alert.severity.value
        age = at - alert.detected_ms / 1000
        self._metrics.alert_age.labels(stage, severity).observe(max(0.0, age))
        if since is not None:
            self._metrics.alert_stage.labels(stage, severity).observe(max(0.0, at - since))
