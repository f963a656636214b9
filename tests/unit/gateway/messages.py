"""ORU^R01 messages as IHE PCD-01 gateways write them, for the gateway's tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.unit.gateway.vital_signs import TYPICAL, VitalSigns

HR = ("147842", "MDC_ECG_HEART_RATE", "264864^MDC_DIM_BEAT_PER_MIN^MDC")
NIBP_SYS = ("150021", "MDC_PRESS_BLD_NONINV_SYS", "266016^MDC_DIM_MMHG^MDC")
NIBP_DIA = ("150022", "MDC_PRESS_BLD_NONINV_DIA", "266016^MDC_DIM_MMHG^MDC")
NIBP_MEAN = ("150023", "MDC_PRESS_BLD_NONINV_MEAN", "266016^MDC_DIM_MMHG^MDC")
SPO2 = ("150456", "MDC_PULS_OXIM_SAT_O2", "262688^MDC_DIM_PERCENT^MDC")
RESP = ("151562", "MDC_RESP_RATE", "264928^MDC_DIM_RESP_PER_MIN^MDC")
TEMP = ("150344", "MDC_TEMP", "268192^MDC_DIM_DEGC^MDC")
FIO2 = ("152196", "MDC_CONC_AWAY_O2_INSP", "262688^MDC_DIM_PERCENT^MDC")
# LOINC in OBX-3 (coding system LN): what a nurse charts.
LN_FIO2 = ("3150-0", "Inhaled oxygen concentration", "%^%^UCUM")
LN_O2_FLOW = ("3151-8", "Inhaled oxygen flow rate", "L/min^L/min^UCUM")


@dataclass(frozen=True)
class Obx:
    code: str
    name: str
    unit: str
    value: str
    time: str = ""
    status: str = "R"
    device: str = ""
    system: str = "MDC"  # OBX-3's coding system
    kind: str = "NM"  # OBX-2, the value type

    def segment(self, index: int) -> str:
        fields = [
            "OBX", str(index), self.kind, f"{self.code}^{self.name}^{self.system}",
            f"1.0.{index}.1", self.value, self.unit, "", "", "", "", self.status, "", "",
            self.time, "", "", "", self.device,
        ]  # fmt: skip
        return "|".join(fields)


def obx(kind: tuple[str, str, str], value: object, **extra: str) -> Obx:
    code, name, unit = kind
    system = "LN" if "-" in code else "MDC"
    return Obx(code, name, unit, str(value), **{"system": system, **extra})


def acvpu(answer: str, **extra: str) -> Obx:
    """A level of responsiveness (LOINC 67775-7) with a coded answer, e.g. LA9340-6^Alert^LN."""
    fields = {"system": "LN", "kind": "CWE", **extra}
    return Obx("67775-7", "Level of responsiveness", "", answer, **fields)


def oru(
    observations: Sequence[Obx],
    patient: str = "P-0042",
    when: str = "20261125140000",
    control_id: str = "MSG00001",
    message_type: str = "ORU^R01^ORU_R01",
) -> bytes:
    """One ORU^R01 with an OBR at ``when`` and the observations after it."""
    segments = [
        f"MSH|^~\\&|GW^0800^EUI-64|ICU|||{when}||{message_type}|{control_id}|P|2.6|||NE|AL",
        f"PID|||{patient}^^^HOSP^MR||Doe^Jane",
        f"OBR|1|||182777000^monitoring of patient^SCT|||{when}",
        *(o.segment(i) for i, o in enumerate(observations, start=1)),
    ]
    return "\r".join(segments).encode()


def vitals(
    patient: str = "P-0042",
    when: str = "20261125140000",
    values: VitalSigns = TYPICAL,
    **kw: str,
) -> bytes:
    """A monitor's observation set (``VitalSigns``; a value None: no OBX)."""
    observations = (
        (HR, values.pulse), (NIBP_SYS, values.systolic), (NIBP_DIA, values.diastolic),
        (NIBP_MEAN, values.mean), (SPO2, values.spo2), (RESP, values.respiration),
        (TEMP, values.celsius),
    )  # fmt: skip
    measured = [obx(kind, value) for kind, value in observations if value is not None]
    return oru(measured, patient, when, **kw)
