"""vitalwatch: an advisory patient-alerting daemon on Kafka and Spark Structured Streaming.

It is a secondary notifier beside bedside alarms, never a replacement for them.
"""

__version__ = "0.1.0"
