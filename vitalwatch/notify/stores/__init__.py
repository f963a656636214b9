"""The notifier's durable state, one SQLite file: alerts taken from the topic, the
notification log, acknowledgements, silences and the audit trail."""
