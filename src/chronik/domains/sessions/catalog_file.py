"""A user's own event types, from a JSON or TOML file, added to the built-in catalog without code.

    enable = ["command_logged"]           # built-in types that are off by default

    [types.lint_run]
    category = "testing"                  # one of the 7 categories
    description = "A linter ran over the epic's files."
    required = { epic_id = "string", errors = "integer" }
    optional = { warnings = "integer", tool = { kind = "string", choices = ["ruff", "eslint"] } }
    aliases = ["lint_done"]

The same in JSON: {"enable": [...], "types": {"lint_run": {...}}}. A field is a kind (string,
integer, number, boolean, object, array, string[]) or a table with `kind` and optionally
`choices`, `minimum`, `maximum`. Built-in types cannot be redefined (their meaning is what the
reducer and the resume rules rely on). Every problem is a ValidationError on the field `catalog`
that says where in the file it is.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from chronik.domains.sessions.checks import Catalog
from chronik.domains.sessions.events import BUILT_IN, CATEGORIES, KINDS, EventType, FieldSpec
from chronik.errors import ValidationError

TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_CATALOG_BYTES = 1024 * 1024
MAX_USER_TYPES = 500
FIX = "see docs/sessions.md, 'Your own event types'"


def load_catalog(path: str | os.PathLike[str] | None) -> Catalog:
    """The built-in catalog, plus the types and switches of the file at `path` (JSON or TOML)."""
    if path is None:
        return Catalog()
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()[:MAX_CATALOG_BYTES + 1]
    except OSError as exc:
        raise ValidationError("catalog", f"cannot read {str(file)!r}: {exc.strerror}",
                              "give the path of a .json or .toml catalog file") from None
    if len(raw) > MAX_CATALOG_BYTES:
        raise ValidationError("catalog", f"{file} is larger than {MAX_CATALOG_BYTES} bytes", FIX)
    try:
        content = json.loads(raw) if file.suffix.lower() == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("catalog", f"{file} is not valid {file.suffix[1:].upper() or 'TOML'}: {exc}",
                              FIX) from None
    return catalog_from_mapping(content, str(file))


def catalog_from_mapping(content: Any, source: str = "catalog") -> Catalog:
    if not isinstance(content, dict):
        raise _problem(source, "", "must be a table (TOML) or an object (JSON)")
    unknown = set(content) - {"enable", "types"}
    if unknown:
        raise _problem(source, "", f"has unknown keys {sorted(unknown)}; use enable and types")
    built_in = {spec.type: spec for spec in BUILT_IN}
    enabled = _enabled(content.get("enable", []), built_in, source)
    types = [msgspec.structs.replace(spec, enabled=True) if spec.type in enabled else spec
             for spec in BUILT_IN]
    user = content.get("types", {})
    if not isinstance(user, dict) or len(user) > MAX_USER_TYPES:
        raise _problem(source, "types", f"must be a table of at most {MAX_USER_TYPES} event types")
    taken = set(built_in) | {alias for spec in BUILT_IN for alias in spec.aliases}
    for name, table in user.items():
        spec = _event_type(name, table, taken, source)
        taken.update((spec.type, *spec.aliases))
        types.append(spec)
    return Catalog(types)


def _enabled(names: Any, built_in: dict[str, EventType], source: str) -> set[str]:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _problem(source, "enable", "must be a list of event type names")
    for name in names:
        if name not in built_in:
            raise _problem(source, "enable", f"{name!r} is not a built-in event type")
    return set(names)


def _event_type(name: Any, table: Any, taken: set[str], source: str) -> EventType:
    where = f"types.{name}"
    if not isinstance(name, str) or not TYPE_NAME.fullmatch(name):
        raise _problem(source, where, "is not a type name: use snake_case, e.g. lint_run")
    if name in taken:
        raise _problem(source, where, "is already a type or alias; choose another name")
    if not isinstance(table, dict):
        raise _problem(source, where, "must be a table")
    unknown = set(table) - {"category", "description", "required", "optional", "aliases"}
    if unknown:
        raise _problem(source, where, f"has unknown keys {sorted(unknown)}")
    category = table.get("category")
    if category not in CATEGORIES:
        raise _problem(source, f"{where}.category", f"must be one of {', '.join(CATEGORIES)}")
    description = table.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _problem(source, f"{where}.description", "must be a non-empty string")
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and TYPE_NAME.fullmatch(a) for a in aliases):
        raise _problem(source, f"{where}.aliases", "must be a list of snake_case names")
    for alias in aliases:
        if alias in taken or alias == name:
            raise _problem(source, f"{where}.aliases", f"{alias!r} is already a type or alias")
    required = _fields(table.get("required", {}), f"{where}.required", source)
    optional = _fields(table.get("optional", {}), f"{where}.optional", source)
    both = {f.name for f in required} & {f.name for f in optional}
    if both:
        raise _problem(source, where, f"{sorted(both)} are both required and optional")
    return EventType(type=name, category=category, description=description.strip(), required=required,
                     optional=optional, aliases=tuple(aliases))


def _fields(table: Any, where: str, source: str) -> tuple[FieldSpec, ...]:
    if not isinstance(table, dict):
        raise _problem(source, where, "must be a table of field name to kind")
    fields = []
    for name, spec in table.items():
        at = f"{where}.{name}"
        if not TYPE_NAME.fullmatch(name):
            raise _problem(source, at, "is not a field name: use snake_case")
        if isinstance(spec, str):
            spec = {"kind": spec}
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise _problem(source, at, f"must be one of {', '.join(KINDS)} (or a table with kind)")
        unknown = set(spec) - {"kind", "choices", "minimum", "maximum"}
        if unknown:
            raise _problem(source, at, f"has unknown keys {sorted(unknown)}")
        try:
            fields.append(msgspec.convert({"name": name, **spec}, FieldSpec))
        except msgspec.ValidationError as exc:
            raise _problem(source, at, str(exc)) from None
    return tuple(fields)


def _problem(source: str, where: str, problem: str) -> ValidationError:
    return ValidationError("catalog", f"{source}: {where + ' ' if where else ''}{problem}", FIX)
