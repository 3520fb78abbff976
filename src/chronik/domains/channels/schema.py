"""The 20 JSON Schemas of the real project, shipped in this package (schemas/, PROVENANCE.md),
each compiled once, on first use, into a validator.

The validator is fastjsonschema (it compiles a schema to Python code: a few microseconds per
payload, against about sixty for the jsonschema library's interpreter, which matters at tens of
thousands of events per second). fastjsonschema implements drafts 4, 6 and 7 and these schemas
declare draft 2020-12, so a schema is accepted only when every keyword it uses means the same in
both drafts (`SAME_IN_DRAFT_7`: no prefixItems, $defs, unevaluated* or dependent*); the tests
check the validators against the jsonschema library's Draft202012Validator on valid and invalid
payloads of every type.

Errors name the field path (`payload.participants[1]`) and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from chronik.domains.channels.events import EVENT_NAMES, check_event_name
from chronik.errors import ValidationError

SCHEMA_PACKAGE = "chronik.domains.channels"
SCHEMA_FOLDER = "schemas"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Keywords whose meaning is the same in draft 7 (what fastjsonschema implements) and 2020-12.
SAME_IN_DRAFT_7 = frozenset({
    "$id", "$schema", "title", "description", "type", "required", "properties", "items", "const", "enum",
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
    "minLength", "maxLength", "additionalProperties", "default", "examples",
})

Validate = Callable[[Any], Any]
VALUE_NAME = "data"  # what fastjsonschema calls the value it validates, in error names


def schema_file(event_name: str) -> str:
    return f"{event_name}.schema.json"


@cache
def schema_of(event_name: str) -> dict[str, Any]:
    """The JSON Schema of an event type, as shipped in the package."""
    check_event_name(event_name)
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER).joinpath(schema_file(event_name)).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    if schema.get("$schema") != SCHEMA_DIALECT:
        raise ValidationError("schema", f"{schema_file(event_name)} is not a draft 2020-12 schema",
                              "ship the real project's schema unchanged")
    unknown = sorted(set(_keywords(schema)) - SAME_IN_DRAFT_7)
    if unknown:
        raise ValidationError("schema", f"{schema_file(event_name)} uses {', '.join(unknown)}, which this "
                              "validator would read as draft 7", "validate such a schema with jsonschema")
    return schema


def _keywords(schema: Any) -> Iterator[str]:
    """Every keyword used in a schema (property names under `properties` are not keywords)."""
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        yield keyword
        if keyword == "properties":
            for subschema in value.values():
                yield from _keywords(subschema)
        elif keyword in ("items", "additionalProperties"):
            yield from _keywords(value)


@cache
def validator_of(event_name: str) -> Validate:
    """The compiled validator of an event type (compiled once per process)."""
    return fastjsonschema.compile(schema_of(event_name))  # type: ignore[no-any-return]


def validate_payload(event_name: str, payload: Any, field: str = "payload") -> None:
    """Raise ValidationError naming the field (e.g. `payload.turn_num`) when `payload` does not
    match its event type's schema."""
    try:
        validator_of(event_name)(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        where = _field_name(field, str(error.name or ""))
        if error.rule == "required" and isinstance(error.value, dict):
            missing = [name for name in error.rule_definition or () if name not in error.value]
            if missing:  # name the missing field itself, as every other error does
                raise ValidationError(f"{where}.{missing[0]}", "is required but missing",
                                      f"give {', '.join(missing)}; see `chronik channel schemas {event_name}`"
                                      ) from None
        raise ValidationError(where, _problem(error),
                              f"see `chronik channel schemas {event_name}`") from None


def _field_name(field: str, name: str) -> str:
    """fastjsonschema's name of the value (`data.participants[1]`) with our field for `data`."""
    return field + name[len(VALUE_NAME):] if name.startswith(VALUE_NAME) else field


def _problem(error: fastjsonschema.JsonSchemaValueException) -> str:
    message = str(error.message)
    name = str(error.name or "")
    return message[len(name):].strip() if name and message.startswith(name) else message


def schema_summary(event_name: str) -> dict[str, Any]:
    """What `chronik channel schemas` lists for one type: title, description, fields."""
    schema = schema_of(event_name)
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    return {"event_name": event_name, "title": schema.get("title"), "description": schema.get("description"),
            "required": list(required), "optional": [name for name in properties if name not in required],
            "additional_properties": schema.get("additionalProperties", True) is not False,
            "file": f"{SCHEMA_FOLDER}/{schema_file(event_name)}"}


def all_summaries() -> list[dict[str, Any]]:
    return [schema_summary(name) for name in EVENT_NAMES]
