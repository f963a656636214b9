"""Fuzz of the rule file loader (``load_rule_file``), 50,023 files: 45,700 seeded mutations of the
shipped rules (one a file) read with libyaml's YAML parser and 3,000 of the shipped files and
rules with PyYAML's own (the loader's), 1,000 random YAML documents and 300 random byte strings
(hypothesis, derandomized), and the 23 YAML traps. Each one either loads into rules of a
registered kind or is refused with ``RuleFileError`` naming the file and, for a rule's problem,
the rule and the field; no other exception gets out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.config_mutations import (
    HYPOTHESIS,
    YAML_TRAPS,
    check_each,
    mutated_texts,
    yaml_documents,
    yaml_text,
)
from vitalwatch.errors import RuleFileError
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.loader import load_rule_file
from vitalwatch.rules.registry import registered_kinds

pytestmark = pytest.mark.fuzz

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
KINDS = registered_kinds()
# Every way the loader may refuse a file: the file as a whole, or one rule and its field.
_REFUSALS = (
    r"cannot be read: .*",
    r"(line \d+, column \d+: )?not valid YAML: .*",
    r"line \d+, column \d+: duplicate key .+ \(first at line \d+\); keep one",
    r"expected a mapping with a list under 'rules:'",
    r"rule .+?: (each rule is a mapping of fields|field .+?: .*)",
)


def shipped_files() -> list[Any]:
    return [yaml.safe_load(path.read_text()) for path in sorted(REPO_RULES.glob("*.yaml"))]


def shipped_rules() -> list[Any]:
    """Each shipped rule as a file of its own (the bulk: a fifth of the parsing of a whole file)."""
    return [{"rules": [rule]} for document in shipped_files() for rule in document["rules"]]


def check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        rules = load_rule_file(path, KINDS)
    except RuleFileError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        refusal = message.removeprefix(f"{path}: ")
        assert any(re.fullmatch(r, refusal, re.DOTALL) for r in _REFUSALS), message
    else:
        for rule in rules:
            assert isinstance(rule, RuleKind) and KINDS[rule.spec.kind] is type(rule)
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", rule.spec.id)


def test_mutations_of_the_shipped_rules_through_libyaml(scratch_dir: Path, libyaml: None) -> None:
    texts = mutated_texts(shipped_rules(), 45_700, seed=6)
    assert check_each(check, scratch_dir / "rules.yaml", texts) == 45_700


def test_mutations_and_yaml_traps_through_pyyaml(scratch_dir: Path) -> None:
    texts = [*mutated_texts(shipped_files() + shipped_rules(), 3_000, seed=60), *YAML_TRAPS]
    assert check_each(check, scratch_dir / "rules.yaml", texts) == 3_000 + len(YAML_TRAPS)


@settings(HYPOTHESIS, max_examples=1_000)
@given(document=yaml_documents)
def test_any_yaml_document(tmp_path: Path, document: Any) -> None:
    check(tmp_path / "rules.yaml", yaml_text(document).encode())


@settings(HYPOTHESIS, max_examples=300)
@given(data=st.binary(max_size=300))
def test_any_bytes(tmp_path: Path, data: bytes) -> None:
    check(tmp_path / "rules.yaml", data)
