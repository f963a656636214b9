"""The fields every rule has, whatever its kind. Kind-specific fields live beside each kind."""

from __future__ import annotations

import string
from typing import ClassVar

from pydantic import ConfigDict, Field, field_validator

from vitalwatch.contracts.alerts import Severity
from vitalwatch.yaml_input import YamlModel

_SAMPLE = {"value": 1.0, "limit": 1.0, "duration": "1m", "bed": "b", "ward": "w", "rule_id": "r"}
SUMMARY_FIELDS = frozenset(_SAMPLE)


class RuleSpec(YamlModel):
    """Common rule fields. A rule file is data: the summary is a format template whose fields
    are checked against ``SUMMARY_FIELDS`` at load time; nothing in it is evaluated."""

    # Limits must be finite: a NaN limit compares false with every reading (a rule that can
    # never fire), an infinite one can never be crossed.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
    kind_name: ClassVar[str] = ""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = Field(min_length=1)
    source: str = Field(min_length=1, description="where the threshold comes from")
    kind: str
    severity: Severity
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    # A latching alert stays active for the notifier until acknowledged (IEC 60601-1-8).
    latch: bool = False

    @field_validator("summary")
    @classmethod
    def _plain_fields_only(cls, template: str) -> str:
        for _, name, spec, _ in string.Formatter().parse(template):
            if name is None:
                continue
            if name not in SUMMARY_FIELDS:
                raise ValueError(
                    f"unknown field {{{name}}} in summary; "
                    f"allowed: {', '.join(sorted(SUMMARY_FIELDS))}"
                )
            if spec and "{" in spec:
                raise ValueError("nested fields are not allowed in a summary")
        try:
            template.format(**_SAMPLE)
        except (ValueError, IndexError) as exc:
            raise ValueError(f"summary cannot be rendered: {exc}") from None
        return template
