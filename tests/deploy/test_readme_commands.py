"""The README opens with two commands that work on a fresh machine. The test command must bring
what the tests need beyond Python's packages: on a fresh clone it once failed the four tests
that run promtool and Prometheus, which only CI's own script installed."""

from __future__ import annotations

import re

from tests.conftest import REPO

README = (REPO / "README.md").read_text()
INSTALLER = REPO / "tests" / "system-packages.sh"


def readme_commands() -> list[str]:
    """The shell commands of the README's opening code blocks (run it, test it)."""
    opening = README.split("\n---\n", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", opening)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    run, test = readme_commands()
    assert "vitalwatch demo" in run and "pytest" in test
    assert test in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_test_command_installs_every_system_tool_the_tests_look_for() -> None:
    _, test = readme_commands()
    assert test.startswith(f"sh {INSTALLER.relative_to(REPO)} && ")
    wanted = set()
    for path in (REPO / "tests").rglob("*.py"):
        wanted |= set(re.findall(r'shutil\.which\("([\w-]+)"\)', path.read_text()))
    wanted.discard("vitalwatch")  # the project's own console script
    script = INSTALLER.read_text()
    assert wanted == {"promtool", "prometheus", "systemd-analyze"}
    for tool in wanted:
        assert f"command -v {tool} " in script, tool
    assert "java -version" in script


def test_the_readme_says_which_system_packages_it_installs() -> None:
    packages = re.search(r'^packages="(.+)"$', INSTALLER.read_text(), re.MULTILINE)
    assert packages is not None
    for package in packages.group(1).split():
        assert f"`{package}`" in README.split("---", 1)[0], package
