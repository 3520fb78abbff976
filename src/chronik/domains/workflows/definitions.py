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
FIX = "give a .toml or .json file, or module:attribute of a Python Definition (see docs/workflows.md)"


def load_definition(source: str | Definition | dict[str, Any], field: str = "definition") -> Definition:
    """The definition `source` names or is; ValidationError naming `field` when it is not one."""
    if isinstance(source, Definition):
        return check_definition(source, field)
    if isinstance(source, dict):
        return _converted(source, field)
    if not isinstance(source, str) or not source:
        raise ValidationError(field, "is missing", FIX)
    path = Path(source)
    if path.suffix.lower() in (".toml", ".json"):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"definition file {source} does not exist") from None
        try:
            parsed = tomllib.loads(raw.decode()) if path.suffix.lower() == ".toml" else json.loads(raw)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(field, f"{source} does not parse: {exc}", FIX) from None
        return _converted(parsed, field)
    if PYTHON_TARGET.fullmatch(source):
        module, _, attribute = source.partition(":")
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValidationError(field, f"cannot load {source}: {exc}", FIX) from None
        if isinstance(value, (Definition, dict)):
            return load_definition(value, field)
        raise ValidationError(field, f"{source} is a {type(value).__name__}, not a Definition", FIX)
    raise ValidationError(field, f"{source!r} is neither a .toml/.json file nor module:attribute", FIX)


def _converted(value: Any, field: str) -> Definition:
    try:
        definition = msgspec.convert(value, type=Definition, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationError(field, f"is not a workflow definition: {exc}", FIX) from None
    return check_definition(definition, field)
