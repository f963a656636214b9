"""/healthz, /readyz and /metrics on a real HTTP endpoint; checks with an explicit clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from vitalwatch.metrics import Metrics
from vitalwatch.service.health import Check, Health
from vitalwatch.service.http import HttpEndpoint
from vitalwatch.service.progress import ProgressTracker, Throughput


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.progress = ProgressTracker(self.clock)
        self.running = True
        self.broker = Check("broker", True, "1 brokers answered")
        self.health = Health(
            self.progress, 60, lambda: self.running, [lambda: self.broker], self.clock
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def endpoint(world: World) -> Iterator[str]:
    http = HttpEndpoint("127.0.0.1", 0, Metrics().registry, world.health)
    http.start()
    yield f"http://127.0.0.1:{http.port}"
    http.stop()


def get(url: str) -> tuple[int, dict]:
    try:
        with urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_ready_when_every_check_passes(world: World, endpoint: str) -> None:
    world.progress.started()
    world.clock.now += 30
    assert get(endpoint + "/readyz") == (
        200,
        {
            "status": "ready",
            "failed": [],
            "checks": {
                "query": {"ok": True, "detail": "running"},
                "broker": {"ok": True, "detail": "1 brokers answered"},
                "last_batch": {"ok": True, "detail": "last report 30.0 s ago (limit 60 s)"},
            },
        },
    )


def test_not_ready_names_the_failed_checks(world: World, endpoint: str) -> None:
    status, body = get(endpoint + "/readyz")
    assert (status, body["failed"]) == (503, ["last_batch"])  # never started
    world.progress.started()
    world.progress.progressed(Throughput(batch_id=3))
    world.clock.now += 61
    world.running = False
    world.broker = Check("broker", False, "no answer within 2 s")
    status, body = get(endpoint + "/readyz")
    assert (status, body["status"]) == (503, "not ready")
    assert body["failed"] == ["query", "broker", "last_batch"]
    world.progress.idle()  # an idle trigger is a report too
    world.running, world.broker = True, Check("broker", True, "")
    assert get(endpoint + "/readyz")[0] == 200


def test_alive_until_the_supervisor_loop_stops_ticking(world: World, endpoint: str) -> None:
    assert get(endpoint + "/healthz") == (
        200,
        {
            "status": "alive",
            "failed": [],
            "checks": {"supervisor_loop": {"ok": True, "detail": "last tick 0.0 s ago"}},
        },
    )
    world.clock.now += 31
    status, body = get(endpoint + "/healthz")
    assert (status, body["failed"]) == (503, ["supervisor_loop"])
    world.health.tick()
    assert get(endpoint + "/healthz")[0] == 200


def test_metrics_are_served_beside_the_checks(endpoint: str) -> None:
    text = urlopen(endpoint + "/metrics", timeout=5).read().decode()
    assert "vitalwatch_build_info" in text
