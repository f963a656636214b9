"""Running vitalwatch as a service: what ``vitalwatch run`` needs around the streaming query.

- ``progress``: when the query last reported (a batch or an idle trigger) and its throughput;
- ``restart``: the restart policy for a failed query (exponential backoff, cap, give-up window);
- ``query``: the query supervisor that applies it, and drains the query on SIGTERM;
- ``health``: the ``/healthz`` and ``/readyz`` checks;
- ``http``: the one HTTP endpoint serving ``/metrics``, ``/healthz`` and ``/readyz``;
- ``sd_notify``: systemd notifications (READY, STATUS, WATCHDOG, STOPPING), no dependency;
- ``technical_alarm``: an internal failure raised as an alert (metric, log event, dead letter).
"""
