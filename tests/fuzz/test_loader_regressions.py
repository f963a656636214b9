"""The loader bugs the fuzz tests found, one file each: every one of these got out of the loader
as another exception (ValueError, AttributeError, RecursionError, OverflowError,
UnicodeDecodeError) before the fix, instead of the project's error naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.rules.test_loader import VALID as RULE
from vitalwatch.errors import ConfigError, RuleFileError
from vitalwatch.notify.config.routing import load_routing
from vitalwatch.rules.loader import load_rule_file

pytestmark = pytest.mark.fuzz

ROUTING = """
route: {{receiver: ward, group_wait: {duration}}}
receivers: [{{name: ward, tiers: [{{urls: ["json://localhost/ward"]}}]}}]
"""
YAML_ONLY_IN_NAME = [
    ("rules: [{id: 2001-13-01}]\n", "month must be in 1..12"),
    ("rules: !!timestamp 2020-x\n", "not valid YAML"),
    ("rules: !!int abc\n", "invalid literal for int()"),
    # Deeper than any recursion limit in force (hypothesis raises it while it runs, so 1,200
    # levels built fine in a full run): PyYAML's composer recurses per level.
    ("rules: " + "[" * 100_000 + "]" * 100_000 + "\n", "maximum recursion depth"),
]


@pytest.mark.parametrize(("text", "said"), YAML_ONLY_IN_NAME)
def test_yaml_that_cannot_be_built_is_refused(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError, match="not valid YAML") as rules:
        load_rule_file(path)
    with pytest.raises(ConfigError, match="not valid YAML") as routing:
        load_routing(path)
    for error in (rules.value, routing.value):
        assert str(error).startswith(f"{path}: ") and said in str(error)


@pytest.mark.parametrize(
    ("duration", "said"),
    [
        ("1.0e+400", "inf is not a duration"),  # YAML reads it as float infinity
        (".inf", "inf is not a duration"),
        (".nan", "nan is not a duration"),
        ("9" * 400 + "s", "a duration is at most 3650d"),
        ("3651d", "a duration is at most 3650d"),
    ],
)
def test_a_duration_that_is_not_finite_or_beyond_ten_years_is_refused_with_its_field(
    tmp_path: Path, duration: str, said: str
) -> None:
    rules, routing = tmp_path / "rules.yaml", tmp_path / "routing.yaml"
    rules.write_text(RULE.replace("for: 60s", f"for: {duration}"))
    routing.write_text(ROUTING.format(duration=duration))
    with pytest.raises(RuleFileError) as rule_error:
        load_rule_file(rules)
    assert str(rule_error.value).startswith(f"{rules}: rule 'tachy': field 'for': ")
    assert said in str(rule_error.value)
    with pytest.raises(ConfigError) as routing_error:
        load_routing(routing)
    assert str(routing_error.value).startswith(f"{routing}: route 'root': field 'group_wait': ")
    assert said in str(routing_error.value)


def test_a_routing_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(ROUTING.format(duration="5s").encode("utf-16"))
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: cannot be read: not UTF-8"):
        load_routing(path)
