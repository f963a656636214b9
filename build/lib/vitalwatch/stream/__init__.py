"""The Spark side: session, parsing of Kafka records, the stateful rule processor, the query."""
