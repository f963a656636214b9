"""Exceptions vitalwatch raises on purpose, each carrying a message that says what to do.

VitalwatchError
├── ConfigError          a setting or config file is wrong; start-up stops
├── RuleFileError        a rule file is invalid (file, rule id, field, allowed values)
└── InfrastructureError  Java, the Kafka broker or the jar resolver is missing or failed
"""

from __future__ import annotations


class VitalwatchError(Exception):
    """Base of every error vitalwatch raises deliberately."""


class ConfigError(VitalwatchError):
    """A setting is invalid; the message names it and how to fix it."""


class RuleFileError(VitalwatchError):
    """A rule file is invalid; the message names the file, the rule and the field."""


class InfrastructureError(VitalwatchError):
    """Something vitalwatch depends on (Java, Kafka, Maven Central) is missing or failed."""
