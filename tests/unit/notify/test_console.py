"""``console://`` (the demo's receiver): each notification a framed block on standard output."""

from __future__ import annotations

import pytest

from vitalwatch.notify.config.receivers import AppriseReceiver
from vitalwatch.notify.console import RULE, console_block


def test_a_notification_prints_as_one_framed_block(capsys: pytest.CaptureFixture[str]) -> None:
    sent = AppriseReceiver("console://").send(
        "[HIGH] firing: tachycardia-sustained", "HR 151/min - bed 1\n\nAdvisory notice.\n"
    )
    printed = capsys.readouterr()
    assert sent and printed.err == ""
    assert printed.out == (
        f"\n+{RULE}\n| NOTIFICATION  [HIGH] firing: tachycardia-sustained\n|\n"
        f"| HR 151/min - bed 1\n|\n| Advisory notice.\n+{RULE}\n\n"
    )


def test_on_a_terminal_the_heading_is_in_reverse_video() -> None:
    block = console_block("[HIGH] firing: x", "body", terminal=True)
    assert "|\033[1;7m NOTIFICATION  [HIGH] firing: x \033[0m\n" in block
