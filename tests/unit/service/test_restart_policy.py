from vitalwatch.service.restart import RestartPolicy


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = RestartPolicy(backoff_s=1, backoff_max_s=5, max_failures=5, window_s=600)
    assert [policy.failure(t) for t in (0, 10, 20, 30)] == [1, 2, 4, 5]
    assert policy.failure(40) is None


def test_failures_outside_the_window_are_forgotten() -> None:
    policy = RestartPolicy(backoff_s=1, backoff_max_s=60, max_failures=3, window_s=100)
    assert policy.failure(0) == 1
    assert policy.failure(50) == 2
    assert policy.failure(140) == 2  # the first failure left the window
    assert policy.recent_failures == 2
    assert policy.failure(145) is None


def test_one_allowed_failure_gives_up_at_once() -> None:
    assert RestartPolicy(1, 1, max_failures=1, window_s=60).failure(0) is None
