"""confluent-kafka clients configured from the settings, and topic creation for local set-ups."""

from __future__ import annotations

from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from vitalwatch.errors import InfrastructureError
from vitalwatch.kafka_security import librdkafka_properties
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka configuration: brokers, TLS/SASL (``kafka.security``), the
    ``kafka.client_properties`` escape hatch, then ``extra``. Holds the password: never log it."""
    config: dict[str, Any] = dict(librdkafka_properties(settings.kafka))
    config.update(extra)
    return config


def make_producer(settings: Settings, **extra: Any) -> Producer:
    return Producer(
        client_config(settings, **{"enable.idempotence": True, "linger.ms": 5, **extra})
    )


def close_producer(producer: Producer, timeout_s: float) -> None:
    """Deliver what is queued (up to ``timeout_s``), then stop the client's threads: one left
    open keeps reconnecting to its brokers and logging each failure, after its owner stopped
    and until the garbage collector finds it, which py4j references can put off for ever."""
    producer.flush(timeout_s)
    close = getattr(producer, "close", None)  # not in older confluent-kafka releases
    if close is not None:
        close()


def make_consumer(settings: Settings, group_id: str, **extra: Any) -> Consumer:
    return Consumer(
        client_config(
            settings,
            **{
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **extra,
            },
        )
    )


def ensure_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Create vitalwatch's topics if missing (local and test set-ups; production pre-creates
    them)."""
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings, error_cb=errors.append))
    topics = settings.topics
    names = [*topics.readings(), topics.alerts, topics.deadletter, topics.heartbeat]
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        admin.poll(0.5)  # serves the error callbacks: why the broker could not be reached
        raise InfrastructureError(_unreachable(settings, exc, errors)) from None
    missing = [n for n in names if n not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(n, topics.partitions, topics.replication_factor) for n in missing]
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            log.info("kafka.topic_created", topic=name, partitions=topics.partitions)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise InfrastructureError(f"cannot create topic {name}: {exc}") from None


def _unreachable(settings: Settings, exc: KafkaException, errors: list[KafkaError]) -> str:
    """Why Kafka did not answer, with the setting to look at: credentials, TLS or the address."""
    where = settings.kafka.bootstrap_servers
    codes = {error.code() for error in errors}
    if KafkaError._AUTHENTICATION in codes:
        return (
            f"Kafka at {where} refused vitalwatch's credentials (SASL authentication failed); "
            "check kafka.security.username, the password in kafka.security.password_file and "
            "kafka.security.sasl_mechanism"
        )
    if KafkaError._SSL in codes:
        detail = next(e.str() for e in errors if e.code() == KafkaError._SSL)
        return (
            f"the TLS handshake with Kafka at {where} failed ({detail}); check "
            "kafka.security.ca_file (the CA that signed the brokers' certificates) and that "
            "the address matches their certificates"
        )
    return (
        f"Kafka at {where} is not reachable ({exc}); start the local broker with "
        "`vitalwatch kafka start`, set VITALWATCH_KAFKA__BOOTSTRAP_SERVERS, or check "
        "kafka.security.protocol against the brokers' listener"
    )
