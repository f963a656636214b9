"""The two jar sets vitalwatch needs: the Kafka broker and Spark's Kafka connector."""

from __future__ import annotations

from pathlib import Path

from vitalwatch.infra.java import Java
from vitalwatch.infra.maven import Coordinate, pyspark_jars_dir, resolve

KAFKA_VERSION = "4.3.1"
_LOG4J_VERSION = "2.25.4"


def kafka_broker_jars(cache_dir: Path, java: Java) -> list[Path]:
    return resolve(
        f"kafka-{KAFKA_VERSION}",
        [
            Coordinate("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
            # The broker logs through slf4j 1.x; this binds it to log4j2 so its log is readable.
            Coordinate("org.apache.logging.log4j", "log4j-slf4j-impl", _LOG4J_VERSION),
        ],
        cache_dir,
        java,
    )


def spark_kafka_connector_jars(cache_dir: Path, java: Java) -> list[Path]:
    """The official spark-sql-kafka-0-10 connector matching the installed pyspark."""
    import pyspark

    version = pyspark.__version__
    return resolve(
        f"spark-sql-kafka-{version}",
        [Coordinate("org.apache.spark", "spark-sql-kafka-0-10_2.13", version)],
        cache_dir,
        java,
        skip_jars_in=pyspark_jars_dir(),
    )
