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


class Writes:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_event_is_one_write_with_its_newline(monkeypatch) -> None:
    """Native libraries (librdkafka) write to the same stderr: a line must not be split."""
    writes = Writes()
    monkeypatch.setattr(sys, "stderr", writes)
    configure_logging("json", "info")
    structlog.get_logger("t").error("dependency.down", component="broker")
    assert len(writes.calls) == 1 and writes.calls[0].endswith("}\n")
