"""Reducers, replay and snapshots through the public API: the three ways to write a reducer,
validation that names the field, snapshot policy, retention, state rules, and snapshots bound to
the chain."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

import chronik
from chronik import NewEvent, NotFound, Reducer, UnhandledEvent, ValidationError, handles
from chronik.derive.replay import time_key
from chronik.derive.snapshots import list_snapshots
from chronik.errors import StorageError


class Cart(Reducer):
    name = "cart"
    version = 1
    snapshot_every = 5

    def initial(self):
        return {"items": [], "status": "open"}

    def on_item_added(self, state, event):
        return {**state, "items": [*state["items"], event.data["sku"]]}

    @handles("checked-out", "order.paid")
    def close(self, state, event):
        return {**state, "status": event.type}


class StrictCart(Cart):
    name = "strict-cart"
    strict = True


@pytest.fixture
def memory() -> chronik.Ledger:
    with chronik.open_ledger("memory:") as ledger:
        yield ledger


def fill(ledger: chronik.Ledger, stream: str = "cart:1", n: int = 12) -> None:
    ledger.append(stream, [NewEvent("item_added", {"sku": f"s{i}"}) for i in range(n)])


def test_a_class_reducer_dispatches_by_convention_and_by_handles(memory):
    memory.append("cart:1", [NewEvent("item_added", {"sku": "a"}), NewEvent("ignored_type", {}),
                             NewEvent("order.paid", {})])
    result = memory.replay("cart:1", Cart)  # a class is instantiated
    assert result.state == {"items": ["a"], "status": "order.paid"}
    assert (result.version, result.position, result.events_applied, result.from_snapshot) == (3, 3, 3, None)
    with pytest.raises(UnhandledEvent, match="ignored_type"):
        memory.replay("cart:1", StrictCart())


def test_kebab_and_dotted_types_find_on_methods(memory):
    class Counter(Reducer):
        name = "counter"

        def initial(self):
            return 0

        def on_item_added(self, state, event):
            return state + 1

    memory.append("cart:1", [NewEvent("item-added"), NewEvent("item.added"), NewEvent("item_added")])
    assert memory.replay("cart:1", Counter()).state == 3


def test_function_and_handler_table_reducers(memory):
    fill(memory, n=3)

    @Reducer.from_function(initial=[], name="skus", version="2024-06")
    def skus(state, event):
        state.append(event.data["sku"])  # mutating is fine: initial() is a fresh copy each time
        return state

    assert memory.replay("cart:1", skus).state == ["s0", "s1", "s2"]
    assert memory.replay("cart:1", skus).state == ["s0", "s1", "s2"]
    table = Reducer.from_handlers({"item_added": lambda s, e: s + 1}, initial=0, name="n")
    assert memory.replay("cart:1", table).state == 3


def test_an_empty_stream_replays_to_the_initial_state(memory):
    result = memory.replay("cart:none", Cart())
    assert (result.state, result.version, result.position, result.events_applied) == (Cart().initial(), 0, 0, 0)
    with pytest.raises(NotFound):
        memory.snapshot("cart:none", Cart())


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"to_version": -1}, "to_version"),
    ({"to_version": True}, "to_version"),
    ({"to_position": "3"}, "to_position"),
    ({"at": "yesterday-ish"}, "at"),
    ({"at": datetime(2026, 1, 1)}, "at"),  # no time zone
    ({"to_version": 3, "at": "2026-01-01T00:00:00Z"}, "at"),
    ({"to_version": 3, "to_position": 3}, "to_position"),
    ({"include_snapshots": "no"}, "include_snapshots"),
])
def test_bad_arguments_name_the_field(memory, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        memory.replay("cart:1", Cart(), **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize(("stream", "reducer", "field"), [
    ("no-colon", Cart(), "stream"),
    ("cart:1", lambda s, e: s, "reducer"),
    ("cart:1", Reducer.from_function(lambda s, e: s, name="has/slash"), "reducer.name"),
    ("cart:1", Reducer.from_function(lambda s, e: s, name="x", snapshot_every=0), "reducer.snapshot_every"),
    ("cart:1", Reducer.from_function(lambda s, e: s, name="x", keep_snapshots=0), "reducer.keep_snapshots"),
])
def test_bad_streams_and_reducers_name_the_field(memory, stream, reducer, field):
    with pytest.raises(ValidationError) as caught:
        memory.replay(stream, reducer)
    assert caught.value.field == field


def test_a_reducer_without_handlers_is_refused(memory):
    class Empty(Reducer):
        pass

    with pytest.raises(ValidationError, match="no handlers"):
        memory.replay("cart:1", Empty())


def test_policy_saves_snapshots_and_keeps_the_newest_three(memory):
    cart = Cart()
    for _ in range(6):
        fill(memory, n=5)
        assert memory.replay("cart:1", cart).snapshot_saved is not None
    statuses = list_snapshots(memory.store, cart, "cart:1")
    assert [s.snapshot.version for s in statuses] == [30, 25, 20]
    assert all(s.status == "ok" for s in statuses)
    result = memory.replay("cart:1", cart)
    assert (result.from_snapshot, result.events_applied, result.snapshot_saved) == (30, 0, None)
    # No snapshot use or writes with include_snapshots=False.
    fill(memory, n=10)
    plain = memory.replay("cart:1", cart, include_snapshots=False)
    assert plain.from_snapshot is None and plain.snapshot_saved is None
    assert plain.state == memory.replay("cart:1", cart).state


def test_time_travel_does_not_save_snapshots_but_prefixes_may(memory):
    fill(memory, n=12)
    cart = Cart()
    assert memory.replay("cart:1", cart, at="2999-01-01T00:00:00Z").snapshot_saved is None
    assert memory.replay("cart:1", cart, to_version=7).snapshot_saved == 7


def test_states_that_json_cannot_return_are_refused_by_name(memory):
    fill(memory, n=2)
    for initial, path in ([{"pair": (1, 2)}, "state.pair"], [{"s": {1}}, "state.s"], [{1: "a"}, "state.1"],
                          [{"x": float("nan")}, "state.x"]):
        reducer = Reducer.from_function(lambda s, e: s, initial=initial, name="odd", snapshot_every=1)
        with pytest.raises(ValidationError) as caught:
            memory.replay("cart:1", reducer)
        assert caught.value.field == path
        assert memory.replay("cart:1", reducer, include_snapshots=False).version == 2


def test_struct_states_snapshot_with_state_type(memory):
    class Totals(msgspec.Struct):
        count: int = 0
        skus: list[str] = []

    class Typed(Reducer):
        name, snapshot_every, state_type = "typed", 2, Totals

        def initial(self):
            return Totals()

        def on_item_added(self, state, event):
            return Totals(state.count + 1, [*state.skus, event.data["sku"]])

    fill(memory, n=4)
    assert memory.replay("cart:1", Typed()).snapshot_saved == 4
    fill(memory, n=1)
    result = memory.replay("cart:1", Typed())
    assert result.from_snapshot == 4 and isinstance(result.state, Totals) and result.state.count == 5


def test_a_snapshot_is_bound_to_the_chain(memory, caplog):
    """A snapshot whose recorded event hash is not the ledger's (another ledger, a rechained
    import) is ignored with a warning."""
    fill(memory, n=10)
    cart = Cart()
    memory.snapshot("cart:1", cart)
    with chronik.open_ledger("memory:") as other:
        fill(other, n=10)  # same stream, same data, different ids and times: different hashes
        key, value = memory.store.aux_range("snapshot")[0]
        from chronik.stores.base import AuxChange

        other.store.aux_write([AuxChange("snapshot", key, value)])
        with caplog.at_level(logging.WARNING, logger="chronik.derive"):
            result = other.replay("cart:1", cart)
        assert result.from_snapshot is None and "does not match the ledger" in result.warnings[0]
        assert "does not match the ledger" in caplog.text
        assert result.state == memory.replay("cart:1", cart).state


def test_a_store_that_cannot_save_costs_only_the_snapshot(memory, monkeypatch):
    fill(memory, n=10)

    def refuse(changes):
        raise StorageError("read-only")

    monkeypatch.setattr(memory.store, "aux_write", refuse)
    result = memory.replay("cart:1", Cart())
    assert result.version == 10 and result.snapshot_saved is None
    assert "read-only" in result.warnings[0]


def test_snapshot_of_an_old_version_beyond_retention_is_refused(memory):
    fill(memory, n=20)
    cart = Cart()
    for version in (20, 19, 18):
        memory.snapshot("cart:1", cart, to_version=version)
    with pytest.raises(ValidationError) as caught:
        memory.snapshot("cart:1", cart, to_version=5)
    assert caught.value.field == "to_version"


def test_event_times_compare_as_instants_whatever_their_text():
    assert time_key("2026-11-22T01:15:09.123456Z") == "2026-11-22T01:15:09.123456Z"
    assert time_key("2026-11-22T02:15:09.1234567+01:00") == "2026-11-22T01:15:09.123456Z"
    assert time_key("2026-11-22T01:15:09Z") < time_key("2026-11-22T01:15:09.000001Z")


def test_at_uses_a_snapshot_only_when_every_event_in_it_is_at_or_before_the_time():
    moments = iter([datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in (0, 10, 5, 20)])
    with chronik.open_ledger("memory:", clock=lambda: next(moments)) as ledger:
        for index in range(4):
            ledger.append("cart:1", [NewEvent("item_added", {"sku": f"s{index}"})])
        cart = Cart()
        ledger.snapshot("cart:1", cart, to_version=3)  # covers times up to 00:10
        early = ledger.replay("cart:1", cart, at="2026-01-01T00:07:00Z")
        assert early.state["items"] == ["s0", "s2"] and early.version == 3 and early.from_snapshot is None
        later = ledger.replay("cart:1", cart, at="2026-01-01T00:15:00+00:00")
        assert later.state["items"] == ["s0", "s1", "s2"] and later.from_snapshot == 3
