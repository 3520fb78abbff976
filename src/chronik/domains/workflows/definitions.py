"""Workflow definitions from where people keep them: a TOML or JSON file, or a Python object
named `module:attribute` (a `Definition`, or a dict of the same shape).

    name = "release"
    [[steps]]
    id = "build"
    [[steps]]
    id = "review"
    gate = true        # done by approve_gate / reject_gate
    [[steps]]
    id = "deploy"
"""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from chronik.domains.workflows.events import Definition, check_definition
from chronik.errors import NotFound, ValidationError

PYTHON_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
FIX = ("give a .toml, .json or .yaml file, or module:attribute of a Python Definition "
       "(see docs/workflows.md)")
YAML_SUFFIXES = (".yaml", ".yml")


def load_definition(source: str | Definition | dict[str, Any], field: str = "definition") -> Definition:
    """The definition `source` names or is; ValidationError naming `field` when it is not one."""
    if isinstance(source, Definition):
        return check_definition(source, field)
    if isinstance(source, dict):
        return _converted(source, field)
    if not isinstance(source, str) or not source:
        raise ValidationError(field, "is missing", FIX)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in (".toml", ".json", *YAML_SUFFIXES):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"definition file {source} does not exist") from None
        return _converted(_parsed(raw, suffix, source, field), field)
    if PYTHON_TARGET.fullmatch(source):
        module, _, attribute = source.partition(":")
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValidationError(field, f"cannot load {source}: {exc}", FIX) from None
        if isinstance(value, (Definition, dict)):
            return load_definition(value, field)
        raise ValidationError(field, f"{source} is a {type(value).__name__}, not a Definition", FIX)
    raise ValidationError(field, f"{source!r} is neither a .toml/.json/.yaml file nor module:attribute", FIX)


def _converted(value: Any, field: str) -> Definition:
    try:
        definition = msgspec.convert(value, type=Definition, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationError(field, f"is not a workflow definition: {exc}", FIX) from None
    return check_definition(definition, field)


def _parsed(raw: bytes, suffix: str, source: str, field: str) -> Any:
    """A definition file's content: TOML, JSON or YAML (YAML needs the `workflows` extra)."""
    if suffix in YAML_SUFFIXES:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ValidationError(field, f"{source} is YAML, which needs PyYAML",
                                  "pip install 'chronik[workflows]', or give a .toml or .json file") from None
        try:
            return yaml.safe_load(raw.decode())  # safe_load: a definition file builds no objects
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValidationError(field, f"{source} does not parse: {exc}", FIX) from None
    try:
        return tomllib.loads(raw.decode()) if suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(field, f"{source} does not parse: {exc}", FIX) from None
