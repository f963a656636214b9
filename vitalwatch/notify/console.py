"""``console://``: the local demo's receiver, notifications printed to standard output.

Each notification is a framed block, so it stands out from the log events, which go to standard
error; on a terminal its heading is also drawn in reverse video.
"""

from __future__ import annotations

import sys
from typing import Any

from apprise.decorators import notify as apprise_notification

RULE = "=" * 72
_REVERSE, _RESET = "\033[1;7m", "\033[0m"


def console_block(title: str, body: str, terminal: bool) -> str:
    heading = f" NOTIFICATION  {title}"
    if terminal:
        heading = f"{_REVERSE}{heading} {_RESET}"
    lines = [f"| {line}".rstrip() for line in body.strip("\n").splitlines()]
    return "\n".join(["", f"+{RULE}", f"|{heading}", "|", *lines, f"+{RULE}", "", ""])


@apprise_notification(on="console", name="vitalwatch console")
def _console(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    # One write, so that two notifications sent at once do not interleave.
    sys.stdout.write(console_block(title, body, sys.stdout.isatty()))
    sys.stdout.flush()
    return True
