"""What vitalwatch runs on locally: a JDK, jars from Maven Central, a single-node Kafka broker."""
