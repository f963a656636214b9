"""Broken config files for the loader fuzz tests: a seeded mutator of a valid document (fields
dropped, renamed or replaced by wrong types, huge numbers, bad durations, unknown names, unicode,
deep nesting; then the YAML text itself cut, shuffled or edited), hypothesis strategies for any
YAML document and any bytes, and a few YAML traps (bad timestamps, explicit tags, small alias
bombs, recursion) that a YAML parser meets on the way.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Reproducible in CI: the same examples every run, no example database.
HYPOTHESIS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Values a field may get instead of its own: wrong types, edge and absurd numbers, durations
# people mistype, format templates that try to escape, unicode, names no one registered.
BAD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 0.5, -0.0, 10**30, -(10**30), 2**63, 1e308, -1e308,
    float("nan"), float("inf"), float("-inf"), "", " ", "0", "-5", "1e400", "9" * 400,
    "90", "90s", "-5s", "5 s", "1h30m", "1.5.5s", "10x", "1e400s", "9" * 400 + "s", "0s",
    "999999999999999d", "s", "∞", "é🙂", "\x00", "\u2028", "a" * 5000, [], {}, [1, "a"],
    {"nested": {"deeper": [None]}}, "{value:.0f}", "{value:999999999}", "{value.__class__}",
    "{", "}", "{0}", "{}", "{bed!r}", "{value:{bed}}", "{limit:%}", "{duration:d}",
    "threshold", "news2", "magic", "heart_rate", "pulse", "high", "urgent", "ward=~ICU-.*",
    "ward~ICU", "severity=~(", "a=~" + "(" * 300 + ")" * 300, "name=" + "x" * 1000,
    ["severity=high", 5], ["=~"], "root", "default",
)  # fmt: skip
NAMES = (
    "id", "kind", "for", "signal", "above", "below", "receiver", "routes", "tiers", "name",
    "matchers", "urls", "extra", "", "é", "for_", "continue", "group_wait",
)  # fmt: skip

# Texts YAML parsers stumble on before any validation sees the document.
YAML_TRAPS: tuple[str, ...] = (
    "rules:\n  - id: 2001-13-01\n",
    "route: !!timestamp 2020-02-30\n",
    "rules: !!int abc\n",
    "rules: [!!float x]\n",
    "rules: !!binary '!!'\n",
    "rules: !!python/object:os.system ls\n",
    "rules: !!set {a, b}\n",
    "a: &a [*a, *a]\nrules: *a\n",
    "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nrules: [*c, *c]\n",
    "route: &r {routes: [*r]}\nreceivers: []\n",
    "rules: " + "[" * 1200 + "]" * 1200 + "\n",
    "rules:\n" + "".join("  " * i + "- \n" for i in range(400)),
    "? [a]\n: b\n",
    "{[1]: 2}\n",
    "rules:\n\t- id: x\n",
    "rules: [\n",
    "%YAML 9.9\n---\nrules: []\n",
    "--- a\n--- b\n",
    "rules: []\n...\ngarbage: [\n",
    "\ufeffrules: []\n",
    "",
    "~",
    "rules: {}\n",
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _bad_value(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(BAD_VALUES))  # a copy: later changes must not reach the pool


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _mutate_node(document: Any, rng: random.Random) -> Any:
    """One change at a random place of the document's tree."""
    path = rng.choice(list(_paths(document)))
    if not path:
        return rng.choice([[document], _bad_value(rng), {"rules": document}, document])
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.randrange(7)
    if action == 0:
        del parent[last]
    elif action == 1:
        parent[last] = _bad_value(rng)
    elif action == 2 and isinstance(parent, dict):
        parent[rng.choice(NAMES)] = parent.pop(last)
    elif action == 3 and isinstance(parent, dict):
        parent[rng.choice(NAMES)] = _bad_value(rng)
    elif action == 4:
        parent[last] = _nested(rng.choice([3, 8, 20]))
    elif action == 5 and isinstance(parent, list):
        parent.append(parent[last])  # a duplicate (same id, name or route)
    else:
        parent[last] = [parent[last]] if rng.random() < 0.5 else {"wrapped": parent[last]}
    return document


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    at = rng.randrange(len(lines))
    action = rng.randrange(7)
    if action == 0:
        del lines[at]
    elif action == 1:
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif action == 2:
        lines[at] = "  " * rng.randint(0, 4) + lines[at].lstrip()
    elif action == 3:
        cut = rng.randrange(len(text) + 1)
        return text[:cut]
    elif action == 4:
        char = rng.choice(":-[]{}&*!|>'\"#%@`\t\x00\u2028é")
        position = rng.randrange(len(text) + 1)
        return text[:position] + char + text[position:]
    elif action == 5:
        lines.insert(at, rng.choice(YAML_TRAPS[:9]))  # the short ones (the rest run once each)
    else:
        rng.shuffle(lines)
    return "".join(lines)


def _emit(document: Any, rng: random.Random) -> str:
    """JSON (a YAML subset, and fast) or YAML block style, with or without unicode escaped."""
    if rng.random() < 0.75:
        return json.dumps(document, ensure_ascii=rng.random() < 0.5)
    unicode = rng.random() < 0.5
    return yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=unicode, sort_keys=False)


def mutated_texts(valid: list[Any], count: int, seed: int) -> Iterator[str]:
    """``count`` texts: one of the ``valid`` documents with one to four changes to its tree,
    then, for a third of them, one to its text. (Nesting stays shallow here: PyYAML's pure-Python
    scanner takes time quadratic in the depth of flow nesting; ``YAML_TRAPS`` has the deep ones.)"""
    rng = random.Random(seed)
    for _ in range(count):
        document = json.loads(json.dumps(rng.choice(valid)))
        for _ in range(rng.randint(1, 4)):
            document = _mutate_node(document, rng)
        text = _emit(document, rng)
        if rng.random() < 0.33:
            text = _mutate_text(text, rng)
        yield text


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(BAD_VALUES[:60])
)
yaml_documents = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
"""Any document YAML can hold (of modest size), to be dumped as the text of a config file."""


def yaml_text(document: Any) -> str:
    return yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True)


def libyaml_safe_load(stream: str) -> Any:
    """``yaml.safe_load`` on libyaml's scanner and parser (the same safe constructors, in
    Python), ~7x faster: the bulk of the mutations goes through it, the rest through PyYAML's
    pure-Python one that the loaders use."""
    return yaml.load(stream, Loader=yaml.CSafeLoader)


def check_each(check: Callable[[Path, bytes], None], path: Path, texts: Iterable[str]) -> int:
    """Run ``check`` on every text as the file at ``path``, saying which text failed (the seeded
    inputs have no shrinker to); how many ran."""
    count = 0
    for text in texts:
        data = text.encode()
        try:
            check(path, data)
        except BaseException as error:
            raise AssertionError(f"{path.name} {data[:600]!r} broke the loader") from error
        count += 1
    return count
