"""Fuzz of the routing file loader (``load_routing``), 50,023 files: 46,700 seeded mutations of
the example routing files (the README's, the embedded default, the unit tests' route tree) read
with libyaml's YAML parser and 2,000 with PyYAML's own (the loader's), 1,000 random YAML
documents and 300 random byte strings (hypothesis, derandomized), and the 23 YAML traps. Each
one either loads into a routing whose every route has a known receiver and its own name, or is
refused with ``ConfigError`` naming the file and, for a route's or receiver's problem, which
one and the field; no other exception gets out."""

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
from tests.unit.notify.test_routing import TREE
from vitalwatch.errors import ConfigError
from vitalwatch.notify.config.routing import (
    DEFAULT_ROUTING,
    build_router,
    load_routing,
    parse_routing,
)

pytestmark = pytest.mark.fuzz

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES = (DEFAULT_ROUTING, TREE)
# The file as a whole (YAML's own message runs over several lines), or one problem a line.
_WHOLE_FILE = (
    r"cannot be read.*",
    r"(line \d+, column \d+: )?not valid YAML: .*",
    r"line \d+, column \d+: duplicate key .+ \(first at line \d+\); keep one",
)
_PROBLEMS = (
    r"expected a mapping with 'route:' and 'receivers:'",
    r"((route|receiver) .+?|receivers): (field .+?: .*|duplicate name)",
    r"field .+?: .*",
)


def readme_routing() -> str:
    """The routing example of the README's Notifications section."""
    after = README.read_text().split("**Routing**", 1)[1]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def example_documents() -> list[Any]:
    return [yaml.safe_load(text) for text in (readme_routing(), *EXAMPLES)]


def check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        config = load_routing(path)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        if any(re.fullmatch(r, message.removeprefix(f"{path}: "), re.DOTALL) for r in _WHOLE_FILE):
            return
        for line in message.split("\n"):  # one problem a line (names may hold other breaks)
            assert line.startswith(f"{path}: "), line
            assert any(re.fullmatch(r, line.removeprefix(f"{path}: ")) for r in _PROBLEMS), line
    else:
        receivers = {receiver.name for receiver in config.receivers}
        routes = build_router(config).routes()
        assert all(route.receiver in receivers for route in routes)
        assert len({route.name for route in routes}) == len(routes)


def test_the_examples_load() -> None:
    """The mutations start from valid files (so most of them break one thing at a time)."""
    for text in (readme_routing(), *EXAMPLES):
        assert parse_routing(text, "example").receivers


def test_mutations_of_the_examples_through_libyaml(scratch_dir: Path, libyaml: None) -> None:
    texts = mutated_texts(example_documents(), 46_700, seed=7)
    assert check_each(check, scratch_dir / "routing.yaml", texts) == 46_700


def test_mutations_and_yaml_traps_through_pyyaml(scratch_dir: Path) -> None:
    texts = [*mutated_texts(example_documents(), 2_000, seed=70), *YAML_TRAPS]
    assert check_each(check, scratch_dir / "routing.yaml", texts) == 2_000 + len(YAML_TRAPS)


@settings(HYPOTHESIS, max_examples=1_000)
@given(document=yaml_documents)
def test_any_yaml_document(tmp_path: Path, document: Any) -> None:
    check(tmp_path / "routing.yaml", yaml_text(document).encode())


@settings(HYPOTHESIS, max_examples=300)
@given(data=st.binary(max_size=300))
def test_any_bytes(tmp_path: Path, data: bytes) -> None:
    check(tmp_path / "routing.yaml", data)
