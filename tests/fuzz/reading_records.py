"""A seeded generator of Kafka reading records, valid ones mixed with every kind of bad input
gateways and monitors produce: oversized values, wrong encodings, NaN and infinities, negative and
absurd values, numbers as strings, nested objects, unknown, missing, null and duplicate fields,
keys that are not the patient, broken timestamps, truncated or doubled JSON, duplicate readings.

Half the records are valid readings as the contract writes them; the other half carry one to
three faults drawn from ``FAULTS``. The same seed gives the same records, so a failure in CI is
reproduced by running the test again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fuzz.readings_oracle import BLOOD_PRESSURE_TOPIC, HEART_RATE_TOPIC

Record = tuple[bytes | None, bytes | None, str]  # key, value, topic

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
_T0_MS = 1_795_564_800_000  # 2026-11-25T00:00Z; readings fall within ~4 months of it
_ONE_MB = 1 << 20
_NUMERIC = ("bpm", "systolic", "diastolic", "mean")


class _Draft:
    """A record being built: the body as a dict until a fault sets the bytes (``final``)."""

    def __init__(self, key: bytes | None, body: dict[str, Any], topic: str) -> None:
        self.key, self.body, self.topic = key, body, topic
        self.value: bytes | None = None
        self.final = False

    def encoded(self, rng: random.Random) -> bytes:
        if not self.final:
            self.value = json.dumps(self.body, ensure_ascii=rng.random() < 0.5).encode()
        return self.value or b""

    def set_value(self, value: bytes | None) -> None:
        self.value, self.final = value, True

    def record(self, rng: random.Random) -> Record:
        value = self.value if self.final else self.encoded(rng)
        return self.key, value, self.topic


def _patient_id(rng: random.Random) -> str:
    """Mostly a ward's ids (so duplicates and ordering matter), sometimes any allowed id."""
    if rng.random() < 0.7:
        return f"P-{rng.randrange(500):04d}"
    return "".join(rng.choices(_ID_ALPHABET, k=rng.randint(1, 64)))


def _iso(moment: datetime, rng: random.Random) -> str:
    """``moment`` as ISO-8601 local time in a random zone, to the second or a fraction."""
    zone, minutes = rng.choice([("Z", 0), ("", 0), ("+01:00", 60), ("-05:30", -330), ("+00:00", 0)])
    local = moment + timedelta(minutes=minutes)
    text = local.strftime(f"%Y-%m-%d{rng.choice('T ')}%H:%M:%S")
    if rng.random() < 0.6:
        digits = f"{local.microsecond:06d}{rng.randint(0, 999):03d}"
        text += "." + digits[: rng.randint(1, 9)]
    return text + zone


def _timestamp(rng: random.Random) -> Any:
    epoch_ms = _T0_MS + rng.randint(-(10**10), 10**10)
    moment = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc)
    form = rng.random()
    if form < 0.4:
        return epoch_ms
    if form < 0.5:
        return str(epoch_ms)
    return _iso(moment, rng)


def _value(rng: random.Random, low: float, high: float) -> float | int:
    return rng.randint(int(low), int(high)) if rng.random() < 0.6 else rng.uniform(low, high)


def valid_draft(rng: random.Random) -> _Draft:
    patient = _patient_id(rng)
    body: dict[str, Any] = {"patient_id": patient, "ts": _timestamp(rng)}
    if rng.random() < 0.6:
        topic = HEART_RATE_TOPIC
        body["bpm"] = _value(rng, 0, 350)
    else:
        topic = BLOOD_PRESSURE_TOPIC
        systolic = _value(rng, 0, 350)
        body["systolic"] = systolic
        body["diastolic"] = _value(rng, 0, min(systolic, 300))
        if rng.random() < 0.5:
            body["mean"] = _value(rng, 0, 320)
    if rng.random() < 0.7:
        body["device_id"] = rng.choice(["mon-7", "gw-ICU-3/bed 4", "défib-2", ""])
    items = list(body.items())
    rng.shuffle(items)
    return _Draft(patient.encode(), dict(items), topic)


def _field(draft: _Draft, rng: random.Random) -> str:
    names = [n for n in ("patient_id", "ts", *_NUMERIC) if n in draft.body]
    return rng.choice(names or ["bpm"])


def _numeric_field(draft: _Draft, rng: random.Random) -> str:
    return rng.choice([n for n in _NUMERIC if n in draft.body] or ["bpm"])


# Each fault changes a draft in place; the ones that work on bytes end with ``set_value``.


def _oversized(draft: _Draft, rng: random.Random) -> None:
    draft.body["padding"] = "x" * rng.choice([_ONE_MB, 4 * _ONE_MB // 3])


def _invalid_utf8(draft: _Draft, rng: random.Random) -> None:
    data = bytearray(draft.encoded(rng))
    garbage = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf8\x88"])
    at = rng.randrange(len(data) + 1)
    draft.set_value(bytes(data[:at]) + garbage + bytes(data[at:]))


def _other_encoding(draft: _Draft, rng: random.Random) -> None:
    draft.body.setdefault("device_id", "défib-é")
    text = json.dumps(draft.body, ensure_ascii=False)
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])
    draft.set_value(text.encode(encoding, errors="replace"))


def _bom(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(b"\xef\xbb\xbf" + draft.encoded(rng))


def _replace_literal(draft: _Draft, rng: random.Random, literal: str) -> None:
    marker = "__LITERAL__"
    draft.body[_numeric_field(draft, rng) if rng.random() < 0.8 else "extra"] = marker
    draft.set_value(json.dumps(draft.body).replace(f'"{marker}"', literal).encode())


def _non_finite(draft: _Draft, rng: random.Random) -> None:
    literal = rng.choice(["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1E400", "+Infinity"])
    _replace_literal(draft, rng, literal)


def _absurd_number(draft: _Draft, rng: random.Random) -> None:
    draft.body[_numeric_field(draft, rng)] = rng.choice(
        [-1, -0.0, -5, -1e-9, 350, 350.0000001, 351, 300.5, 320.01, 1e30, 2**63, -(2**63),
         10**400, 1e-300, 5e-324, 999, 0, 0.0]
    )  # fmt: skip


def _number_as_string(draft: _Draft, rng: random.Random) -> None:
    draft.body[_numeric_field(draft, rng)] = rng.choice(
        ["88", "88.5", "1e2", "-0", "88d", "88f", " 88", "88 ", "0x1p3", "0x58", "NaN",
         "Infinity", "1_000", "٨٨", "8,8", "", "1e309", "+88", ".5", "088", "abc"]
    )  # fmt: skip


def _nested(draft: _Draft, rng: random.Random) -> None:
    draft.body[_field(draft, rng)] = rng.choice(
        [{"value": 88}, [88], [], {}, [[{"bpm": 70}]], {"patient_id": "P-1"}, True, False]
    )


def _unknown_fields(draft: _Draft, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 5)):
        name = rng.choice(["extra", "BPM", "Patient_ID", "ts ", "", "é", "spo2", "_corrupt"])
        draft.body[name] = rng.choice([1, "x", None, [1, {"a": None}], {"b": [1.5]}, True, "}{"])


def _missing_field(draft: _Draft, rng: random.Random) -> None:
    draft.body.pop(_field(draft, rng), None)


def _null_field(draft: _Draft, rng: random.Random) -> None:
    draft.body[_field(draft, rng)] = None


def _duplicate_key(draft: _Draft, rng: random.Random) -> None:
    name = _field(draft, rng)
    second = json.dumps(rng.choice([900, 70, None, "P-other", "abc", 120]))
    spelled = rng.choice([name, "".join(f"\\u{ord(c):04x}" for c in name)])
    text = json.dumps(draft.body)
    draft.set_value((text[:-1] + f', "{spelled}": {second}}}').encode())


def _wrong_key(draft: _Draft, rng: random.Random) -> None:
    key = draft.key or b""
    draft.key = rng.choice(
        [None, b"", key + b"\n", key.lower() if key != key.lower() else key + b"x", b"\xff" + key,
         key + b" ", _patient_id(rng).encode()]
    )  # fmt: skip


def _bad_patient_id(draft: _Draft, rng: random.Random) -> None:
    patient = rng.choice(
        ["", "x" * 65, "P 1", "P-1\n", "P-1\r\n", "P-1\u2028", "\nP-1", "P-é", "P/1", "P-1\x00",
         42, 12.5, True, "ＰＰ"]
    )  # fmt: skip
    draft.body["patient_id"] = patient
    draft.key = rng.choice([str(patient).encode(), str(patient).lower().encode(), b"P-1"])


def _bad_timestamp(draft: _Draft, rng: random.Random) -> None:
    draft.body["ts"] = rng.choice(
        ["yesterday", "", "14:00:00", "T14:00:00", "2026-11-25", "2026", "2026-11-25T14",
         "2026-11-25T14:00", "2026-11-25 14:00Z", "2026-11-25T14:00+01:00",
         "2026-13-25T14:00:00Z", "2026-02-30T14:00:00Z", "2026-11-25T24:00:00Z",
         "2026-11-25T14:00:00 UTC", "2026-11-25T14:00:00Z\n", "20261125T140000Z",
         "+2026-11-25T14:00:00Z", "99999-11-25T14:00:00Z", "2026-11-25t14:00:00z",
         "1795625150898\n", " 1795625150898", "-5", "1e12", "0x1A2B", "1795625150898.5",
         -5, 1.7e12, 1795625150898.0, 10**15, 10**16, 0, 999_999_999_999_999, True, None,
         [1795625150898], {"ms": 1795625150898}, "9999-12-31T23:59:59.999Z",
         "1000-01-01T00:00:00Z", "2026-11-25T14:00:00+14:00", "2026-11-25T14:00:00+0100"]
    )  # fmt: skip


def _truncated(draft: _Draft, rng: random.Random) -> None:
    data = draft.encoded(rng)
    draft.set_value(data[: rng.randrange(len(data))])


def _around_the_object(draft: _Draft, rng: random.Random) -> None:
    data = draft.encoded(rng)
    before, after = rng.choice(
        [(b"\n", b""), (b"\t", b"\r\n"), (b"  ", b"  "), (b"", b" xyz"), (b"", b"]"),
         (b"", b"\x00"), (b"", data), (b"", b"\n" + data), (b"[", b"]"), (b"", b","),
         (b"", b", " + data), (b"\x0b", b""), (b"", b"\xc2\xa0")]
    )  # fmt: skip
    draft.set_value(before + data + after)


def _single_quotes(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(draft.encoded(rng).replace(b'"', b"'"))


def _comment(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(b"/* gateway 3 */" + draft.encoded(rng))


def _deep_nesting(draft: _Draft, rng: random.Random) -> None:
    depth = rng.choice([10, 100, 5000])
    marker = "__NEST__"
    draft.body["extra"] = marker
    nest = "[" * depth + "]" * depth
    draft.set_value(json.dumps(draft.body).replace(f'"{marker}"', nest).encode())


def _control_character(draft: _Draft, rng: random.Random) -> None:
    draft.body["device_id"] = "mon\x017"
    draft.set_value(json.dumps(draft.body, ensure_ascii=False).replace("\\u0001", "\x01").encode())


def _not_an_object(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(
        rng.choice([b"", b" ", b"null", b"true", b"88", b'"text"', b"[]", b"{}", b"[{}]", b"{"])
    )


def _no_value(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(None)


def _random_bytes(draft: _Draft, rng: random.Random) -> None:
    draft.set_value(rng.randbytes(rng.randint(0, 64)))


def _flip_bytes(draft: _Draft, rng: random.Random) -> None:
    data = bytearray(draft.encoded(rng))
    for _ in range(rng.randint(1, 3)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    draft.set_value(bytes(data))


def _pressure_inconsistent(draft: _Draft, rng: random.Random) -> None:
    draft.topic = BLOOD_PRESSURE_TOPIC
    draft.body.update({"systolic": rng.randint(40, 200), "diastolic": rng.randint(201, 300)})


def _other_topic(draft: _Draft, rng: random.Random) -> None:
    draft.topic = BLOOD_PRESSURE_TOPIC if draft.topic == HEART_RATE_TOPIC else HEART_RATE_TOPIC


Fault = Callable[[_Draft, random.Random], None]
# (fault, weight); the 1 MB values are few so that 100,000 records stay within memory.
FAULTS: tuple[tuple[Fault, float], ...] = (
    (_oversized, 0.005),
    (_invalid_utf8, 1),
    (_other_encoding, 1),
    (_bom, 0.5),
    (_non_finite, 1),
    (_absurd_number, 2),
    (_number_as_string, 2),
    (_nested, 1),
    (_unknown_fields, 2),
    (_missing_field, 1),
    (_null_field, 1),
    (_duplicate_key, 1.5),
    (_wrong_key, 1.5),
    (_bad_patient_id, 1.5),
    (_bad_timestamp, 2),
    (_truncated, 1),
    (_around_the_object, 1.5),
    (_single_quotes, 0.5),
    (_comment, 0.3),
    (_deep_nesting, 0.3),
    (_control_character, 0.3),
    (_not_an_object, 0.5),
    (_no_value, 0.3),
    (_random_bytes, 0.5),
    (_flip_bytes, 1),
    (_pressure_inconsistent, 1),
    (_other_topic, 1),
)


def _faulty(rng: random.Random) -> Record:
    draft = valid_draft(rng)
    faults, weights = zip(*FAULTS, strict=True)
    for fault in rng.choices(faults, weights, k=rng.choice([1, 1, 1, 2, 3])):
        if draft.final and fault not in (_wrong_key, _other_topic):
            break  # the bytes are set; a later change of the body would not show
        fault(draft, rng)
    return draft.record(rng)


def kafka_records(count: int, seed: int) -> Iterator[Record]:
    """``count`` records; about one in twenty repeats an earlier one (a duplicate reading)."""
    rng = random.Random(seed)
    made: list[Record] = []
    for _ in range(count):
        if made and rng.random() < 0.05:
            record = rng.choice(made[-1000:])
        elif rng.random() < 0.5:
            record = valid_draft(rng).record(rng)
        else:
            record = _faulty(rng)
        made.append(record)
        yield record
