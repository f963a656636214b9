from pathlib import Path

import pytest

from vitalwatch.cli import main
from vitalwatch.errors import RuleFileError
from vitalwatch.rules.kinds.threshold import ThresholdRule
from vitalwatch.rules.loader import load_rules
from vitalwatch.rules.registry import registered_kinds

REPO_RULES = Path(__file__).resolve().parents[3] / "rules"

VALID = """
rules:
  - id: tachy
    description: d
    source: s
    kind: threshold
    signal: heart_rate
    above: 130
    for: 60s
    severity: high
    summary: "HR {value:.0f}"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_rules_are_valid() -> None:
    rules = {r.spec.id: r for r in load_rules(REPO_RULES)}
    assert sorted(rules) == [
        "bradycardia-sustained",
        "heart-rate-no-data",
        "map-below-65",
        "news2-emergency",
        "news2-urgent",
        "shock-index-high",
        "systolic-falling",
        "systolic-news2-red",
        "tachycardia-sustained",
    ]
    assert rules["tachycardia-sustained"].spec.for_ == 60_000
    assert all(rule.spec.source for rule in rules.values())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("severity: high", "severity: urgent"), "field 'severity'"),
        (("signal: heart_rate", "signal: pulse"), "field 'signal'"),
        (("for: 60s", "for: a minute"), "field 'for'"),
        (
            ("kind: threshold", "kind: magic"),
            "unknown kind 'magic' (allowed: baseline, count_in_window, derived, news2, "
            "news2_aggregate, no_data, threshold, trend)",
        ),
        (('"HR {value:.0f}"', '"{value.__class__}"'), "field 'summary'"),
        (("above: 130", "above: 130\n    below: 40"), "exactly one of 'above' or 'below'"),
        (("above: 130", "above: 130\n    colour: red"), "field 'colour'"),
        (("above: 130", "above: .nan"), "field 'above': Input should be a finite number"),
        (("above: 130", "above: .inf"), "field 'above': Input should be a finite number"),
    ],
)
def test_invalid_rule_names_file_rule_and_field(tmp_path: Path, change, expected) -> None:
    path = write(tmp_path, "bad.yaml", VALID.replace(*change))
    with pytest.raises(RuleFileError) as error:
        load_rules(tmp_path)
    message = str(error.value)
    assert str(path) in message and "rule 'tachy'" in message and expected in message


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", VALID)
    write(tmp_path, "b.yaml", VALID)
    with pytest.raises(RuleFileError, match="duplicate id"):
        load_rules(tmp_path)


def test_not_yaml_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="no rule files"):
        load_rules(tmp_path)
    write(tmp_path, "x.yaml", "rules: [unclosed")
    with pytest.raises(RuleFileError, match="not valid YAML"):
        load_rules(tmp_path)


def test_plugin_kind_cannot_override_a_builtin() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registered_kinds({"threshold": ThresholdRule})


def test_demo_without_rule_files_stops_before_starting_anything(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """Run from a directory with no rules/ (the default rules.directory is relative): the demo
    says where it looked and how to point it at the rules, and starts no broker."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VITALWATCH_STATE_DIR", str(tmp_path / "state"))
    assert main(["demo"]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'rules'}: no rule files (*.yaml) found" in error
    assert "VITALWATCH_RULES__DIRECTORY" in error
    assert not (tmp_path / "state" / "kafka").exists()


def test_backtest_refuses_a_bad_rule_file_before_starting_spark(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A bad rule file of ``--compare`` is refused at once, naming file and field, before Spark
    starts (its log is the driver JVM's first trace) or any stay is read."""
    monkeypatch.setenv("VITALWATCH_STATE_DIR", str(tmp_path / "state"))
    bad = tmp_path / "candidate"
    bad.mkdir()
    write(bad, "hr.yaml", VALID.replace("above: 130", "above: fast"))
    argv = ["backtest", "--input", str(tmp_path), "--rules", str(REPO_RULES), "--compare", str(bad)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert str(bad / "hr.yaml") in error and "above" in error
    assert not (tmp_path / "state" / "logs").exists()
