"""Hands deliveries to the lanes: after the dedup stage, one job per target (send with retry,
fallback when the retries are spent, record: ``deliver.Deliverer``), in flight until recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from vitalwatch.contracts.alerts import Alert
from vitalwatch.notify.config.receivers import NamedReceiver, Receiver, Tier
from vitalwatch.notify.stages.dedup import Dedup
from vitalwatch.notify.stages.deliver import Deliverer, Executor, Job
from vitalwatch.notify.stages.flight import InFlight, Row
from vitalwatch.notify.stages.redeliver import Redelivery
from vitalwatch.notify.stores.alerts import StoredAlert


class Submit:
    def __init__(
        self,
        dedup: Dedup,
        flight: InFlight,
        executor: Executor,
        deliverer: Deliverer,
        redelivery: Redelivery,
    ) -> None:
        self._dedup = dedup
        self._flight = flight
        self._executor = executor
        self._deliverer = deliverer
        self._redelivery = redelivery

    def deliver(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        alerts: Sequence[StoredAlert],
        state_of: Callable[[Alert], str],
        note: str,
        now: float,
    ) -> None:
        """Dedup, then one message per target of ``tier`` that still needs some of it."""
        for target in tier.receivers:
            todo = [s for s in alerts if not self._dedup.has(receiver, tier, target, s.alert,
                                                             state_of)]  # fmt: skip
            if todo:
                self.submit(receiver, tier, target, todo, state_of, note, now)

    def submit(
        self,
        receiver: NamedReceiver,
        tier: Tier,
        target: Receiver,
        alerts: Sequence[StoredAlert],
        state_of: Callable[[Alert], str],
        note: str,
        now: float,
        redelivery: bool = False,
    ) -> None:
        """One message to one target, in flight until its lane has recorded the outcome."""
        keys = tuple((s.alert.alert_id, state_of(s.alert)) for s in alerts)
        job = Job(
            receiver.name, receiver.template_for(target), tier.number, target, tuple(alerts),
            keys, state_of(alerts[0].alert).split("#")[0], note, now, redelivery,
        )  # fmt: skip
        rows = {(a, k, receiver.name, tier.number, target.key) for a, k in keys}
        self._flight.add(rows)
        self._executor.submit(target.key, partial(self._run, job, rows))

    def _run(self, job: Job, rows: set[Row]) -> None:
        try:
            self._redelivery.reached(job.target.key, self._deliverer.run(job))
        finally:
            self._flight.done(rows)
