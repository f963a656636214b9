"""Load and validate rule files (``rules/*.yaml``) into rule instances.

An invalid file is rejected as a whole with the file, the rule id, the field and what is
allowed, so the caller can keep the rules it already runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vitalwatch.errors import RuleFileError
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.registry import registered_kinds
from vitalwatch.yaml_input import YamlInputError, line_of, load_yaml


def _located(path: Path, rule_id: str, message: str) -> RuleFileError:
    return RuleFileError(f"{path}: rule {rule_id!r}: {message}")


def _explain(error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "(rule)"
    field = "for" if field == "for_" else field
    line = line_of(raw, error["loc"])
    return f"field {field!r}: {error['msg']}{f' (line {line})' if line else ''}"


def load_rule_file(
    path: Path, kinds: Mapping[str, type[RuleKind[Any]]] | None = None
) -> list[RuleKind[Any]]:
    kinds = registered_kinds() if kinds is None else kinds
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(f"{path}: cannot be read: {exc}") from None
    try:
        document = load_yaml(text)
    except YamlInputError as exc:
        raise RuleFileError(f"{path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RuleFileError(f"{path}: expected a mapping with a list under 'rules:'")
    rules: list[RuleKind[Any]] = []
    for index, raw in enumerate(document["rules"]):
        rule_id = str(raw.get("id", f"#{index + 1}")) if isinstance(raw, dict) else f"#{index + 1}"
        if not isinstance(raw, dict):
            raise _located(path, rule_id, "each rule is a mapping of fields")
        kind_name = str(raw.get("kind"))
        if kind_name not in kinds:
            raise _located(
                path,
                rule_id,
                f"field 'kind': unknown kind {kind_name!r} (allowed: {', '.join(sorted(kinds))})",
            )
        kind = kinds[kind_name]
        try:
            spec = kind.spec_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(_explain(e, raw) for e in exc.errors())
            raise _located(path, rule_id, problems) from None
        rules.append(kind(spec))
    return rules


def load_rules(
    directory: Path, kinds: Mapping[str, type[RuleKind[Any]]] | None = None
) -> list[RuleKind[Any]]:
    """All rules of ``directory/*.yaml`` (or one file), with ids unique across files."""
    files = [directory] if directory.is_file() else sorted(directory.glob("*.yaml"))
    if not files:
        raise RuleFileError(
            f"{directory.resolve()}: no rule files (*.yaml) found; point rules.directory at the "
            "rule files (VITALWATCH_RULES__DIRECTORY, or the config file), e.g. the rules/ "
            "directory of a vitalwatch checkout"
        )
    kinds = registered_kinds() if kinds is None else kinds
    seen: dict[str, Path] = {}
    rules: list[RuleKind[Any]] = []
    for path in files:
        for rule in load_rule_file(path, kinds):
            if rule.spec.id in seen:
                raise _located(
                    path, rule.spec.id, f"duplicate id, already defined in {seen[rule.spec.id]}"
                )
            seen[rule.spec.id] = path
            rules.append(rule)
    return rules
