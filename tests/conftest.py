"""Fixtures shared by the Spark and integration tests: real Java, real jars, real Spark."""

from __future__ import annotations

import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitalwatch.infra.java import Java, find_java
from vitalwatch.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SPARK_STOP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def java() -> Java:
    return find_java()


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        state_dir=tmp_path_factory.mktemp("state"), rules={"directory": REPO / "rules"}
    )


@pytest.fixture(scope="session")
def spark(base_settings: Settings) -> Iterator[object]:
    from vitalwatch.stream.session import start_spark

    session = start_spark(base_settings)
    yield session
    # Once, in CI, SparkSession.stop() never returned after every test had passed (py4j waiting
    # for a reply while the JVM, its context already stopped, waited for commands). A teardown
    # must not hang the run: wait a bounded time, then say so (the JVM ends with this process).
    stopper = threading.Thread(target=session.stop, name="spark-stop", daemon=True)
    stopper.start()
    stopper.join(SPARK_STOP_TIMEOUT_S)
    if stopper.is_alive():
        warnings.warn(
            f"SparkSession.stop() did not return within {SPARK_STOP_TIMEOUT_S} s", stacklevel=1
        )
