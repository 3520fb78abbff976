"""Checking an emitted event against the catalog: its type (or an alias of one), its required
fields, the kind and bounds of every field the catalog knows, the lineage fields, and its size.

The real system advertised required fields and never checked them; here nothing is written
unless the whole event passes, and the error names the field (`event_data.epic_id`) and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from chronik import codec
from chronik.domains.sessions.events import BUILT_IN, CATEGORIES, LINEAGE_FIELDS, EventType, FieldSpec
from chronik.errors import LimitExceeded, ValidationError

# Canonical JSON bytes of one event's data plus metadata. The plan budgets ~500 bytes per event;
# this bound keeps one runaway payload (a whole file pasted in) out of every later replay.
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
MAX_DEPTH = 32
KIND_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
              "object": "an object", "array": "an array", "string[]": "an array of strings"}


class Checked(msgspec.Struct, frozen=True):
    """An event that passed: its canonical type, data and metadata (lineage moved there)."""

    type: str
    data: dict[str, Any]
    meta: dict[str, Any]


class Catalog:
    """The event types an emit may use: the built-in ones plus a user's (catalog_file.py)."""

    def __init__(self, types: Iterable[EventType] = BUILT_IN) -> None:
        self.types: dict[str, EventType] = {}
        self.aliases: dict[str, str] = {}
        for spec in types:
            self.types[spec.type] = spec
        for spec in self.types.values():
            for alias in spec.aliases:
                self.aliases[alias] = spec.type

    def known(self) -> list[EventType]:
        return sorted(self.types.values(), key=lambda spec: _category_rank(spec.category))  # stable: as defined

    def enabled_names(self) -> list[str]:
        return [spec.type for spec in self.known() if spec.enabled]

    def resolve(self, name: Any, field: str = "event_type") -> EventType:
        """The type `name` names (itself or an alias), enabled; else ValidationError."""
        if not isinstance(name, str):
            raise ValidationError(field, f"must be a string, got {_kind_of(name)}",
                                  "pass the event type's name, e.g. epic_started")
        spec = self.types.get(name) or self.types.get(self.aliases.get(name, ""))
        if spec is None:
            raise ValidationError(field, f"{name[:100]!r} is not a known event type",
                                  f"use one of: {', '.join(self.enabled_names())}")
        if not spec.enabled:
            raise ValidationError(field, f"{spec.type} is off in this catalog",
                                  f'enable it in a catalog file (enable = ["{spec.type}"]); see docs/sessions.md')
        return spec

    def check(self, event_type: Any, event_data: Any, metadata: Any = None,
              max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Checked:
        """The event as it will be recorded, or ValidationError naming the field at fault."""
        spec = self.resolve(event_type)
        data = _json_object(event_data, "event_data")
        meta = {} if metadata is None else _json_object(metadata, "metadata")
        data = _renamed_fields(spec, data)
        data, meta = _lineage_in_meta(data, meta)
        for field in spec.required:
            if data.get(field.name) is None:
                raise ValidationError(f"event_data.{field.name}", f"is required for {spec.type}",
                                      f"add {field.name} ({KIND_WORDS[field.kind]}); {spec.type} requires "
                                      f"{', '.join(spec.required_fields)}")
        for field in (*spec.required, *spec.optional):
            value = data.get(field.name)
            if value is not None:
                check_field(field, value, f"event_data.{field.name}")
        size = len(codec.canonical_json(data, "event_data", MAX_DEPTH)) + \
            len(codec.canonical_json(meta, "metadata", MAX_DEPTH))
        if size > max_event_bytes:
            raise LimitExceeded("event_data", "max_event_bytes", max_event_bytes, size,
                                "record large output elsewhere (a file, an artifact) and put its path "
                                "or a summary in the event")
        return Checked(spec.type, data, meta)


def check_field(field: FieldSpec, value: Any, where: str) -> None:
    """`value` has the field's kind and lies within its bounds; else ValidationError at `where`."""
    if not _has_kind(value, field.kind):
        raise ValidationError(where, f"must be {KIND_WORDS[field.kind]}, got {_kind_of(value)}",
                              f"send {field.name} as {KIND_WORDS[field.kind]}")
    if field.choices is not None and value not in field.choices:
        raise ValidationError(where, f"{str(value)[:100]!r} is not one of {', '.join(field.choices)}",
                              f"use one of {', '.join(field.choices)}")
    if field.kind in ("integer", "number"):
        if field.minimum is not None and value < field.minimum:
            raise ValidationError(where, f"{value} is below {_bound(field.minimum)}",
                                  f"use a value from {_bound(field.minimum)}"
                                  + ("" if field.maximum is None else f" to {_bound(field.maximum)}"))
        if field.maximum is not None and value > field.maximum:
            raise ValidationError(where, f"{value} is above {_bound(field.maximum)}",
                                  f"use a value up to {_bound(field.maximum)}")


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)  # string[]


def _kind_of(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _bound(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _json_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be a JSON object, got {_kind_of(value)}",
                              f"pass {field} as an object of fields, e.g. {{\"epic_id\": \"epic-003\"}}")
    return dict(value)


def _renamed_fields(spec: EventType, data: dict[str, Any]) -> dict[str, Any]:
    """The plan's other names of fields (test_passed's test_count, coverage) under their own."""
    for alias, name in spec.field_aliases.items():
        if alias in data:
            if name in data:
                raise ValidationError(f"event_data.{alias}", f"is another name of {name}, which is also given",
                                      f"give only {name}")
            data[name] = data.pop(alias)
    return data


def _lineage_in_meta(data: dict[str, Any], meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """parent_uuid, root_uuid and depth, given in event_data or metadata, kept in metadata."""
    for field in LINEAGE_FIELDS:
        in_data = data.pop(field.name, None)
        in_meta = meta.get(field.name)
        if in_data is not None and in_meta is not None and in_data != in_meta:
            raise ValidationError(f"event_data.{field.name}", "differs from the one in metadata",
                                  "give it once, in event_data or in metadata")
        value = in_meta if in_meta is not None else in_data
        if value is None:
            meta.pop(field.name, None)
            continue
        check_field(field, value, f"event_data.{field.name}" if in_meta is None else f"metadata.{field.name}")
        if field.kind == "string" and not 1 <= len(value) <= 128:
            raise ValidationError(f"metadata.{field.name}", "must be 1 to 128 characters",
                                  "use the event's uuid, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e")
        meta[field.name] = value
    return data, meta


def _category_rank(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def catalog_listing(catalog: Catalog) -> list[dict[str, Any]]:
    """Every type as the real system's list_event_types gives it (and field kinds beside)."""
    return [{"type": spec.type, "description": spec.description, "category": spec.category,
             "required_fields": spec.required_fields, "optional_fields": spec.optional_fields}
            for spec in catalog.known()]


def field_kinds(spec: EventType) -> Mapping[str, str]:
    return {field.name: field.kind for field in (*spec.required, *spec.optional)}


DEFAULT_CATALOG = Catalog()
