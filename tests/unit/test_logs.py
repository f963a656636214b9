import io
import sys

import structlog

from vitalwatch.logs import configure_logging


def test_events_are_json_and_follow_the_current_stderr(monkeypatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("json", "info")
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    first.close()  # a stream swapped out and closed must not break logging
    structlog.get_logger("t").info("rules.reloaded", count=3)
    assert '"event": "rules.reloaded"' in second.getvalue() and '"count": 3' in second.getvalue()
