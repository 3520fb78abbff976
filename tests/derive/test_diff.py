"""Ledger.diff: the structural diff of two states and the events behind each change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import chronik
from chronik import NewEvent, Reducer, ValidationError
from chronik.derive import diff as diff_module
from chronik.derive.diff import path_text, structural_diff
from chronik.errors import LimitExceeded


class Order(Reducer):
    name = "order"

    def initial(self):
        return {"items": [], "total": 0, "status": "new"}

    def on_item_added(self, state, event):
        state["items"].append({"sku": event.data["sku"], "qty": event.data["qty"]})  # mutates in place
        state["total"] += event.data["qty"]
        return state

    def on_qty_changed(self, state, event):
        state["items"][event.data["index"]]["qty"] = event.data["qty"]
        return state

    def on_paid(self, state, event):
        return {**state, "status": "paid", "paid_by": event.data["by"]}


@pytest.fixture
def ledger():
    moments = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(1000))
    with chronik.open_ledger("memory:", clock=lambda: next(moments)) as ledger:
        ledger.append("order:1", [NewEvent("item_added", {"sku": "A", "qty": 1}),
                                  NewEvent("item_added", {"sku": "B", "qty": 2})])
        ledger.append("other:1", [NewEvent("noise", {})])
        ledger.append("order:1", [NewEvent("qty_changed", {"index": 0, "qty": 5}),
                                  NewEvent("paid", {"by": "card"})])
        yield ledger


def by_path(result):
    return {change.path: change for change in result.changes}


def test_diff_lists_changes_with_the_events_that_made_them(ledger):
    result = ledger.diff("order:1", Order(), 2, None)
    changes = by_path(result)
    assert set(changes) == {"$.items[0].qty", "$.status", "$.paid_by"}
    qty = changes["$.items[0].qty"]
    assert (qty.kind, qty.old, qty.new, qty.keys) == ("changed", 1, 5, ["items", 0, "qty"])
    assert [(c.version, c.type, c.position) for c in qty.events] == [(3, "qty_changed", 4)]
    assert changes["$.paid_by"].kind == "added" and changes["$.paid_by"].new == "card"
    assert [c.version for c in changes["$.status"].events] == [4]
    assert [c.version for c in result.events] == [3, 4]
    assert (result.a.version, result.b.version, result.b.position) == (2, 4, 5)


def test_from_the_initial_state_whole_subtrees_are_attributed(ledger):
    result = ledger.diff("order:1", Order(), 0, 2)
    changes = by_path(result)
    assert changes["$.items[0]"].kind == "added"
    assert [c.version for c in changes["$.items[0]"].events] == [1]
    assert [c.version for c in changes["$.total"].events] == [1, 2]


def test_going_backwards_reverses_old_and_new(ledger):
    result = ledger.diff("order:1", Order(), 4, 2)
    assert by_path(result)["$.paid_by"].kind == "removed"
    assert all(cause.side == "a" for cause in result.events)


@pytest.mark.parametrize(("a", "b"), [
    (2, "latest"), ("2", None), ({"version": 2}, "version:4"), ({"position": 2}, {"position": 5}),
    ("at:2026-01-01T00:01:30Z", "2026-01-01T00:10:00Z"), ({"at": datetime(2026, 1, 1, 0, 1, tzinfo=UTC)}, 4),
])
def test_points_in_every_form_agree(ledger, a, b):
    assert set(by_path(ledger.diff("order:1", Order(), a, b))) == {"$.items[0].qty", "$.status", "$.paid_by"}


@pytest.mark.parametrize(("point", "field"), [
    (-1, "a.to_version"), ({"when": 3}, "a"), ({"version": 1, "at": "x"}, "a"), ("position:x", "a.position"),
    ("not a time", "a.at"), (True, "a"), (1.5, "a"),
])
def test_bad_points_name_the_argument(ledger, point, field):
    with pytest.raises(ValidationError) as caught:
        ledger.diff("order:1", Order(), point, None)
    assert caught.value.field == field


def test_no_change_is_an_empty_diff(ledger):
    result = ledger.diff("order:1", Order(), 4, 4)
    assert result.changes == [] and result.events == [] and not result.changed


def test_structural_diff_by_key_and_index():
    changes, truncated = structural_diff({"a": [1, 2, 3], "b": {"c": 1}, "odd key": 1, "t": 1},
                                         {"a": [1, 9], "b": {"c": 1, "d": None}, "t": True})
    assert not truncated
    assert [(c.path, c.kind, c.old, c.new) for c in changes] == [
        ("$.a[1]", "changed", 2, 9), ("$.a[2]", "removed", 3, None), ("$.b.d", "added", None, None),
        ('$["odd key"]', "removed", 1, None), ("$.t", "changed", 1, True)]
    assert path_text(()) == "$"
    assert structural_diff(1, 2)[0][0].path == "$"
    assert structural_diff(list(range(50)), [], limit=10) [1] is True


def test_the_events_diffed_are_limited(ledger, monkeypatch):
    monkeypatch.setattr(diff_module, "MAX_DIFF_EVENTS", 2)
    ledger.diff("order:1", Order(), 2, 4)
    with pytest.raises(LimitExceeded) as caught:
        ledger.diff("order:1", Order(), 0, 4)
    assert caught.value.limit_name == "max_diff_events"
