"""kafka.security: validation at start-up and its translation for librdkafka and the Java client."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitalwatch.errors import ConfigError
from vitalwatch.kafka_clients import client_config
from vitalwatch.kafka_security import java_client_properties, librdkafka_properties
from vitalwatch.settings import Settings, load_settings
from vitalwatch.stream.job import SOURCE_FETCH_MAX_WAIT_MS, kafka_options, source_options


def secured(tmp_path: Path, **security: object) -> Settings:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    password = tmp_path / "kafka-password"
    password.write_text('pa"ss\\word\n')
    return load_settings(
        state_dir=tmp_path,
        kafka={
            "bootstrap_servers": "broker:9093",
            "security": {
                "protocol": "SASL_SSL",
                "ca_file": ca,
                "username": "vitalwatch",
                "password_file": password,
                **security,
            },
        },
    )


def test_the_default_is_plaintext_with_nothing_else() -> None:
    kafka = load_settings().kafka
    assert librdkafka_properties(kafka) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert java_client_properties(kafka) == librdkafka_properties(kafka)


def test_sasl_ssl_for_librdkafka(tmp_path: Path) -> None:
    config = client_config(secured(tmp_path), **{"group.id": "g"})
    assert config == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(tmp_path / "ca.pem"),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "vitalwatch",
        "sasl.password": 'pa"ss\\word',  # the file's trailing newline is not part of it
        "group.id": "g",
    }


def test_sasl_ssl_for_spark_source_and_sink(tmp_path: Path) -> None:
    options = kafka_options(secured(tmp_path, sasl_mechanism="SCRAM-SHA-256"))
    assert options == {
        "kafka.bootstrap.servers": "broker:9093",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": str(tmp_path / "ca.pem"),
        "kafka.sasl.mechanism": "SCRAM-SHA-256",
        "kafka.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
        'required username="vitalwatch" password="pa\\"ss\\\\word";',
    }


def test_plain_mechanism_uses_the_plain_login_module(tmp_path: Path) -> None:
    jaas = java_client_properties(secured(tmp_path, sasl_mechanism="PLAIN").kafka)
    assert jaas["sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
    )


def test_mutual_tls_certificate_reaches_both_clients(tmp_path: Path) -> None:
    client = tmp_path / "client.pem"
    client.write_text("-----BEGIN PRIVATE KEY-----\n")
    settings = load_settings(
        kafka={"security": {"protocol": "SSL", "client_certificate_file": client}}
    )
    native = librdkafka_properties(settings.kafka)
    assert native["ssl.certificate.location"] == native["ssl.key.location"] == str(client)
    java = java_client_properties(settings.kafka)
    assert java["ssl.keystore.type"] == "PEM"
    assert java["ssl.keystore.location"] == str(client)
    assert "ssl.truststore.location" not in java  # no CA file: the JVM's own trust store


def test_password_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__USERNAME", "svc")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__PASSWORD", "from-env")
    settings = load_settings()
    assert librdkafka_properties(settings.kafka)["sasl.password"] == "from-env"
    assert "from-env" not in repr(settings) and "from-env" not in str(settings.model_dump())


def test_escape_hatches_reach_one_client_each() -> None:
    settings = load_settings(
        kafka={
            "client_properties": {"client.id": "native", "security.protocol": "SSL"},
            "java_client_properties": {"client.id": "java"},
        }
    )
    assert librdkafka_properties(settings.kafka)["client.id"] == "native"
    assert librdkafka_properties(settings.kafka)["security.protocol"] == "SSL"  # overrides
    assert java_client_properties(settings.kafka)["client.id"] == "java"
    assert java_client_properties(settings.kafka)["security.protocol"] == "PLAINTEXT"


@pytest.mark.parametrize(
    ("security", "names"),
    [
        ({"username": None}, "VITALWATCH_KAFKA__SECURITY__USERNAME"),
        ({"password_file": None}, "VITALWATCH_KAFKA__SECURITY__PASSWORD_FILE"),
        ({"password_file": "/nonexistent/kafka-password"}, "cannot be read"),
        ({"password": "also"}, "keep one"),
        ({"ca_file": "/nonexistent/ca.pem"}, "VITALWATCH_KAFKA__SECURITY__CA_FILE"),
        ({"protocol": "SSL"}, "does not use SASL"),
        ({"protocol": "SASL_PLAINTEXT"}, "does not use TLS"),
    ],
)
def test_inconsistent_security_stops_start_up_naming_the_setting(
    tmp_path: Path, security: dict[str, object], names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        secured(tmp_path, **security)


def test_empty_password_file_is_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="password is empty"):
        secured(tmp_path, password_file=empty)


def test_the_password_is_refused_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "vitalwatch.yaml"
    config.write_text(
        "kafka:\n  security:\n    protocol: SASL_SSL\n    username: u\n    password: p\n"
    )
    with pytest.raises(ConfigError, match="password is in the config file"):
        load_settings(config)
    config.write_text("kafka:\n  security:\n    protocol: SSL\n")  # the rest is welcome there
    assert load_settings(config).kafka.security.protocol == "SSL"


def test_the_source_waits_little_for_an_empty_fetch_unless_the_operator_says_otherwise() -> None:
    """The Kafka source's consumers get a short ``fetch.max.wait.ms`` (the Java client's 500 ms
    held every live micro-batch's read ~500 ms); ``kafka.java_client_properties`` still win."""
    default = source_options(load_settings(kafka={"bootstrap_servers": "broker:9092"}))
    assert default["kafka.fetch.max.wait.ms"] == str(SOURCE_FETCH_MAX_WAIT_MS)
    assert default["kafka.bootstrap.servers"] == "broker:9092"
    own = source_options(
        load_settings(
            kafka={
                "bootstrap_servers": "broker:9092",
                "java_client_properties": {"fetch.max.wait.ms": "250"},
            }
        )
    )
    assert own["kafka.fetch.max.wait.ms"] == "250"
