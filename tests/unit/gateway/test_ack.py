"""HL7 ACKs: the message's control id in MSA-2, the code in MSA-1, a reason in MSA-3 and ERR."""

from __future__ import annotations

import hl7
import pytest

from tests.unit.gateway.messages import HR, obx, oru
from vitalwatch.gateway.ack import ERROR_CODES, TABLE_VALUE_NOT_FOUND, AckCode, ack
from vitalwatch.gateway.oru import Refusal, parse


def fields(answer: bytes) -> dict[str, list[str]]:
    segments = answer.decode().split("\r")
    return {segment[:3]: segment.split("|") for segment in segments}


def test_accept_answers_the_message_with_its_control_id() -> None:
    answer = ack(parse(oru([obx(HR, 80)], control_id="CTRL-7")), AckCode.ACCEPT)
    got = fields(answer)
    assert got["MSA"] == ["MSA", "AA", "CTRL-7"]
    assert got["MSH"][8] == "ACK^R01^ACK"
    assert got["MSH"][4:6] == ["GW^0800^EUI-64", "ICU"]  # the sender is the receiver
    assert "ERR" not in got
    assert isinstance(hl7.parse(answer.decode()), hl7.Message)


@pytest.mark.parametrize("code", [AckCode.ERROR, AckCode.REJECT])
def test_an_error_carries_its_reason_and_condition_code(code: AckCode) -> None:
    answer = ack(parse(oru([obx(HR, 80)])), code, "out_of_range:bpm", 102)
    got = fields(answer)
    assert got["MSA"] == ["MSA", code.value, "MSG00001", "out_of_range:bpm"]
    assert got["ERR"] == ["ERR", "", "", "102^Data type error^HL70357", "E"]


def test_reason_text_cannot_break_the_answer() -> None:
    answer = ack(parse(oru([obx(HR, 80)])), AckCode.REJECT, "a|b^c~d\\e&f\rg", 102)
    assert fields(answer)["MSA"][3] == "a?b?c?d?e?f?g"


def test_a_block_that_is_no_message_is_answered_without_control_id() -> None:
    answer = ack(None, AckCode.REJECT, "not_hl7", 100)
    got = fields(answer)
    assert got["MSA"] == ["MSA", "AR", "", "not_hl7"]
    assert str(hl7.parse(answer.decode()).segment("MSH")[9]) == "ACK"
    assert got["ERR"][3] == "100^Segment sequence error^HL70357"


def test_a_header_too_short_to_answer_from_is_answered_without_control_id() -> None:
    got = fields(ack(parse(b"MSH|^~\\&|A"), AckCode.REJECT, "not_oru_r01", 200))
    assert got["MSA"][:3] == ["MSA", "AR", ""]


def test_every_refusal_has_a_condition_code_an_unknown_answer_a_table_value_not_found() -> None:
    assert set(ERROR_CODES) == set(Refusal)
    assert ERROR_CODES[Refusal.UNKNOWN_ANSWER] == TABLE_VALUE_NOT_FOUND == 103
