"""``bench.cross_topic``: readings overtaken by earlier-stamped ones of another signal."""

from bench.cross_topic import inversions


def test_a_reading_appended_after_a_later_stamped_one_of_another_signal_is_counted() -> None:
    found = inversions(
        [
            ("P-1", "heart_rate", 1_000, 1_010),
            ("P-1", "spo2", 1_000, 1_050),  # stamped with the heart rate, appended 40 ms after
            ("P-1", "heart_rate", 2_000, 2_005),
            ("P-1", "blood_pressure", 1_500, 2_100),  # appended 95 ms after the 2 s heart rate
            ("P-2", "heart_rate", 1_000, 5_000),  # another patient: never compared with P-1
        ],
        wait_ms=500,
    )
    assert found.readings == 5
    # Per reading, the latest append among other signals stamped at or before it, if later: the
    # 1 s heart rate (the SpO2, 40 ms) and the 2 s heart rate (the cuff, 95 ms).
    assert sorted(found.later_ms) == [40, 95]
    # The cuff, stamped 500 ms before the 2 s heart rate, appended after it.
    assert found.across_wait_ms == [2_005]


def test_a_reading_appended_after_one_stamped_less_than_the_wait_later_is_not_across_it() -> None:
    found = inversions(
        [("P-1", "heart_rate", 2_000, 2_005), ("P-1", "blood_pressure", 1_501, 2_100)],
        wait_ms=500,
    )
    assert (found.later_ms, found.across_wait_ms) == ([95], [])


def test_signals_appended_in_the_order_they_were_stamped_show_nothing() -> None:
    found = inversions(
        [
            ("P-1", "heart_rate", 1_000, 1_010),
            ("P-1", "spo2", 1_500, 1_510),
            ("P-1", "heart_rate", 2_000, 2_010),
        ]
    )
    assert (found.later_ms, found.across_wait_ms) == ([], [])
