"""Contract: reading. read_stream, read_all with filters, query pages and cursors, streams, head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronik import Expect, Filter, Head, NewEvent, Page, StreamInfo, ValidationError
from chronik.codec import GENESIS_HASH


def ev(type_: str = "happened", **data) -> NewEvent:
    return NewEvent(type_, data)


@pytest.fixture
def shop(open_ledger, clock):
    """Ten events over four streams in two categories; the fake clock ticks 1 s per append."""
    ledger = open_ledger(clock=clock)
    ledger.append("order:1", [ev("created", item="Apple"), ev("paid", amount=3)])       # 1, 2
    ledger.append("order:2", [ev("created", item="Pear")])                                # 3
    ledger.append("stock:apple", [NewEvent("reserved", {"n": 1}, meta={"by": "ÄLICE"})])  # 4
    ledger.append("order:1", [ev("shipped", carrier="DHL")])                              # 5
    ledger.append("stock:pear", [ev("reserved", n=2)])                                    # 6
    ledger.append("order:2", [ev("cancelled", reason="Changed MIND")])                    # 7
    ledger.append("order:10", [ev("created", item="Plum")])                               # 8
    ledger.append("stock:apple", [ev("released", n=1)])                                   # 9
    ledger.append("order:1", [ev("delivered")])                                           # 10
    return ledger


def positions(events) -> list[int]:
    return [event.position for event in events]


T0 = datetime(2026, 11, 22, 1, 15, 9, 123456, tzinfo=UTC)


# ---------------------------------------------------------------- read_stream


def test_read_stream_forward(shop):
    events = list(shop.read_stream("order:1"))
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert positions(events) == [1, 2, 5, 10]
    assert [e.type for e in events] == ["created", "paid", "shipped", "delivered"]


def test_read_stream_backward(shop):
    events = list(shop.read_stream("order:1", backwards=True))
    assert [e.version for e in events] == [4, 3, 2, 1]


@pytest.mark.parametrize("start, end, backwards, limit, expected", [
    (2, None, False, None, [2, 3, 4]),
    (2, 3, False, None, [2, 3]),
    (1, 1, False, None, [1]),
    (3, 2, False, None, []),
    (5, None, False, None, []),
    (1, 100, False, None, [1, 2, 3, 4]),
    (1, 0, False, None, []),
    (1, None, False, 2, [1, 2]),
    (1, None, False, 0, []),
    (2, None, False, 100, [2, 3, 4]),
    (1, None, True, 2, [4, 3]),
    (2, 3, True, None, [3, 2]),
    (2, 4, True, 1, [4]),
    (1, 3, True, 10, [3, 2, 1]),
])
def test_read_stream_ranges(shop, start, end, backwards, limit, expected):
    events = shop.read_stream("order:1", start=start, end=end, backwards=backwards, limit=limit)
    assert [e.version for e in events] == expected


def test_read_stream_of_missing_stream_is_empty(shop):
    assert list(shop.read_stream("order:404")) == []
    assert list(shop.read_stream("order:404", backwards=True)) == []


def test_read_stream_does_not_mix_similar_names(shop):
    assert [e.stream for e in shop.read_stream("order:10")] == ["order:10"]


def test_read_stream_events_are_complete(shop):
    event = next(shop.read_stream("stock:apple"))
    assert event.meta == {"by": "ÄLICE"}
    assert event.data == {"n": 1}
    assert event.time == "2026-11-22T01:15:11.123456Z"
    assert len(event.hash) == 64 and len(event.prev) == 64
    assert event.sig is None


# ---------------------------------------------------------------- read_all


def test_read_all_in_position_order(shop):
    assert positions(shop.read_all()) == list(range(1, 11))


@pytest.mark.parametrize("after, limit, expected", [
    (0, None, list(range(1, 11))),
    (3, None, list(range(4, 11))),
    (9, None, [10]),
    (10, None, []),
    (50, None, []),
    (0, 3, [1, 2, 3]),
    (4, 2, [5, 6]),
    (0, 0, []),
    (8, 10, [9, 10]),
])
def test_read_all_after_and_limit(shop, after, limit, expected):
    assert positions(shop.read_all(after=after, limit=limit)) == expected


FILTER_CASES = {
    "streams": (Filter(streams=["order:1"]), [1, 2, 5, 10]),
    "two_streams": (Filter(streams=["order:2", "stock:pear"]), [3, 6, 7]),
    "stream_as_string": (Filter(streams="order:10"), [8]),
    "missing_stream": (Filter(streams=["order:404"]), []),
    "category": (Filter(categories=["stock"]), [4, 6, 9]),
    "two_categories": (Filter(categories=["stock", "order"]), list(range(1, 11))),
    "category_prefix_is_not_a_category": (Filter(categories=["orde"]), []),
    "types": (Filter(types=["created"]), [1, 3, 8]),
    "two_types": (Filter(types=["reserved", "released"]), [4, 6, 9]),
    "since": (Filter(since=T0 + timedelta(seconds=6)), [8, 9, 10]),
    "since_text": (Filter(since="2026-11-22T01:15:15.123456Z"), [8, 9, 10]),
    "until": (Filter(until=T0 + timedelta(seconds=1)), [1, 2, 3]),
    "since_until_inclusive": (Filter(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=3)),
                              [4, 5]),
    "since_other_zone": (Filter(since="2026-11-22T02:15:15.123456+01:00"), [8, 9, 10]),
    "text_in_data_case_insensitive": (Filter(text="apple"), [1]),
    "text_does_not_search_stream_names": (Filter(text="pear"), [3]),
    "text_upper_query": (Filter(text="MIND"), [7]),
    "text_in_type": (Filter(text="CANCEL"), [7]),
    "text_in_meta_unicode": (Filter(text="älice"), [4]),
    "text_in_key": (Filter(text="carrier"), [5]),
    "text_no_match": (Filter(text="zebra"), []),
    "empty_text_matches_all": (Filter(text=""), list(range(1, 11))),
    "and_of_criteria": (Filter(categories=["order"], types=["created"], text="p"), [1, 3, 8]),
    "and_excludes": (Filter(streams=["order:1"], types=["created", "delivered"],
                            since=T0 + timedelta(seconds=1)), [10]),
    "empty_lists_match_all": (Filter(streams=[], types=[]), list(range(1, 11))),
}


@pytest.mark.parametrize("name", FILTER_CASES)
def test_read_all_filters(shop, name):
    filter, expected = FILTER_CASES[name]
    assert positions(shop.read_all(filter=filter)) == expected


@pytest.mark.parametrize("name", FILTER_CASES)
def test_query_total_matches_filter(shop, name):
    filter, expected = FILTER_CASES[name]
    page = shop.query(filter, limit=1000)
    assert positions(page.events) == expected
    assert page.total == len(expected)
    assert page.has_more is False and page.next_cursor is None


def test_read_all_filter_with_after_and_limit(shop):
    assert positions(shop.read_all(after=2, limit=2, filter=Filter(categories=["order"]))) == [3, 5]


def test_read_all_is_bounded_by_the_head_at_call_time(shop):
    iterator = shop.read_all()
    first = next(iterator)
    shop.append("late:1", [ev()])
    rest = list(iterator)
    assert positions([first, *rest]) in (list(range(1, 11)), list(range(1, 12)))
    assert positions(shop.read_all(after=10)) == [11]


# ---------------------------------------------------------------- query and cursors


def test_query_pages_through_everything(shop):
    seen = []
    page = shop.query(limit=3)
    pages = 1
    while True:
        assert isinstance(page, Page)
        assert page.total == 10
        seen += positions(page.events)
        if not page.has_more:
            assert page.next_cursor is None
            break
        assert len(page.events) == 3
        page = shop.query(limit=3, cursor=page.next_cursor)
        pages += 1
    assert seen == list(range(1, 11))
    assert pages == 4


def test_query_exact_multiple_of_page_size_ends_cleanly(shop):
    first = shop.query(limit=5)
    assert first.has_more
    second = shop.query(limit=5, cursor=first.next_cursor)
    assert positions(second.events) == [6, 7, 8, 9, 10]
    assert second.has_more is False and second.next_cursor is None


def test_query_with_filter_pages(shop):
    only = Filter(categories=["order"])
    page1 = shop.query(only, limit=4)
    assert positions(page1.events) == [1, 2, 3, 5]
    assert page1.total == 7
    page2 = shop.query(only, limit=4, cursor=page1.next_cursor)
    assert positions(page2.events) == [7, 8, 10]
    assert not page2.has_more


def test_query_cursor_is_stable_while_others_append(shop):
    only = Filter(categories=["order"])
    seen = []
    page = shop.query(only, limit=2)
    seen += positions(page.events)
    extra = 0
    while page.has_more:
        # Appends between pages, matching and not matching the filter.
        shop.append(f"order:new{extra}", [ev("created")])
        shop.append("stock:apple", [ev("reserved")])
        extra += 1
        page = shop.query(only, limit=2, cursor=page.next_cursor)
        seen += positions(page.events)
        if extra > 20:
            shop.append("stop:1", [ev()])
            break
    assert len(seen) == len(set(seen)), "a page repeated an event"
    assert seen == sorted(seen)
    everything = positions(shop.read_all(filter=only))
    assert seen == everything[:len(seen)], "a page skipped an event"


def test_query_cursor_survives_reopen(open_ledger, shop):
    page = shop.query(Filter(types=["created"]), limit=1)
    again = open_ledger()
    rest = again.query(Filter(types=["created"]), limit=10, cursor=page.next_cursor)
    assert positions(rest.events) == [3, 8]


def test_query_cursor_from_another_filter_is_rejected(shop):
    page = shop.query(Filter(types=["created"]), limit=1)
    with pytest.raises(ValidationError) as caught:
        shop.query(Filter(types=["paid"]), limit=1, cursor=page.next_cursor)
    assert caught.value.field == "cursor"
    with pytest.raises(ValidationError):
        shop.query(None, limit=1, cursor=page.next_cursor)


@pytest.mark.parametrize("cursor", ["", "garbage", "!!!", "MS4xLjA", "é", "x" * 500, 17])
def test_query_rejects_a_forged_cursor(shop, cursor):
    with pytest.raises(ValidationError) as caught:
        shop.query(limit=1, cursor=cursor)
    assert caught.value.field == "cursor"


def test_query_same_filter_in_another_spelling_keeps_the_cursor(shop):
    page = shop.query(Filter(types=["paid", "created"]), limit=1)
    rest = shop.query(Filter(types=["created", "paid", "created"]), limit=10, cursor=page.next_cursor)
    assert positions(rest.events) == [2, 3, 8]


def test_query_on_empty_ledger(ledger):
    page = ledger.query()
    assert page == Page([], 0, False, None)


# ---------------------------------------------------------------- streams and head


def test_streams_lists_every_stream_sorted(shop):
    infos = shop.streams()
    assert [i.stream for i in infos] == ["order:1", "order:10", "order:2", "stock:apple", "stock:pear"]
    by_name = {i.stream: i for i in infos}
    assert by_name["order:1"] == StreamInfo("order:1", 4, 10, "delivered", "2026-11-22T01:15:17.123456Z")
    assert by_name["stock:apple"] == StreamInfo("stock:apple", 2, 9, "released",
                                                "2026-11-22T01:15:16.123456Z")


def test_streams_by_category(shop):
    assert [i.stream for i in shop.streams("stock")] == ["stock:apple", "stock:pear"]
    assert [i.stream for i in shop.streams(category="order")] == ["order:1", "order:10", "order:2"]
    assert shop.streams("ord") == []
    assert shop.streams("nothing") == []


def test_streams_category_does_not_match_a_longer_category(ledger):
    ledger.append("order:1", [ev()])
    ledger.append("order-line:1", [ev()])
    ledger.append("order.x:1", [ev()])
    ledger.append("orders:1", [ev()])
    assert [i.stream for i in ledger.streams("order")] == ["order:1"]
    assert positions(ledger.read_all(filter=Filter(categories=["order"]))) == [1]


def test_stream_ids_may_contain_colons(ledger):
    ledger.append("channel:0xab:cd", [ev()])
    assert [i.stream for i in ledger.streams("channel")] == ["channel:0xab:cd"]
    assert [e.category for e in ledger.read_stream("channel:0xab:cd")] == ["channel"]


def test_head_of_empty_ledger(ledger):
    assert ledger.head() == Head(0, GENESIS_HASH)
    assert ledger.streams() == []
    assert list(ledger.read_all()) == []


def test_head_follows_appends(shop):
    last = list(shop.read_all())[-1]
    assert shop.head() == Head(10, last.hash)
    result = shop.append("order:3", [ev(), ev()])
    assert shop.head().position == result.last_position == 12
    assert shop.head().hash == next(shop.read_stream("order:3", backwards=True)).hash


def test_append_expect_exists_then_streams_version(shop):
    shop.append("order:2", [ev("refunded")], expect=Expect.EXISTS)
    assert {i.stream: i.version for i in shop.streams("order")}["order:2"] == 3


# ---------------------------------------------------------------- follow


def test_follow_yields_existing_then_stops(shop):
    seen = []
    for event in shop.follow(after=7, poll_interval_ms=1, stop=lambda: len(seen) >= 3):
        seen.append(event.position)
    assert seen == [8, 9, 10]


def test_follow_with_filter_advances_past_non_matching(shop):
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    seen = [e.position for e in shop.follow(filter=Filter(types=["paid"]), poll_interval_ms=1, stop=stop)]
    assert seen == [2]
