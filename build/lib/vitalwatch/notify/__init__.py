"""Notification delivery: alerts topic -> receivers (apprise), idempotent by alert and receiver."""
