"""Every YAML file people edit is read strictly: a duplicate key, or ``true`` where a number
belongs, is refused with the file and line named, never loaded with a changed meaning."""

from pathlib import Path

import pytest

from tests.unit.rules.test_loader import VALID as RULE
from vitalwatch.errors import ConfigError, RuleFileError
from vitalwatch.notify.config.routing import load_routing
from vitalwatch.rules.loader import load_rule_file, load_rules
from vitalwatch.rules.testing import run_test_files
from vitalwatch.yaml_input import YamlInputError, line_of, load_yaml

RULES = Path(__file__).resolve().parents[2] / "rules"


def write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_second_limit_further_down_a_rule_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, RULE + "    above: 300\n")
    with pytest.raises(RuleFileError) as error:
        load_rule_file(path)
    assert str(error.value) == (
        f"{path}: line 12, column 5: duplicate key 'above' (first at line 8); keep one"
    )


def test_true_is_not_a_limit(tmp_path: Path) -> None:
    path = write(tmp_path, RULE.replace("above: 130", "above: true"))
    with pytest.raises(RuleFileError) as error:
        load_rule_file(path)
    assert str(error.value) == (
        f"{path}: rule 'tachy': field 'above': Value error, a number is needed here, not "
        "true/false (line 8)"
    )


def test_a_duplicate_key_in_a_rule_test_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tests:\n  - name: t\n    readings:\n"
        "      - {signal: heart_rate, at: 0s, bpm: 140, bpm: 60}\n    expect: []\n",
    )
    with pytest.raises(RuleFileError, match=r"line 4, column 48: duplicate key 'bpm'"):
        run_test_files(path, load_rules(RULES))


def test_true_is_not_a_reading_in_a_rule_test_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tests:\n  - name: t\n    readings:\n      - {signal: heart_rate, at: 0s, bpm: true}\n"
        "    expect: []\n",
    )
    with pytest.raises(RuleFileError, match="a number is needed here, not true/false"):
        run_test_files(path, load_rules(RULES))


def test_a_duplicate_receiver_key_in_the_routing_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "route:\n  receiver: ward\n  receiver: nobody\nreceivers:\n"
        "  - {name: ward, tiers: [{urls: ['json://127.0.0.1:1/x']}]}\n",
    )
    with pytest.raises(ConfigError) as error:
        load_routing(path)
    assert str(error.value) == (
        f"{path}: line 3, column 3: duplicate key 'receiver' (first at line 2); keep one"
    )


def test_a_merged_key_may_be_overridden_but_not_repeated() -> None:
    assert load_yaml("base: &b {above: 130}\nrule:\n  <<: *b\n  above: 140\n")["rule"] == {
        "above": 140
    }
    with pytest.raises(YamlInputError, match="duplicate key 'above'"):
        load_yaml("base: &b {above: 130}\nrule:\n  <<: *b\n  above: 140\n  above: 150\n")


def test_lines_of_nested_keys() -> None:
    document = load_yaml("a:\n  - b: 1\n  - c:\n      d: 2\n")
    assert line_of(document, ("a", 1, "c", "d")) == 4
    assert line_of(document, ("a", 0, "b")) == 2
    assert line_of(document, ("a", 5)) == 1  # the deepest key there is
