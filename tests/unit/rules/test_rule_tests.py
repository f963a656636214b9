from pathlib import Path

import pytest

from vitalwatch.cli import main
from vitalwatch.errors import RuleFileError
from vitalwatch.rules.loader import load_rules
from vitalwatch.rules.testing import run_test_files

from .test_loader import REPO_RULES


def test_shipped_rule_tests_pass() -> None:
    results = run_test_files(REPO_RULES / "tests", load_rules(REPO_RULES))
    assert len(results) >= 8
    assert [r.name for r in results if not r.passed] == []


def test_a_wrong_expectation_fails_and_the_command_exits_non_zero(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    (tmp_path / "t.yaml").write_text(
        "tests:\n  - name: wrong\n    readings:\n"
        "      - {signal: heart_rate, start: 0s, step: 1s, series: '140x90'}\n"
        "    expect:\n      - {rule: tachycardia-sustained, state: firing, onset: 0s, at: 59s}\n"
    )
    (result,) = run_test_files(tmp_path, load_rules(REPO_RULES))
    assert not result.passed
    assert result.actual == [("tachycardia-sustained", "firing", 0, 60_000)]
    monkeypatch.setenv("VITALWATCH_RULES__DIRECTORY", str(REPO_RULES))
    assert main(["rules", "test", str(tmp_path)]) == 1
    assert "0 passed, 1 failed" in capsys.readouterr().out


def test_malformed_test_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "tests:\n  - name: x\n    readings: []\n    expect:\n"
        "      - {rule: nope, state: firing, onset: 0s, at: 0s}\n"
    )
    with pytest.raises(RuleFileError, match="unknown rule"):
        run_test_files(tmp_path, load_rules(REPO_RULES))
    (tmp_path / "t.yaml").write_text("tests:\n  - name: x\n    readingz: []\n")
    with pytest.raises(RuleFileError, match="not a valid rule test file"):
        run_test_files(tmp_path, load_rules(REPO_RULES))
