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
