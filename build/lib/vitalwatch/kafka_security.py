"""``kafka.security`` translated, in one place, for both Kafka client libraries vitalwatch uses.

The daemon's own clients (notifier, heartbeat, topic creation, health) are librdkafka through
confluent-kafka; Spark's Kafka source and sink are the Java client. The two name the same
things differently (``ssl.ca.location`` vs ``ssl.truststore.location``, ``sasl.username`` and
``sasl.password`` vs ``sasl.jaas.config``), so each gets its own map from the same settings.
The maps hold the SASL password: pass them to a client, never to a log.
"""

from __future__ import annotations

from vitalwatch.settings import KafkaSecuritySettings, KafkaSettings

_JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def librdkafka_properties(kafka: KafkaSettings) -> dict[str, str]:
    """Bootstrap servers, security, then ``kafka.client_properties`` (which may override)."""
    security = kafka.security
    properties = {"bootstrap.servers": kafka.bootstrap_servers}
    properties["security.protocol"] = security.protocol
    if security.ca_file is not None:
        properties["ssl.ca.location"] = str(security.ca_file)
    if security.client_certificate_file is not None:
        properties["ssl.certificate.location"] = str(security.client_certificate_file)
        properties["ssl.key.location"] = str(security.client_certificate_file)
    if security.sasl:
        properties["sasl.mechanism"] = security.sasl_mechanism
        properties["sasl.username"] = security.username or ""
        properties["sasl.password"] = security.sasl_password()
    properties.update({k: v.get_secret_value() for k, v in kafka.client_properties.items()})
    return properties


def java_client_properties(kafka: KafkaSettings) -> dict[str, str]:
    """The Java client's properties (no ``kafka.`` prefix), ``kafka.java_client_properties``
    last (they may override)."""
    security = kafka.security
    properties = {"bootstrap.servers": kafka.bootstrap_servers}
    properties["security.protocol"] = security.protocol
    if security.ca_file is not None:
        properties["ssl.truststore.type"] = "PEM"
        properties["ssl.truststore.location"] = str(security.ca_file)
    if security.client_certificate_file is not None:
        properties["ssl.keystore.type"] = "PEM"
        properties["ssl.keystore.location"] = str(security.client_certificate_file)
    if security.sasl:
        properties["sasl.mechanism"] = security.sasl_mechanism
        properties["sasl.jaas.config"] = _jaas_config(security)
    properties.update({k: v.get_secret_value() for k, v in kafka.java_client_properties.items()})
    return properties


def _jaas_config(security: KafkaSecuritySettings) -> str:
    module = _JAAS_LOGIN_MODULES[security.sasl_mechanism]
    username = _jaas_quoted(security.username or "")
    password = _jaas_quoted(security.sasl_password())
    return f"{module} required username={username} password={password};"


def _jaas_quoted(value: str) -> str:
    """A JAAS option value: double-quoted, backslash and quote escaped (Kafka's JaasConfig
    reads it with a StreamTokenizer, which honours those escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
