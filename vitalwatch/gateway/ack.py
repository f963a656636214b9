"""HL7 v2 application acknowledgements: AA, AE or AR, with the reason in MSA-3 and ERR. The
same answer serves original mode and the enhanced mode PCD-01 senders ask for (MSH-15 NE, no
commit acknowledgement; MSH-16 AL, always an application one).

MSA-1 (HL7 table 0008): AA the message is taken (every reading of it is in Kafka); AR it is
refused for what it is (malformed, or not ORU^R01), so sending it again does not help; AE it
could not be taken now (Kafka did not confirm), so the sender should send it again. ERR-3 holds
an HL7 table 0357 condition code; ERR-4 the severity, E (error).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum

import hl7

from vitalwatch.gateway.oru import Refusal

APPLICATION = "vitalwatch"


class AckCode(str, Enum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


# HL7 table 0357, message error condition codes.
SEGMENT_SEQUENCE_ERROR = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
APPLICATION_INTERNAL_ERROR = 207

ERROR_CODES: dict[Refusal, int] = {
    Refusal.NOT_HL7: SEGMENT_SEQUENCE_ERROR,
    Refusal.MISSING_FIELD: REQUIRED_FIELD_MISSING,
    Refusal.WRONG_TYPE: DATA_TYPE_ERROR,
    Refusal.UNKNOWN_UNIT: TABLE_VALUE_NOT_FOUND,
    Refusal.UNKNOWN_ANSWER: TABLE_VALUE_NOT_FOUND,
    Refusal.OUT_OF_RANGE: DATA_TYPE_ERROR,
    Refusal.BAD_PATIENT_ID: DATA_TYPE_ERROR,
    Refusal.FUTURE: DATA_TYPE_ERROR,
}
_ERROR_NAMES = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}
_DEFAULT_SEPARATORS = "\r|~^&"
_SAFE = re.compile(r"[^A-Za-z0-9 _:;,./%()\[\]{}-]")


def ack(
    message: hl7.Message | None, code: AckCode, text: str = "", error: int | None = None
) -> bytes:
    """The ACK for ``message`` (None: a block that is no HL7 message, answered without its
    control id)."""
    separators, reserved, head = _DEFAULT_SEPARATORS, _DEFAULT_SEPARATORS + "\\", None
    if message is not None:
        try:
            created = message.create_ack(code.value, _control_id(), APPLICATION)
            head = str(created).rstrip("\r")
            separators, reserved = message.separators, message.separators + message.esc
        except Exception:  # an MSH too broken to answer from: answered as if unparsed
            head = None
    field, component = separators[1], separators[3]
    if head is None:
        head = (
            f"MSH|^~\\&|{APPLICATION}||||{_now()}||ACK|{_control_id()}|P|2.6\r"
            f"MSA|{code.value}|"
        )  # fmt: skip
    segments = [head + (field + _clean(text, reserved) if text else "")]
    if error is not None:
        condition = component.join((str(error), _ERROR_NAMES[error], "HL70357"))
        segments.append(field.join(("ERR", "", "", condition, "E")))
    return "\r".join(segments).encode("latin-1")


def _clean(text: str, reserved: str) -> str:
    """Reason text as an HL7 ST value: no separator or escape character of the message."""
    cleaned = _SAFE.sub("?", text[:200])
    return "".join("?" if c in reserved else c for c in cleaned)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


def _control_id() -> str:
    return str(hl7.generate_message_control_id())
