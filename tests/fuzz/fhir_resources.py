"""Hypothesis strategies: FHIR vital-sign bodies as senders write them (``fhir_resources``),
then damaged: a key removed, a value replaced by any JSON, the bytes cut or flipped."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from tests.unit.gateway.fhir_resources import (
    blood_pressure,
    bundle,
    coding,
    consciousness,
    observation,
    spo2,
)

CODES = ["8867-4", "59408-5", "2708-6", "9279-1", "8310-5", "8478-0", "3150-0", "3151-8",
         "67775-7", "85354-9"]  # fmt: skip
UNITS = ["/min", "%", "Cel", "[degF]", "mm[Hg]", "kPa", "K", "", "{beats}/min", "L/min", "1",
         "mL/min"]  # fmt: skip
STATUSES = ["final", "amended", "corrected", "preliminary", "entered-in-error", "cancelled", "x"]
TIMES = [
    "2026-11-25T14:00:00.250Z", "2026-11-25T14:00:00+05:30", "2026-11-25T14:00:00",
    "2026-11-25", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "2026-11-25T15:00:00Z",
    "0001-01-01T00:00:00+14:00",
]  # fmt: skip
PATIENTS = ["P-0042", "P-0043", "P 42", "", "a" * 65, "P/1", "\u00e9"]
NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 88, 97.5, 37.2, 1e308, -0.0, "88", "eighty"]),
)
# Level of responsiveness answers: LOINC's, others', text alone (copies: ``damaged`` edits them).
ANSWERS = st.sampled_from([
    {"coding": [coding("LA9340-6", "Alert")]}, {"coding": [coding("LA6560-2")]},
    {"coding": [coding("LA6561-0", "Oriented")]}, {"coding": [coding("V", None, "urn:local")]},
    {"coding": [coding("x", "Responds to pain", "urn:local")]}, {"text": "New confusion"},
    {"text": "drowsy"}, {},
]).map(copy.deepcopy) | st.builds(lambda text: {"text": text}, st.text(max_size=8))  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


# NEWS2 observations in a fitting unit, their values up to a little beyond what can be read.
OXYGEN = st.one_of(
    st.tuples(st.just("3150-0"), st.floats(5, 105), st.just("%")),
    st.tuples(st.just("3150-0"), st.floats(0.05, 1.05), st.just("1")),
    st.tuples(st.just("3151-8"), st.floats(-1, 105), st.sampled_from(["L/min", "l/min"])),
)


@st.composite
def sound_observations(draw: st.DrawFn) -> dict[str, Any]:
    """What a sender means to be read (before ``damaged``): a patient, time, status and unit
    that fit; an SpO2 with inhaled oxygen in its components, inhaled oxygen of its own, a level
    of responsiveness, a heart rate."""
    common = {
        "patient": draw(st.sampled_from(PATIENTS[:2])),
        "time": draw(st.sampled_from(TIMES[:2])),
        "status": draw(st.sampled_from(STATUSES[:4])),
    }
    kind = draw(st.sampled_from(["spo2", "oxygen", "consciousness", "heart rate"]))
    if kind == "spo2":
        return spo2(draw(st.floats(0, 101)), *draw(st.lists(OXYGEN, max_size=2)), **common)
    if kind == "oxygen":
        return observation(*draw(OXYGEN), **common)
    if kind == "consciousness":
        return consciousness(draw(ANSWERS), **common)
    return observation("8867-4", draw(st.floats(0, 360)), "/min", **common)


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 2)) == 0:
        return draw(sound_observations())
    common = {
        "patient": draw(st.sampled_from(PATIENTS)),
        "time": draw(st.sampled_from(TIMES)),
        "status": draw(st.sampled_from(STATUSES)),
    }
    kind = draw(st.sampled_from(["panel", "panel", "spo2", "consciousness", "single", "single"]))
    if kind == "panel":
        pressures = draw(st.lists(NUMBERS | st.none(), min_size=3, max_size=3))
        return blood_pressure(*pressures, unit=draw(st.sampled_from(UNITS)), **common)
    if kind == "spo2":  # with components: inhaled oxygen, as US Core puts it, or others
        component = st.tuples(st.sampled_from(CODES), NUMBERS, st.sampled_from(UNITS))
        return spo2(draw(NUMBERS), *draw(st.lists(component, max_size=3)), **common)
    if kind == "consciousness":
        return consciousness(draw(ANSWERS | st.none()), **common)
    code = draw(st.sampled_from(CODES))
    return observation(code, draw(NUMBERS), draw(st.sampled_from(UNITS)), **common)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@st.composite
def damaged(draw: st.DrawFn, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with up to three of its elements removed or replaced by any JSON value."""
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(resource)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = resource
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return resource


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A kind (Observation, Bundle) and a body for its endpoint, often damaged."""
    if draw(st.booleans()):
        kind, resource = "Observation", draw(observations())
    else:
        kind, resource = "Bundle", bundle(*draw(st.lists(observations(), max_size=4)))
    raw = json.dumps(draw(damaged(resource))).encode()
    cut = draw(st.sampled_from(["whole", "whole", "whole", "truncated", "flipped"]))
    if cut == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif cut == "flipped":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    return kind, raw
