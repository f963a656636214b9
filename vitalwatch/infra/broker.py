"""A single-node Apache Kafka broker in KRaft mode on loopback, for development, tests and demos.

The broker runs from the Maven Central jars (see ``jarsets``) as a child JVM; its storage, log
and pid file live in one directory, so ``stop`` finds a broker that another process started.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

from vitalwatch.errors import InfrastructureError
from vitalwatch.infra.java import Java

log = structlog.get_logger(__name__)

_LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


@dataclass(frozen=True)
class LocalBroker:
    directory: Path
    port: int
    jars: tuple[Path, ...]
    java: Java
    heap: str = "512m"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def _pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    def _properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.directory / 'data'}",
            "num.partitions=2",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ])  # fmt: skip

    def _java(self, main_class: str, *args: str) -> list[str]:
        classpath = os.pathsep.join(str(j) for j in self.jars)
        return [
            str(self.java.executable),
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp", classpath, main_class, *args,
        ]  # fmt: skip

    def running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def start(self, timeout: float = 60.0) -> None:
        """Format storage on first use, start the broker, wait until it accepts connections."""
        if self.running_pid() is not None:
            log.info("kafka.already_running", bootstrap=self.bootstrap_servers)
            return
        if _port_open(self.port):
            raise InfrastructureError(
                f"port {self.port} is taken by another process; stop it or choose another "
                "port with VITALWATCH_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:<port>"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        config = self.directory / "server.properties"
        config.write_text(self._properties())
        if not (self.directory / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                # "--cluster-id=": a base64 id may start with "-", which argparse takes as an option
                self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                           "-c", str(config), "--standalone"),
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise InfrastructureError(f"formatting Kafka storage failed:\n{fmt.stderr[-2000:]}")
        with open(self.directory / "stdout.log", "ab") as out:
            process = subprocess.Popen(
                self._java("kafka.Kafka", str(config)),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise InfrastructureError(
                    f"the Kafka broker exited with {process.returncode}; see {self.log_file}"
                )
            if _port_open(self.port):
                log.info("kafka.started", bootstrap=self.bootstrap_servers, pid=process.pid)
                return
            time.sleep(0.25)
        self.stop()
        raise InfrastructureError(f"the Kafka broker did not open port {self.port} in {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker cleanly (SIGTERM, controlled shutdown); SIGKILL after ``timeout``."""
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            log.warning("kafka.killed", pid=pid)
        self._pid_file.unlink(missing_ok=True)
        log.info("kafka.stopped", pid=pid)


def _reap(pid: int) -> None:
    """Collect the exit status if the broker is our child (else it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
