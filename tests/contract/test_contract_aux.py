"""Auxiliary records (snapshots, checkpoints, parked events, read models live here): the same
behaviour on every store — atomic writes, deletes, code-point key order, ranges, persistence."""

from __future__ import annotations

import pytest

from chronik import ValidationError
from chronik.stores.base import AuxChange


def test_get_put_overwrite_delete(ledger):
    store = ledger.store
    assert store.aux_get("checkpoint", "orders") is None
    store.aux_write([AuxChange("checkpoint", "orders", b"7")])
    assert store.aux_get("checkpoint", "orders") == b"7"
    store.aux_write([AuxChange("checkpoint", "orders", b"9")])
    assert store.aux_get("checkpoint", "orders") == b"9"
    store.aux_write([AuxChange("checkpoint", "orders", None)])
    assert store.aux_get("checkpoint", "orders") is None
    store.aux_write([AuxChange("checkpoint", "gone", None)])  # deleting nothing is fine


def test_kinds_are_separate_and_ranges_follow_code_point_order(ledger):
    store = ledger.store
    keys = ["a", "B", "b\x1f2", "b\x1f10", "é", "z", "\u4e2d"]
    store.aux_write([AuxChange("model:x", key, key.encode()) for key in keys]
                    + [AuxChange("model:y", "a", b"other")])
    assert [k for k, _ in store.aux_range("model:x")] == sorted(keys)
    assert [k for k, _ in store.aux_range("model:x", reverse=True)] == sorted(keys, reverse=True)
    assert [k for k, _ in store.aux_range("model:x", "b", "c")] == ["b\x1f10", "b\x1f2"]
    assert [k for k, _ in store.aux_range("model:x", "b", reverse=True, limit=2)] == ["\u4e2d", "é"]
    assert store.aux_range("model:x", limit=1) == [("B", b"B")]
    assert store.aux_get("model:y", "a") == b"other"


def test_binary_values_round_trip(ledger):
    value = bytes(range(256)) * 4
    ledger.store.aux_write([AuxChange("snapshot", "k", value)])
    assert ledger.store.aux_get("snapshot", "k") == value


def test_a_failing_write_changes_nothing(ledger):
    store = ledger.store
    store.aux_write([AuxChange("checkpoint", "a", b"1")])
    with pytest.raises(ValidationError) as caught:
        store.aux_write([AuxChange("checkpoint", "a", b"2"), AuxChange("checkpoint", "b", "not bytes")])
    assert caught.value.field == "changes[1].value"
    assert store.aux_get("checkpoint", "a") == b"1"
    assert store.aux_get("checkpoint", "b") is None


def test_aux_records_survive_a_reopen_and_stay_out_of_the_chain(open_ledger):
    from chronik import NewEvent

    first = open_ledger()
    first.append("order:1", [NewEvent("created")])
    first.store.aux_write([AuxChange("checkpoint", "orders", b"1")])
    head = first.head()
    again = open_ledger()
    assert again.store.aux_get("checkpoint", "orders") == b"1"
    assert again.head() == head and again.verify().ok
