"""The patient roster: a static table (CSV or Parquet) of patient id, bed, ward and optional
per-patient limit overrides, joined to the readings stream.

Override columns are named ``<rule-id>.<field>`` (for example ``tachycardia-sustained.above``),
so a ward's informaticist can keep the roster as a spreadsheet; an empty cell means the rule's
own limit. Columns are checked against the loaded rules before the stream starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vitalwatch.errors import ConfigError
from vitalwatch.rules.kind import RuleKind

REQUIRED_COLUMNS = ("patient_id", "bed", "ward")


def override_columns(columns: Sequence[str], rules: Sequence[RuleKind[Any]]) -> list[str]:
    """The roster's override columns, each checked against a rule and its overridable fields."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(
            f"roster: missing column(s) {', '.join(missing)}; "
            f"a roster has {', '.join(REQUIRED_COLUMNS)} and optional <rule-id>.<field> columns"
        )
    by_id = {rule.spec.id: rule for rule in rules}
    overrides = []
    for column in columns:
        if column in REQUIRED_COLUMNS:
            continue
        rule_id, _, name = column.rpartition(".")
        rule = by_id.get(rule_id)
        if rule is None:
            raise ConfigError(
                f"roster column {column!r}: no rule {rule_id!r}; override columns are "
                f"<rule-id>.<field> with a rule id from: {', '.join(sorted(by_id))}"
            )
        if name not in type(rule).overridable:
            allowed = ", ".join(sorted(type(rule).overridable)) or "none"
            raise ConfigError(
                f"roster column {column!r}: {name!r} cannot be overridden for {rule_id!r} "
                f"(allowed: {allowed})"
            )
        overrides.append(column)
    return overrides
