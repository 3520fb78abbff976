"""Signing travels with each append (issue 9): no store keeps a signer, so two ledgers over one
store each sign with their own key, and an unsigned append stays unsigned."""

from __future__ import annotations

import uuid

from chronik import codec
from chronik.model import NO_FILTER, Expect
from chronik.stores.base import PendingEvent, StreamBatch


def _batch(stream: str, n: int, event_id: str | None = None) -> list[StreamBatch]:
    pending = PendingEvent("wrote", event_id or str(uuid.uuid4()), "2026-11-22T01:15:09.000000Z",
                           codec.encode_json({"n": n}), b"{}", event_id is not None)
    return [StreamBatch(stream, Expect.ANY, [pending])]


def signer(name: str):
    return lambda digest: f"{name}:{digest[:16]}"


def test_each_append_is_signed_by_the_signer_it_carries(ledger):
    store = ledger.store
    store.append(_batch("order:1", 1), signer=signer("a"))
    store.append(_batch("order:2", 2), signer=signer("b"))
    store.append(_batch("order:1", 3))
    store.append(_batch("order:3", 4) + _batch("order:4", 5), signer=signer("a"))
    events = list(store.read_all(0, None, NO_FILTER))
    assert [event.sig for event in events] == [signer("a")(events[0].hash), signer("b")(events[1].hash),
                                              None, signer("a")(events[3].hash), signer("a")(events[4].hash)]
    assert "signer" not in vars(store) and not hasattr(type(store), "signer")


def test_a_retry_keeps_the_signature_it_was_recorded_with(ledger):
    store = ledger.store
    first = store.append(_batch("order:1", 1, "fixed-id-1"), signer=signer("a"))
    again = store.append(_batch("order:1", 1, "fixed-id-1"), signer=signer("b"))
    assert again == first
    (event,) = store.read_all(0, None, NO_FILTER)
    assert event.sig == signer("a")(event.hash)
