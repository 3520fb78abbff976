"""Content-addressed ids: the 4 golden vectors of the real project, and its canonical JSON."""

from __future__ import annotations

import hashlib

import pytest
from channel_events import event, golden_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from chronik.domains.channels import contentid

GOLDEN = golden_vectors()


@pytest.mark.parametrize("vector", GOLDEN, ids=[v["event_name"] for v in GOLDEN])
def test_golden_vector_reproduces(vector):
    canonical = contentid.canonical_json(vector["payload"])
    assert canonical == vector["canonical_json"].encode("utf-8")
    assert contentid.event_id(vector["event_name"], vector["payload"]) == vector["expected_id"]


def test_keccak_is_not_sha3():
    vector = GOLDEN[0]
    message = b"ev1|" + vector["event_name"].encode() + b"|" + vector["canonical_json"].encode()
    assert "0x" + hashlib.sha3_256(message).hexdigest() != vector["expected_id"]
    assert contentid.id_of_bytes(vector["event_name"], vector["canonical_json"].encode()) == vector["expected_id"]


def test_key_order_does_not_change_the_id():
    payload = event("state-signed", 3)["payload"]
    reordered = dict(reversed(list(payload.items())))
    assert contentid.event_id("state-signed", payload) == contentid.event_id("state-signed", reordered)


def test_ids_are_lowercase_hex_with_0x():
    found = contentid.event_id("message-dropped", event("message-dropped", 1)["payload"])
    assert found.startswith("0x") and len(found) == 66 and found == found.lower()


def test_non_ascii_is_raw_utf8_as_the_real_code_writes_it():
    # evmts/channels src/event_store/id.zig appends every byte other than " \\ \n \r \t as is.
    payload = {"event_version": 1, "timestamp_ms": 1, "objective_id": "0x" + "a" * 64,
               "reason": "Zahlung abgelehnt: Überweisung fehlgeschlagen ✗"}
    written = ('{"event_version":1,"objective_id":"0x' + "a" * 64 + '","reason":"Zahlung abgelehnt: '
               '\u00dcberweisung fehlgeschlagen \u2717","timestamp_ms":1}').encode("utf-8")
    assert contentid.canonical_json(payload) == written and b"\\u" not in written
    from Crypto.Hash import keccak

    expected = "0x" + keccak.new(digest_bits=256, data=b"ev1|objective-rejected|" + written).hexdigest()
    assert contentid.event_id("objective-rejected", payload) == expected
    assert expected == "0xc14a7765987a8699774fb77343371460d29a3a3974be53fcf90574c5b3b798b8"


def test_only_the_real_codes_escapes_are_escaped():
    canonical = contentid.canonical_json({"a": 'q"b\\n\nr\rt\tf\x0c'})
    assert canonical == b'{"a":"q\\"b\\\\n\\nr\\rt\\tf\x0c"}'


def test_numbers_booleans_null_and_nesting():
    canonical = contentid.canonical_json({"b": [1, True, None, {"z": 1, "a": 2**70}], "a": 1.5})
    assert canonical == b'{"a":1.500000,"b":[1,true,null,{"a":1180591620717411303424,"z":1}]}'


@pytest.mark.parametrize("bad", [{"a": float("nan")}, {"a": object()}, {"a": {1: 2}}])
def test_non_json_is_refused(bad):
    from chronik.errors import ValidationError

    with pytest.raises(ValidationError, match="payload"):
        contentid.canonical_json(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_the_fast_path_writes_the_same_bytes_as_the_real_codes_rules(payload):
    assert contentid.canonical_json(payload) == contentid._canonical_json_slowly(payload)
