"""A monitor's observation set, for the gateways' message builders (``messages.vitals`` over
HL7, ``fhir_resources.vital_signs`` over FHIR) and what they must write."""

from __future__ import annotations

from dataclasses import dataclass

from vitalwatch.contracts.readings import Signal


@dataclass(frozen=True)
class VitalSigns:
    """Values in the contract's units (None: not measured this time); by default HR 88, NIBP
    118/76 (90), SpO2 97, RR 16, temperature 37.2 degC."""

    pulse: float | None = 88
    systolic: float | None = 118
    diastolic: float | None = 76
    mean: float | None = 90
    spo2: float | None = 97
    respiration: float | None = 16
    celsius: float | None = 37.2

    def readings(self) -> dict[Signal, dict[str, float | None]]:
        """The readings a gateway writes for it, per signal measured (a blood pressure with
        its systolic, diastolic and mean)."""
        every = {
            Signal.HEART_RATE: {"bpm": self.pulse},
            Signal.BLOOD_PRESSURE: {
                "systolic": self.systolic, "diastolic": self.diastolic, "mean": self.mean,
            },
            Signal.SPO2: {"spo2": self.spo2},
            Signal.RESPIRATION: {"rate": self.respiration},
            Signal.TEMPERATURE: {"celsius": self.celsius},
        }  # fmt: skip
        return {signal: values for signal, values in every.items() if None not in values.values()}


TYPICAL = VitalSigns()
