"""Generated HL7 blocks for the gateway's fuzz tests: PCD-01 ORU^R01 messages broken in the
ways senders and networks break them (fields replaced by bad values, segments lost, doubled or
cut, separators changed, bytes inserted), and bytes that are no message at all."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.unit.gateway.messages import (
    FIO2,
    HR,
    LN_FIO2,
    LN_O2_FLOW,
    NIBP_DIA,
    NIBP_SYS,
    RESP,
    SPO2,
    TEMP,
    acvpu,
    obx,
    oru,
    vitals,
)

BAD_VALUES = [
    "", " ", "abc", "-1", "0", "351", "1e400", "NaN", "inf", "1,5", "..", "+", "\x00", "^", "~",
    "&", "\\", "|", "^^^", "é", "\u2603", "9" * 40, "x" * 300, "20261325140000", "2026",
    "20261125140000+9999", "20261125140000.123456", "P 1", "ORU^R02", "ADT^A01", "MDC",
    "266560^MDC_DIM_FAHR^MDC", "265987^MDC_DIM_KILO_PASCAL^MDC", "1^x^MDC", "150456^SPO2^MDC",
    "\r", "\n", "\x0b", "\x1c\r", "99991231235959-2359", "00010101000000+1400", "\uff18\uff10",
    "2026112514000\u0660", "0.21", "21", "20.9", "9", "1^1^UCUM", "L/min^L/min^UCUM",
    "mL/min^mL/min^UCUM", "152196^MDC_CONC_AWAY_O2_INSP^MDC", "3150-0^FiO2^LN", "3151-8^Flow^LN",
    "67775-7^Level of responsiveness^LN", "LA9340-6^Alert^LN", "LA6561-0^Oriented^LN", "V", "v",
    "^New confusion", "^^^^^^^^Unresponsive", "A~U", "CWE",
]  # fmt: skip
BASES = [
    vitals(),
    vitals(patient="P-7", when="20261125140000+0100"),
    oru([obx(HR, 70), obx(SPO2, 92)]),
    oru([obx(NIBP_SYS, 16, time="20261125135959"), obx(NIBP_DIA, 9)]),
    oru([obx(TEMP, 38.5), obx(RESP, 24)]),
    oru([obx(SPO2, 91), obx(FIO2, 28), acvpu("LA9340-6^Alert^LN"), obx(LN_O2_FLOW, 2)]),
    oru([obx(HR, 70), acvpu("^New confusion"), obx(LN_FIO2, 21), obx(SPO2, 96)]),
]


@st.composite
def _replace_field(draw: st.DrawFn, text: str) -> str:
    segments = text.split("\r")
    i = draw(st.integers(0, len(segments) - 1))
    fields = segments[i].split("|")
    j = draw(st.integers(0, len(fields)))
    value = draw(st.one_of(st.sampled_from(BAD_VALUES), st.text(max_size=12)))
    if j == len(fields):
        fields.append(value)
    else:
        fields[j] = value
    segments[i] = "|".join(fields)
    return "\r".join(segments)


@st.composite
def _segments(draw: st.DrawFn, text: str) -> str:
    segments = text.split("\r")
    i = draw(st.integers(0, len(segments) - 1))
    how = draw(st.sampled_from(["drop", "double", "move_first"]))
    if how == "drop":
        del segments[i]
    elif how == "double":
        segments.insert(i, segments[i])
    else:
        segments.insert(0, segments.pop(i))
    return "\r".join(segments)


@st.composite
def _bytes(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    how = draw(st.sampled_from(["cut", "insert", "separators"]))
    if how == "cut":
        return data[:at]
    if how == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data.replace(b"|", draw(st.sampled_from([b"#", b"^", b"", b"||"])), 1)


@st.composite
def broken_messages(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(BASES)).decode("latin-1")
    for _ in range(draw(st.integers(1, 3))):
        mutation = _replace_field if draw(st.booleans()) else _segments
        text = draw(mutation(text))
    data = text.encode("latin-1", errors="replace") if text.isascii() else text.encode()
    if draw(st.integers(0, 3)) == 0:
        data = draw(_bytes(data))
    return data


def blocks() -> st.SearchStrategy[bytes]:
    """Mostly broken messages, some random bytes, a few untouched ones."""
    return st.one_of(
        broken_messages(), broken_messages(), broken_messages(),
        st.binary(max_size=200), st.sampled_from(BASES),
    )  # fmt: skip
