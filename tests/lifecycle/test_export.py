"""export_events: JSONL (deterministic bytes from every store), JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from lifecycle_testing import STORE_KINDS, fill

import chronik
from chronik.lifecycle import export_events
from chronik.lifecycle.records import FIELDS


def _export(ledger, **options) -> bytes:
    out = io.BytesIO()
    export_events(ledger, out, **options)
    return out.getvalue()


def test_jsonl_line_is_the_recorded_event_in_field_order(open_ledger):
    ledger = open_ledger("memory:")
    fill(ledger, commits=2)
    lines = _export(ledger).splitlines()
    assert len(lines) == ledger.head().position
    first = json.loads(lines[0])
    assert list(first) == list(FIELDS)
    assert first["sig"] is None
    assert first == {**next(ledger.read_all()).to_dict()}
    # Compact, data and meta canonical (sorted keys), non-ASCII as itself.
    assert b": " not in lines[0] and "café".encode() in lines[0]
    assert b'"data":{"n":0,"nested":{"b":[1,2.5]},"note":' in lines[0]


def test_jsonl_export_is_byte_identical_from_every_store(make_url, open_ledger):
    source = open_ledger("memory:")
    fill(source)
    events = list(source.read_all())
    exports = {}
    for kind in STORE_KINDS:
        ledger = open_ledger(make_url(kind))
        ledger.store.import_events(events)
        exports[kind] = _export(ledger)
    assert len(set(exports.values())) == 1, {k: len(v) for k, v in exports.items()}


def test_json_is_a_pretty_array_of_the_same_objects(open_ledger):
    ledger = open_ledger("memory:")
    fill(ledger, commits=3)
    text = _export(ledger, format="json")
    assert text.startswith(b"[\n  {\n    \"position\": 1,")
    assert json.loads(text) == [json.loads(line) for line in _export(ledger).splitlines()]
    assert _export(open_ledger("memory:"), format="json") == b"[]\n"


def test_csv_has_flat_columns_with_json_text(open_ledger):
    ledger = open_ledger("memory:")
    fill(ledger, commits=3)
    rows = list(csv.DictReader(io.StringIO(_export(ledger, format="csv").decode())))
    events = list(ledger.read_all())
    assert len(rows) == len(events)
    assert list(rows[0]) == list(FIELDS)
    assert rows[1]["position"] == "2" and json.loads(rows[1]["meta"]) == events[1].meta
    assert json.loads(rows[0]["data"]) == events[0].data and rows[0]["sig"] == ""


def test_after_and_filters(open_ledger):
    ledger = open_ledger("memory:")
    fill(ledger)
    after = [json.loads(line)["position"] for line in _export(ledger, after=10).splitlines()]
    assert after == list(range(11, ledger.head().position + 1))
    only = [json.loads(line) for line in
            _export(ledger, filter=chronik.Filter(categories=["extension"])).splitlines()]
    assert only and all(event["stream"].startswith("extension:") for event in only)


def test_unknown_format_is_refused(open_ledger):
    with pytest.raises(chronik.ValidationError, match="format"):
        _export(open_ledger("memory:"), format="xml")
