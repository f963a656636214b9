"""A real Spark standalone cluster on this machine: one master and two workers, started with
the installed pyspark's ``spark-class`` (pip's pyspark ships no ``sbin/start-*.sh``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pyspark

from tests.conftest import free_port
from vitalwatch.infra.java import Java

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


@dataclass(frozen=True)
class Cluster:
    master_url: str
    web_url: str

    def alive_workers(self) -> list[dict]:
        state = json.loads(urlopen(f"{self.web_url}/json/", timeout=5).read())
        return [w for w in state["workers"] if w["state"] == "ALIVE"]


@contextmanager
def standalone_cluster(
    java: Java, root: Path, workers: int = 2, cores: int = 1, memory: str = "1g"
) -> Iterator[Cluster]:
    env = {**java.environment(), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "256m"}  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    port, web = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}")
    processes: list[subprocess.Popen[bytes]] = []

    def launch(name: str, *args: str) -> None:
        with (root / f"{name}.log").open("wb") as log:
            processes.append(
                subprocess.Popen([str(SPARK_CLASS), *args], env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
            )  # fmt: skip

    try:
        launch("master", "org.apache.spark.deploy.master.Master",
               "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web))  # fmt: skip
        for i in range(workers):
            work = root / f"worker-{i}"
            work.mkdir()
            launch(f"worker-{i}", "org.apache.spark.deploy.worker.Worker",
                   "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                   "--webui-port", str(free_port()), "--work-dir", str(work),
                   cluster.master_url)  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            try:
                if len(cluster.alive_workers()) == workers:
                    break
            except OSError:
                pass
            for process in processes:
                assert process.poll() is None, f"a cluster process exited; logs in {root}"
            assert time.monotonic() < deadline, f"{workers} workers not alive in 90 s ({root})"
            time.sleep(1)
        yield cluster
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
