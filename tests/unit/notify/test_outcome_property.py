"""Property: over generated routing trees (nested routes, matchers, ``continue``, receivers with
and without targets, a fallback receiver or none, a silence, an inhibition rule) and generated
alerts, every alert ends in exactly one recorded outcome per receiver on its routes (or, when it
matches no route, exactly one), and none is lost: delivered, silenced, inhibited or handed to
the fallback stage (``alert.unrouted``, dead-lettered, and sent to the fallback when one with
targets is configured)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitalwatch.contracts.alerts import Severity
from vitalwatch.errors import ConfigError
from vitalwatch.notify.config.matchers import alert_labels
from vitalwatch.notify.config.routing import build_router, parse_routing

from .harness import T0, Harness, alert

MATCHERS = ["severity=high", "severity!=low", "ward=ICU-A", "ward=~ICU-.*", "team=rapid",
            "team!~rapid|cardiology", "rule_id=spo2-low"]  # fmt: skip
RECEIVERS = ["r0", "r1", "r2"]
OUTCOMES = {"notification.sent", "notification.silenced", "notification.inhibited",
            "alert.unrouted"}  # fmt: skip

matchers = st.lists(st.sampled_from(MATCHERS), max_size=2, unique=True)


def routes(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    children = st.lists(routes(depth - 1), max_size=3) if depth > 0 else st.just([])
    return st.fixed_dictionaries(
        {"matchers": matchers, "continue": st.booleans(), "routes": children},
        optional={"receiver": st.sampled_from(RECEIVERS)},
    )


tier = st.sampled_from(["urls", "none"])  # "none": use_notify_urls, which resolves to no URL


@st.composite
def routings(draw: st.DrawFn) -> dict[str, Any]:
    root = draw(routes(2)) | {"receiver": draw(st.sampled_from(RECEIVERS)),
                              "group_wait": draw(st.sampled_from(["0s", "5s"]))}  # fmt: skip
    root.pop("continue")
    receivers = []
    for name in [*RECEIVERS, "fb", "fb-empty"]:
        kind = "urls" if name == "fb" else "none" if name == "fb-empty" else draw(tier)
        receivers.append({"name": name, "tiers": [
            {"urls": [f"{name}://"]} if kind == "urls" else {"use_notify_urls": True}
        ]})  # fmt: skip
    document: dict[str, Any] = {
        "route": root,
        "receivers": receivers,
        "inhibit_rules": [{"source_matchers": ["rule_id=news2-emergency"],
                           "target_matchers": ["rule_id=tachycardia-sustained"]}],
    }  # fmt: skip
    fallback = draw(st.sampled_from([None, "fb", "fb-empty"]))
    if fallback is not None:
        document["fallback"] = fallback
    return document


alerts = st.lists(
    st.builds(
        alert,
        patient=st.sampled_from(["P-1", "P-2", "P-3"]),
        rule=st.sampled_from(["tachycardia-sustained", "news2-emergency", "spo2-low"]),
        severity=st.sampled_from(list(Severity)),
        ward=st.sampled_from(["ICU-A", "5B"]),
        team=st.sampled_from(["rapid", "cardiology", "surgery"]),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda a: a.alert_id,
)


@settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
@given(routing=routings(), published=alerts, silence=st.sampled_from([None, *MATCHERS]))
def test_every_alert_ends_in_exactly_one_outcome_and_none_is_lost(
    routing: dict[str, Any], published: list[Any], silence: str | None
) -> None:
    text = yaml.safe_dump(routing, sort_keys=False)
    try:
        config = parse_routing(text, "routing.yaml")
    except ConfigError as error:  # the one tree the loader refuses: it would send alerts nowhere
        assert routing["route"]["matchers"] and "fallback" not in routing, error
        assert "route 'root': field 'matchers'" in str(error)
        return
    router = build_router(config)
    with tempfile.TemporaryDirectory() as state:
        h = Harness(Path(state) / "n.sqlite", text)
        if silence is not None:
            # A silence names a label value exactly (the API refuses one that does not); a
            # regex or != matcher narrows it.
            exact = "=" in silence and not silence.split("=", 1)[0].endswith("!")
            exact = exact and not silence.split("=", 1)[1].startswith("~")
            matchers = [silence] if exact else ["ward=ICU-A", silence]
            h.silences.add(matchers, T0 + 3600, "theatre", "nurse", T0)
        for a in published:
            h.publish(a, at=0)
        h.run(0, 12)
        fallback_targets = {"fb": "fb://", "fb-empty": None}.get(routing.get("fallback", ""))
        for a in published:
            events = h.audit.query(alert_id=a.alert_id)
            receivers = {r.receiver for r in router.match(alert_labels(a))} or {"(no route)"}
            outcomes = Counter(
                e.receiver or "(no route)" for e in events if e.event in OUTCOMES
            )  # the receiver each outcome is for ("(no route)": matched no route)
            assert outcomes == Counter(receivers), (a.rule_id, a.labels, [e.event for e in events])
            unrouted = [e for e in events if e.event == "alert.unrouted"]
            handed = [e for e in events if e.event == "notification.fallback"]
            assert len(handed) == (len(unrouted) if fallback_targets else 0)
            dead = [reason for alert_id, reason in h.deadletters if alert_id == a.alert_id]
            assert sorted(dead) == sorted(f"unrouted:{e.detail['reason']}" for e in unrouted)
        delivered = sum(len(target.sent) for url, target in h.targets.items() if url != "fb://")
        sent = sum(1 for a in published for e in h.audit.query(alert_id=a.alert_id)
                   if e.event == "notification.sent")  # fmt: skip
        assert delivered <= sent  # a message can carry several alerts of a group
        assert h.metric("vitalwatch_alerts_unrouted_total", reason="no_route") + h.metric(
            "vitalwatch_alerts_unrouted_total", reason="no_targets"
        ) == sum(1 for a in published for e in h.audit.query(alert_id=a.alert_id)
                 if e.event == "alert.unrouted")  # fmt: skip
