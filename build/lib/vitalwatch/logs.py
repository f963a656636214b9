"""structlog set-up: events, not sentences. JSON when not on a TTY (systemd, docker), pretty on one.

Patient identifiers and secrets never go into log events; callers log counts, rule ids and
masked URLs only.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing, not at configuration time
    (test runners and service managers swap it; a stale stream would be closed)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    log_format: Literal["auto", "json", "console"] = "auto", level: str = "info"
) -> None:
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # One write per event, newline included: print() writes the line and its newline
        # separately, and librdkafka's own stderr lines (a broker outage) landed in between,
        # leaving an event unparseable in the JSON log stream.
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # py4j and Spark's Python side talk a lot at INFO; keep them to warnings.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
