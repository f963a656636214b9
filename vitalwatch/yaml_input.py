"""YAML that people edit (rule files, rule tests, routing, the config file), read strictly.

Two of YAML's habits silently change what a file means, so both are refused here:

- **Duplicate keys.** PyYAML keeps the last of two equal keys: a rule with ``above: 130`` and,
  further down, ``above: 300`` loaded with 300, a rule that never fires. ``load_yaml`` refuses
  the file, naming the key and both lines.
- **Booleans as numbers.** ``above: true`` is a YAML boolean, which pydantic's lax mode takes as
  1.0. Models of edited files derive from ``YamlModel``, whose number fields refuse booleans.

Every mapping ``load_yaml`` returns remembers the line of each key (``line_of``), so a loader can
name the line of a field that fails validation.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Hashable, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationInfo, field_validator


class YamlInputError(ValueError):
    """A file is not valid YAML, or has a duplicate key; the message names the line."""


class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers the (1-based) line of each key."""

    key_lines: dict[Any, int]


class _StrictMappings:
    """Loader mix-in: mappings refuse duplicate keys and remember each key's line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys merged in with ``<<`` may be overridden by the mapping's own keys (YAML's merge
        # rule); only two of its own keys that are equal are a duplicate.
        own = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        self.flatten_mapping(node)  # type: ignore[attr-defined]
        mapping = _Mapping()
        mapping.key_lines = {}
        own_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found an unhashable key", key_node.start_mark,
                )  # fmt: skip
            line = key_node.start_mark.line + 1
            if id(key_node) in own:
                if key in own_lines:
                    raise YamlInputError(
                        f"line {line}, column {key_node.start_mark.column + 1}: duplicate key "
                        f"{key!r} (first at line {own_lines[key]}); keep one"
                    )
                own_lines[key] = line
            mapping.key_lines[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)  # type: ignore[attr-defined]
        return mapping


def strict_loader(base: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> type[Any]:
    """A safe loader on ``base``'s parser whose mappings are strict. The loaders use PyYAML's
    own parser; the fuzz tests run the bulk of their inputs through libyaml's, ~7x faster."""
    loader: type[Any] = type(f"Strict{base.__name__}", (_StrictMappings, base), {})

    def mapping(loader: _StrictMappings, node: yaml.MappingNode) -> dict[Any, Any]:
        return loader.construct_mapping(node, deep=True)

    # Every mapping, block or flow, goes through construct_mapping above.
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return loader


_Loader = strict_loader(yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse ``text``; raise ``YamlInputError`` with the line and column of what is wrong."""
    try:
        return yaml.load(text, Loader=_Loader)
    except YamlInputError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlInputError(f"{where}not valid YAML: {exc.problem or exc.context}") from None
    # Not only YAMLError: PyYAML's constructors fail with ValueError or AttributeError on scalars
    # they cannot build (a date 2001-13-01, "!!timestamp x"), and nesting deeper than Python's
    # stack is a RecursionError.
    except Exception as exc:
        raise YamlInputError(f"not valid YAML: {exc}") from None


def line_of(document: Any, location: Sequence[int | str]) -> int | None:
    """The line of the deepest key of ``location`` (a pydantic error's ``loc``) in ``document``."""
    node, line = document, None
    for part in location:
        if isinstance(node, _Mapping) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    return line


def _numeric(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_numeric(arg) for arg in typing.get_args(annotation))
    return False


class YamlModel(BaseModel):
    """Base of the models of files people edit: a number field refuses ``true``/``false``."""

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError("a number is needed here, not true/false")
        return value
