"""A self-contained HTML backtest report: tables, alert burden per rule, one patient's timeline.

Plain SVG written here (no plotting library, no scripts, nothing fetched), so the file can be
mailed or attached to a change request as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from html import escape
from typing import Any

from vitalwatch.backtest.report import BurdenFigures, columns

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _table(rows: Sequence[BurdenFigures]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in columns(rows))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{'-' if v is None else f'{v:.3f}' if isinstance(v, float) else escape(str(v))}</td>"
            for v in asdict(row).values()
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"


def burden_chart(runs: Mapping[str, Sequence[BurdenFigures]]) -> str:
    """Horizontal bars: alerts per patient-day, one bar per rule set for every rule."""
    rules = list(dict.fromkeys(r.rule for rows in runs.values() for r in rows))
    values = {(name, r.rule): r.alerts_per_patient_day for name, rows in runs.items() for r in rows}
    top = max(values.values(), default=0) or 1.0
    bar, gap, label_w, width = 14, 10, 210, 440
    group = bar * len(runs) + gap
    height = group * len(rules) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 60}" height="{height}">'
    ]
    for i, rule in enumerate(rules):
        y0 = i * group
        parts.append(f'<text x="0" y="{y0 + bar}" font-size="12">{escape(rule)}</text>')
        for j, name in enumerate(runs):
            value = values.get((name, rule), 0.0)
            w = width * value / top
            y = y0 + j * bar
            colour = _COLOURS[j % len(_COLOURS)]
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 4}" font-size="11">{value:.2f}</text>'
            )
    for j, name in enumerate(runs):
        x = label_w + j * 200
        parts.append(
            f'<rect x="{x}" y="{height - 18}" width="10" height="10" fill="{_COLOURS[j % len(_COLOURS)]}"/>'
        )
        parts.append(f'<text x="{x + 14}" y="{height - 9}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_chart(
    series: Mapping[str, Sequence[tuple[int, float]]],
    episodes: Sequence[tuple[str, int, int | None]],
) -> str:
    """Readings over time (one line per measure) with alert episodes as shaded spans."""
    points = [p for values in series.values() for p in values]
    if not points:
        return "<p>No readings for this patient.</p>"
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    v1 = max(v for _, v in points) * 1.1 or 1.0
    w, h, left, top = 760, 260, 40, 10
    span = max(t1 - t0, 1)

    def x(t: int) -> float:
        return left + w * (t - t0) / span

    def y(v: float) -> float:
        return top + h - h * v / v1

    rules = list(dict.fromkeys(rule for rule, _, _ in episodes))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + left + 10}" height="{h + 60 + 16 * len(rules)}">'
    ]
    for rule, onset, end in episodes:
        colour = _COLOURS[(rules.index(rule) + 3) % len(_COLOURS)]
        x0, x1 = x(max(onset, t0)), x(end if end is not None else t1)
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 2):.1f}" height="{h}" fill="{colour}" opacity="0.18"><title>{escape(rule)}</title></rect>'
        )
    for i, (name, values) in enumerate(series.items()):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in sorted(values))
        colour = _COLOURS[i % len(_COLOURS)]
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{left + 120 * i}" y="{h + top + 30}" font-size="11" fill="{colour}">{escape(name)}</text>'
        )
    for tick in range(0, int(v1) + 1, 50):
        parts.append(f'<text x="0" y="{y(tick) + 4:.1f}" font-size="10">{tick}</text>')
    hours = span / 3_600_000
    parts.append(f'<text x="{left}" y="{h + top + 14}" font-size="10">0 h</text>')
    parts.append(
        f'<text x="{left + w - 30}" y="{h + top + 14}" font-size="10">{hours:.0f} h</text>'
    )
    for i, rule in enumerate(rules):
        colour = _COLOURS[(i + 3) % len(_COLOURS)]
        parts.append(
            f'<rect x="{left}" y="{h + top + 40 + 16 * i}" width="10" height="10" fill="{colour}" opacity="0.5"/>'
        )
        parts.append(
            f'<text x="{left + 14}" y="{h + top + 49 + 16 * i}" font-size="11">{escape(rule)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def episodes_of(
    alerts: Sequence[Mapping[str, Any]], patient: str
) -> list[tuple[str, int, int | None]]:
    """(rule, onset, resolved time or None) for each of the patient's alert episodes."""
    ends = {
        (a["rule_id"], a["onset_ms"]): a["detected_ms"]
        for a in alerts
        if a["patient_id"] == patient and a["state"] == "resolved"
    }
    return [
        (a["rule_id"], a["onset_ms"], ends.get((a["rule_id"], a["onset_ms"])))
        for a in alerts
        if a["patient_id"] == patient and a["state"] == "firing"
    ]


def report(
    title: str,
    runs: Mapping[str, Sequence[BurdenFigures]],
    patient: str,
    series: Mapping[str, Sequence[tuple[int, float]]],
    episodes: Sequence[tuple[str, int, int | None]],
) -> str:
    tables = "".join(f"<h2>{escape(name)}</h2>{_table(rows)}" for name, rows in runs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}}
th{{background:#f4f4f4}}td:first-child{{text-align:left}}</style></head><body>
<h1>{escape(title)}</h1>
<p>vitalwatch is an advisory notifier; this backtest shows what the rules would have sent.</p>
{tables}
<h2>Alert burden: alerts per patient-day</h2>{burden_chart(runs)}
<h2>Timeline of {escape(patient)} (first rule set)</h2>{timeline_chart(series, episodes)}
</body></html>
"""
