from vitalwatch.simulate.synthetic import Episode, SyntheticWard


def test_messages_are_reproducible_across_calls() -> None:
    ward = SyntheticWard(patients=3, duration_s=120, malformed_share=0.1)
    assert list(ward.messages()) == list(ward.messages())


def test_normal_patients_stay_below_the_default_tachycardia_limit() -> None:
    import json

    ward = SyntheticWard(patients=30, duration_s=3600, episodes=())
    rates = [json.loads(m.value)["bpm"] for m in ward.messages() if b"bpm" in m.value]
    assert rates and max(rates) <= 110 and min(rates) >= 55


def test_dropout_silences_the_patient() -> None:
    ward = SyntheticWard(patients=1, duration_s=100, episodes=(Episode("dropout", 1, 40, 30),))
    offsets = [m.offset_ms for m in ward.messages() if m.signal.value == "heart_rate"]
    assert not any(40_000 <= t < 70_000 for t in offsets)
    assert any(t >= 70_000 for t in offsets)


def test_with_the_news2_observations_only_the_deteriorating_patient_reaches_an_emergency() -> None:
    import json
    from pathlib import Path

    from vitalwatch.contracts.readings import ON_OXYGEN_FIELD, Reading
    from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
    from vitalwatch.rules.kind import PatientContext
    from vitalwatch.rules.loader import load_rules

    ward = SyntheticWard(patients=6, duration_s=900, observation_interval_s=5.0)
    signals = {m.signal.value for m in ward.messages()}
    assert signals == {"heart_rate", "blood_pressure", "spo2", "respiration", "temperature"}
    by_patient: dict[str, list[Reading]] = {}
    for message in ward.messages():
        body = json.loads(message.value)
        values = {
            k: float(v) for k, v in body.items() if k not in ("patient_id", "ts", "device_id")
        }
        if ON_OXYGEN_FIELD in body:
            values[ON_OXYGEN_FIELD] = 1.0 if body[ON_OXYGEN_FIELD] else 0.0
        reading = Reading(message.signal, body["ts"], values)
        by_patient.setdefault(body["patient_id"], []).append(reading)
    rules = load_rules(Path(__file__).resolve().parents[2] / "rules")
    evaluator = PatientEvaluator(rules, allowed_lateness_ms=0)
    emergencies = set()
    for patient, readings in by_patient.items():
        state, context = PatientState(), PatientContext(patient)
        alerts = evaluator.process(state, context, readings).alerts
        alerts += evaluator.flush(state, context)
        if any(a.rule_id == "news2-emergency" for a in alerts):
            emergencies.add(patient)
    assert emergencies == {"P-0004"}
