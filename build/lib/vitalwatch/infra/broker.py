"""A single-node Apache Kafka broker in KRaft mode on loopback, for development, tests and demos.

The broker runs from the Maven Central jars (see ``jarsets``) as a child JVM; its storage, log
and pid file live in one directory, so ``stop`` finds a broker that another process started.
Optionally it also has a secured listener (``ScramListener``): SASL_SSL with TLS from a CA made at
first start and one SCRAM-SHA-512 user; the broker's own listeners stay PLAINTEXT on loopback.
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
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from vitalwatch.errors import InfrastructureError
from vitalwatch.infra.broker_tls import BrokerTls
from vitalwatch.infra.java import Java

log = structlog.get_logger(__name__)

_LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


_SCRAM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class ScramListener:
    """A SASL_SSL listener on loopback. The SCRAM user is written into the storage when it is
    formatted (``--add-scram``), so it exists before the first client, with no admin call; a
    broker directory formatted without it keeps having no user."""

    port: int
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class LocalBroker:
    directory: Path
    port: int
    jars: tuple[Path, ...]
    java: Java
    heap: str = "512m"
    secured: ScramListener | None = None
    # The KRaft controller's port; None: the one after ``port`` (9092 -> 9093). Tests give a
    # free one: the port after a free port may be taken.
    controller: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secured_bootstrap_servers(self) -> str:
        if self.secured is None:
            raise InfrastructureError("this broker has no secured listener")
        return f"127.0.0.1:{self.secured.port}"

    @property
    def tls(self) -> BrokerTls:
        """The CA (``tls.ca_file``, for clients) and keystore of the secured listener."""
        return BrokerTls(self.directory / "tls")

    @property
    def controller_port(self) -> int:
        return self.controller if self.controller is not None else self.port + 1

    @property
    def _pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    def _properties(self) -> str:
        plaintext = f"PLAINTEXT://127.0.0.1:{self.port}"
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        listeners = f"{plaintext},{controller}"
        advertised = plaintext
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.secured is not None:
            listeners += f",SASL_SSL://{self.secured_bootstrap_servers}"
            advertised += f",SASL_SSL://{self.secured_bootstrap_servers}"
            protocols += ",SASL_SSL:SASL_SSL"
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners={listeners}",
            f"advertised.listeners={advertised}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={protocols}",
            f"log.dirs={self.directory / 'data'}",
            "num.partitions=2",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            *self._secured_properties(),
            "",
        ])  # fmt: skip

    def _secured_properties(self) -> list[str]:
        if self.secured is None:
            return []
        password = self.tls.keystore_password()
        return [
            f"sasl.enabled.mechanisms={_SCRAM}",
            f"listener.name.sasl_ssl.{_SCRAM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={self.tls.keystore}",
            f"ssl.keystore.password={password}",
            f"ssl.key.password={password}",
        ]

    def _ports(self) -> list[int]:
        return [self.port] + ([self.secured.port] if self.secured else [])

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
        for port in self._ports():
            if _port_open(port):
                raise InfrastructureError(
                    f"port {port} is taken by another process; stop it or choose another "
                    "port with VITALWATCH_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:<port>"
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.secured is not None:
            self.tls.ensure(self.java)
        config = self.directory / "server.properties"
        config.write_text(self._properties())
        config.chmod(0o600)  # with a secured listener it holds the keystore password
        if not (self.directory / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                # "--cluster-id=": a base64 id may start with "-", which argparse takes as an option
                self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                           "-c", str(config), "--standalone", *self._scram_user()),
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
            if all(_port_open(port) for port in self._ports()):
                log.info("kafka.started", bootstrap=self.bootstrap_servers, pid=process.pid)
                return
            time.sleep(0.25)
        self.stop()
        raise InfrastructureError(
            f"the Kafka broker did not open ports {self._ports()} in {timeout}s"
        )

    def _scram_user(self) -> list[str]:
        if self.secured is None:
            return []
        user = self.secured
        return ["--add-scram", f"{_SCRAM}=[name={user.username},password={user.password}]"]

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
