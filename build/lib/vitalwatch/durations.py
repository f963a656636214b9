"""Durations as people write them in rule files and settings: ``90s``, ``10m``, ``1h30m``.

Kept in milliseconds internally because event time is epoch milliseconds everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Ten years: longer than anything a rule, a setting or a silence means, and far inside the
# 64-bit epoch milliseconds that event times and Spark's timers are added to.
MAX_DURATION_MS = 3650 * 86_400_000


def parse_duration_ms(text: str | int | float) -> int:
    """Parse ``"1h30m"``-style text (or a number of seconds) into milliseconds."""
    if isinstance(text, bool):
        raise ValueError("a duration is text such as '90s', '10m' or '1h30m'")
    if isinstance(text, (int, float)):
        if not math.isfinite(text):
            raise ValueError(f"{text} is not a duration; write a number and a unit, e.g. '90s'")
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(text * 1000)
    compact = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        pos = match.end()
    if not compact or pos != len(compact):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit (ms, s, m, h, d), "
            "e.g. '90s', '1h30m'"
        )
    return _bounded(total)


def _bounded(ms: float) -> int:
    if ms > MAX_DURATION_MS:
        raise ValueError(f"a duration is at most {MAX_DURATION_MS // 86_400_000}d (ten years)")
    return int(ms)


def format_duration_ms(ms: int) -> str:
    """Render milliseconds the short way people read them (``2m30s``)."""
    seconds, millis = divmod(int(ms), 1000)
    if seconds == 0:
        return f"{millis}ms"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    return parse_duration_ms(value) if isinstance(value, (str, int, float)) else value


DurationMs = Annotated[int, BeforeValidator(_coerce)]
"""A pydantic field type: accepts ``"90s"`` or seconds as a number, holds milliseconds."""
