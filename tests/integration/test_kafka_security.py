"""The daemon over SASL_SSL (SCRAM-SHA-512, TLS from a CA made at start) on its own broker, and
what that run leaves in its logs and metrics: no patient id, no password, no receiver secret."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.conftest import free_port
from tests.integration.conftest import (
    Daemon,
    new_broker,
    run_settings,
    serve_webhook,
    settings_env,
)
from tests.integration.scenario import (
    publish_in_background,
    read_topic,
    tachycardia_rule_only,
    wait_for_readings,
    warm_up,
)
from vitalwatch.errors import InfrastructureError
from vitalwatch.infra.broker import LocalBroker, ScramListener
from vitalwatch.infra.java import Java
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.settings import KafkaSecuritySettings, KafkaSettings, Settings
from vitalwatch.simulate.synthetic import Episode, SyntheticWard

pytestmark = pytest.mark.integration

USERNAME = "vitalwatch"
# Basic-auth credentials in the receiver's apprise URL: a secret that must stay out of the logs.
RECEIVER_SECRET = "receiver-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def secured_broker(
    tmp_path_factory: pytest.TempPathFactory, java: Java, base_settings: Settings
) -> Iterator[LocalBroker]:
    secured = ScramListener(free_port(), USERNAME, "scram-" + secrets.token_hex(12))
    broker = new_broker(tmp_path_factory.mktemp("secured-kafka"), java, base_settings, secured)
    broker.start()
    yield broker
    broker.stop()


def sasl_ssl(
    broker: LocalBroker, password_file: Path, password: str | None = None
) -> KafkaSettings:
    """Settings that reach the broker only through its SASL_SSL listener."""
    assert broker.secured is not None
    password_file.write_text((password or broker.secured.password) + "\n")
    password_file.chmod(0o600)
    security = KafkaSecuritySettings(
        protocol="SASL_SSL",
        ca_file=broker.tls.ca_file,
        username=USERNAME,
        password_file=password_file,
    )
    return KafkaSettings(bootstrap_servers=broker.secured_bootstrap_servers, security=security)


def security_env(kafka: KafkaSettings) -> dict[str, str]:
    security = kafka.security
    assert security.ca_file and security.username and security.password_file
    return {
        "VITALWATCH_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "VITALWATCH_KAFKA__SECURITY__PROTOCOL": security.protocol,
        "VITALWATCH_KAFKA__SECURITY__CA_FILE": str(security.ca_file),
        "VITALWATCH_KAFKA__SECURITY__USERNAME": security.username,
        "VITALWATCH_KAFKA__SECURITY__PASSWORD_FILE": str(security.password_file),
    }


def test_daemon_over_sasl_ssl_notifies_and_logs_no_patient_id_or_secret(
    secured_broker: LocalBroker, tmp_path: Path
) -> None:
    assert secured_broker.secured is not None
    settings = run_settings(secured_broker, tmp_path)
    settings.kafka = sasl_ssl(secured_broker, tmp_path / "kafka-password")
    settings.rules.directory = tachycardia_rule_only(tmp_path / "tachycardia")
    log_path = tmp_path / "daemon.log"
    with serve_webhook() as webhook:
        receiver = webhook.url.replace("json://", f"json://alice:{RECEIVER_SECRET}@")
        env = {**settings_env(settings, [receiver]), **security_env(settings.kafka)}
        daemon = Daemon(env, log_path)
        try:
            daemon.wait_for_event("daemon.ready", timeout=180)
            warm_up(settings)  # publishes through client_config: SASL_SSL too
            ward = SyntheticWard(
                patients=4, duration_s=120, start_ms=int(time.time() * 1000), bp_interval_s=30,
                malformed_share=0.05, seed=5,
                episodes=(Episode("tachycardia", patient=1, start_s=10, duration_s=110),),
            )  # fmt: skip
            messages = list(ward.messages())
            publisher, _ = publish_in_background(ward, settings)

            (notification,) = webhook.wait_for(1, timeout=90)
            assert "tachycardia-sustained" in notification["title"]
            assert "P-0001" in notification["message"]  # the receiver gets it; logs must not
            publisher.join(60)
            wait_for_readings(settings, 1 + len(messages), timeout=120)
            url = f"http://127.0.0.1:{settings.http.port}/metrics"
            metrics = urlopen(url, timeout=5).read().decode()
            # Spark's sink wrote the dead letters and the daemon's producer its heartbeat ticks,
            # over SASL_SSL too (a technical alarm may add dead letters of its own under load).
            faults = [m.value for m in messages if m.fault]
            dead = read_topic(settings, settings.topics.deadletter, len(faults) + 5, timeout=10)
            assert faults and not Counter(faults) - Counter(m.value() for m in dead)
            assert read_topic(settings, settings.topics.heartbeat, 1, timeout=10)
            assert daemon.stop() == 0
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)

    logs = log_path.read_text()
    assert '"event": "daemon.ready"' in logs  # the scan reads the daemon's real output
    assert "json://alice:****@" in logs  # the receiver is logged, its credentials masked
    patients = {m.key.decode() for m in messages if m.key} | {"P-9999"}
    assert "P-0001" in patients and len(patients) >= 4
    forbidden = [*sorted(patients), secured_broker.secured.password, RECEIVER_SECRET]
    assert [s for s in forbidden if s in logs] == [], "found in the daemon's stdout/stderr"
    assert [s for s in forbidden if s in metrics] == [], "found in the /metrics exposition"


def test_secured_listener_refuses_wrong_password_plaintext_and_untrusted_tls(
    secured_broker: LocalBroker, base_settings: Settings, tmp_path: Path
) -> None:
    def ensure(kafka: KafkaSettings) -> None:
        ensure_topics(base_settings.model_copy(update={"kafka": kafka}), timeout=5)

    right = sasl_ssl(secured_broker, tmp_path / "kafka-password")
    ensure(right)  # the control: these settings work

    wrong_password = sasl_ssl(secured_broker, tmp_path / "wrong", password="not-the-password")
    with pytest.raises(InfrastructureError, match="refused vitalwatch's credentials"):
        ensure(wrong_password)

    plaintext = KafkaSettings(bootstrap_servers=secured_broker.secured_bootstrap_servers)
    with pytest.raises(InfrastructureError, match="is not reachable"):
        ensure(plaintext)

    untrusted = right.model_copy(update={"security": right.security.model_copy(
        update={"ca_file": None}
    )})  # fmt: skip
    with pytest.raises(InfrastructureError, match=r"TLS handshake .*certificate verify failed"):
        ensure(untrusted)
