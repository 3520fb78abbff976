"""The 20 JSON Schemas: shipped unchanged, compiled once, and each accepting a valid payload and
rejecting invalid ones with a message naming the field; checked against the jsonschema
library's draft 2020-12 validator."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path

import jsonschema
import pytest
from channel_events import SHARED_CHANNELS, payload
from hypothesis import given, settings
from hypothesis import strategies as st

from chronik.domains.channels import schema
from chronik.domains.channels.events import EVENT_NAMES
from chronik.errors import ValidationError

PACKAGE_SCHEMAS = Path(schema.__file__).parent / "schemas"


def reference_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema.schema_of(name))


def test_the_schemas_are_the_real_projects_unchanged():
    shipped = sorted(path.name for path in PACKAGE_SCHEMAS.glob("*.schema.json"))
    assert shipped == sorted(f"{name}.schema.json" for name in EVENT_NAMES)
    provenance = (PACKAGE_SCHEMAS / "PROVENANCE.md").read_text(encoding="utf-8")
    for name in shipped:
        ours = (PACKAGE_SCHEMAS / name).read_bytes()
        assert ours == (SHARED_CHANNELS / "schemas" / name).read_bytes(), name
        assert f"{hashlib.sha256(ours).hexdigest()}  {name}" in provenance


def test_schemas_compile_once():
    schema.validator_of.cache_clear()
    for _ in range(3):
        schema.validate_payload("state-signed", payload("state-signed"))
    assert schema.validator_of.cache_info().misses == 1


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_a_valid_payload_is_accepted(name):
    schema.validate_payload(name, payload(name, 3))
    assert reference_validator(name).is_valid(payload(name, 3))


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_a_missing_field_is_named(name):
    required = schema.schema_of(name)["required"][-1]
    bad = payload(name)
    del bad[required]
    with pytest.raises(ValidationError) as caught:
        schema.validate_payload(name, bad)
    assert caught.value.field == f"payload.{required}"
    assert not reference_validator(name).is_valid(bad)


def hex_field(name: str) -> str:
    properties = schema.schema_of(name)["properties"]
    return next(field for field, rule in properties.items() if "0x" in rule.get("pattern", "") and field in payload(name))


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_a_bad_hex_length_is_named(name):
    field = hex_field(name)
    bad = payload(name)
    bad[field] = bad[field][:-1]
    with pytest.raises(ValidationError, match="must match pattern") as caught:
        schema.validate_payload(name, bad)
    assert caught.value.field == f"payload.{field}"
    assert not reference_validator(name).is_valid(bad)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_a_wrong_type_is_named(name):
    bad = payload(name, timestamp_ms="2024-01-01")
    with pytest.raises(ValidationError, match="must be integer") as caught:
        schema.validate_payload(name, bad)
    assert caught.value.field == "payload.timestamp_ms"
    assert not reference_validator(name).is_valid(bad)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_extra_fields_follow_additional_properties(name):
    # None of the real schemas sets additionalProperties: false, so an extra field is valid
    # (and part of the content id); a schema that forbade it would reject it here.
    extra = payload(name, note="extra")
    forbids = schema.schema_of(name).get("additionalProperties", True) is False
    assert forbids is False
    schema.validate_payload(name, extra)
    assert reference_validator(name).is_valid(extra)
    strict = {**schema.schema_of(name), "additionalProperties": False}
    import fastjsonschema

    with pytest.raises(fastjsonschema.JsonSchemaValueException, match="must not contain"):
        fastjsonschema.compile(strict)(extra)


def test_nested_errors_name_the_item():
    bad = payload("channel-created", participants=[payload("channel-created")["participants"][0], "0x12"])
    with pytest.raises(ValidationError) as caught:
        schema.validate_payload("channel-created", bad)
    assert caught.value.field == "payload.participants[1]"


def test_a_keyword_draft_7_reads_differently_is_refused(monkeypatch):
    odd = {"$schema": schema.SCHEMA_DIALECT, "type": "array", "prefixItems": [{"type": "integer"}]}
    assert "prefixItems" not in schema.SAME_IN_DRAFT_7
    assert set(schema._keywords(odd)) - schema.SAME_IN_DRAFT_7 == {"prefixItems"}


def mutations(name: str) -> st.SearchStrategy:
    fields = sorted(payload(name))
    junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**70), st.text(max_size=8),
                     st.from_regex(re.compile(r"0x[0-9a-fA-F]{0,131}"), fullmatch=True),
                     st.lists(st.text(max_size=3), max_size=3), st.sampled_from(["DirectFund", "decode_failed"]))
    return st.lists(st.tuples(st.sampled_from(fields), st.one_of(st.none(), junk), st.booleans()), max_size=3)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(EVENT_NAMES), data=st.data())
def test_the_validator_agrees_with_jsonschema_draft_2020_12(name, data):
    mutated = copy.deepcopy(payload(name, 1))
    for field, value, delete in data.draw(mutations(name)):
        if delete:
            mutated.pop(field, None)
        else:
            mutated[field] = value
    try:
        schema.validate_payload(name, mutated)
        ours = True
    except ValidationError:
        ours = False
    assert ours == reference_validator(name).is_valid(mutated), mutated
