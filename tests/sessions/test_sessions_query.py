"""The query, the same on every store: types (and aliases), inclusive date bounds in any offset
(no zone: UTC), a case-insensitive keyword over type, data and metadata, lineage, limit clamped
to 1..1000, offset and cursor, ascending by sequence."""

from __future__ import annotations

import pytest
from session_testing import STORE_KINDS, Clock, store_url

import chronik
from chronik.domains.sessions import service
from chronik.errors import ValidationError
from chronik.model import Filter
from chronik.stores import open_store

# The clock starts at 2026-01-28T09:00:00Z and moves one second per append, so event k
# (sequence_num k) is stamped 09:00:(k-1).


@pytest.fixture(scope="module", params=STORE_KINDS)
def recorded(request, tmp_path_factory):
    """One recorded ledger per store, shared by this module's tests (which only read)."""
    directory = tmp_path_factory.mktemp(request.param)
    with chronik.Ledger(open_store(store_url(request.param, directory)), clock=Clock()) as ledger:
        yield from _recorded(ledger)


def _recorded(ledger):
    instance = service.register(ledger, "odin").instance_id  # 1 @ 09:00:00
    other = service.register(ledger, "thor").instance_id  # (other stream) @ 09:00:01
    emits = [
        ("epic_started", {"epic_id": "epic-003", "feature_name": "Authentication-OAuth"}, None),  # 2 @ :02
        ("test_passed", {"epic_id": "epic-003", "passed_count": 5, "failed_count": 3}, None),  # 3 @ :03
        ("deployment_completed", {"service": "supervisor-mcp", "health_status": "healthy"}, None),  # 4 @ :04
        ("tool_use", {"tool_name": "grep"}, {"root_uuid": "root-A", "parent_uuid": "p-1", "depth": 1}),  # 5
        ("tool_use", {"tool_name": "sed"}, {"root_uuid": "root-A", "parent_uuid": "p-2", "depth": 2}),  # 6
        ("error", {"message": "token refresh failed"}, {"tag": "CORS"}),  # 7 @ :07
    ]
    for event_type, data, meta in emits:
        service.emit(ledger, instance, event_type, data, meta)
    service.emit(ledger, other, "epic_started", {"epic_id": "epic-003", "feature_name": "oauth"})
    yield ledger, instance, other


def seqs(result):
    return [event["sequence_num"] for event in result.events]


def test_all_events_ascending_with_the_real_systems_fields(recorded):
    ledger, instance, _ = recorded
    result = service.query(ledger, instance)
    assert seqs(result) == [1, 2, 3, 4, 5, 6, 7] and result.total_count == 7 and not result.has_more
    first = result.events[1]
    assert list(first)[:6] == ["event_id", "event_type", "sequence_num", "timestamp", "event_data", "metadata"]
    assert first["timestamp"] == "2026-01-28T09:00:02.000000Z"
    lineage = result.events[4]
    assert (lineage["root_uuid"], lineage["parent_uuid"], lineage["depth"]) == ("root-A", "p-1", 1)
    assert lineage["metadata"] == {}


def test_by_type_list_and_alias(recorded):
    ledger, instance, _ = recorded
    assert seqs(service.query(ledger, instance, event_type="tool_use")) == [5, 6]
    assert seqs(service.query(ledger, instance, event_type=["test_passed", "error"])) == [3, 7]
    assert seqs(service.query(ledger, instance, event_type="deployment_done")) == [4]


@pytest.mark.parametrize("start, end, expected", [
    ("2026-01-28T09:00:03Z", "2026-01-28T09:00:05Z", [3, 4, 5]),  # inclusive both ends
    ("2026-01-28T10:00:03+01:00", "2026-01-28T04:00:05-05:00", [3, 4, 5]),  # any offset
    ("2026-01-28T09:00:03", "2026-01-28 09:00:04", [3, 4]),  # no zone: UTC
    ("2026-01-28", None, [1, 2, 3, 4, 5, 6, 7]),
    (None, "2026-01-28", [1, 2, 3, 4, 5, 6, 7]),  # a date as end: the whole day
    (None, "2026-01-27", []),
    ("2026-01-28T09:00:03.500Z", None, [4, 5, 6, 7]),
])
def test_date_bounds(recorded, start, end, expected):
    ledger, instance, _ = recorded
    assert seqs(service.query(ledger, instance, start_date=start, end_date=end)) == expected


@pytest.mark.parametrize("keyword, expected", [
    ("oauth", [2]),  # data, any case
    ("TOKEN REFRESH", [7]),
    ("cors", [7]),  # metadata
    ("DEPLOYMENT_COMPLETED", [4]),  # the type
    ("root-a", [5, 6]),  # lineage lives in metadata
    ("nothing like this", []),
])
def test_keyword_is_case_insensitive_over_type_data_and_metadata(recorded, keyword, expected):
    ledger, instance, _ = recorded
    assert seqs(service.query(ledger, instance, keyword=keyword)) == expected


def test_type_date_and_keyword_together(recorded):
    ledger, instance, _ = recorded
    result = service.query(ledger, instance, event_type=["tool_use", "error"], start_date="2026-01-28T09:00:06Z",
                           keyword="sed")
    assert seqs(result) == [6] and result.total_count == 1


def test_lineage_filters(recorded):
    ledger, instance, _ = recorded
    assert seqs(service.query(ledger, instance, lineage={"root_uuid": "root-A"})) == [5, 6]
    assert seqs(service.query(ledger, instance, lineage={"parent_uuid": "p-2"})) == [6]
    assert seqs(service.query(ledger, instance, lineage={"depth": 1}, limit=1)) == [5]
    with pytest.raises(ValidationError) as caught:
        service.query(ledger, instance, lineage={"depth": "1"})
    assert caught.value.field == "depth"


def test_limit_is_clamped_and_pages_by_offset_and_cursor(recorded):
    ledger, instance, _ = recorded
    assert seqs(service.query(ledger, instance, limit=0)) == [1]
    assert len(service.query(ledger, instance, limit=5000).events) == 7
    page = service.query(ledger, instance, limit=3, offset=2)
    assert seqs(page) == [3, 4, 5] and page.total_count == 7 and page.has_more
    last = service.query(ledger, instance, limit=3, offset=6)
    assert seqs(last) == [7] and not last.has_more
    first = service.query(ledger, instance, limit=4)
    assert first.has_more and first.next_cursor
    rest = service.query(ledger, instance, limit=4, cursor=first.next_cursor)
    assert seqs(first) + seqs(rest) == [1, 2, 3, 4, 5, 6, 7] and not rest.has_more


def test_an_instance_never_sees_another_ones_events(recorded):
    ledger, instance, other = recorded
    assert seqs(service.query(ledger, other)) == [1, 2]
    assert all(e["event_data"].get("feature_name") != "oauth" for e in service.query(ledger, instance).events)


@pytest.mark.parametrize("kwargs, field", [
    ({"start_date": "yesterday-ish"}, "start_date"),
    ({"end_date": "2026-13-45"}, "end_date"),
    ({"start_date": 20260128}, "start_date"),
    ({"start_date": "2026-01-29", "end_date": "2026-01-28"}, "end_date"),
    ({"limit": "ten"}, "limit"),
    ({"offset": -1}, "offset"),
    ({"event_type": [1]}, "event_type"),
    ({"keyword": "x" * 201}, "keyword"),
    ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
])
def test_bad_query_input_names_the_field(recorded, kwargs, field):
    ledger, instance, _ = recorded
    with pytest.raises(ValidationError) as caught:
        service.query(ledger, instance, **kwargs)
    assert caught.value.field == field


def test_querying_an_unknown_instance_is_an_error(recorded):
    ledger, _, _ = recorded
    with pytest.raises(ValidationError) as caught:
        service.query(ledger, "ghost")
    assert caught.value.field == "instance_id"


@pytest.mark.parametrize("keyword", ["oauth", "TOKEN REFRESH", "cors", "root-a", "EPIC-003", "nothing like this"])
def test_the_keyword_matches_what_the_ledgers_text_filter_matches(recorded, keyword):
    ledger, instance, _ = recorded
    ours = [e["event_id"] for e in service.query(ledger, instance, keyword=keyword).events]
    theirs = [e.id for e in ledger.query(Filter(streams=[f"instance:{instance}"], text=keyword)).events]
    assert ours == theirs


def test_cursor_pages_of_a_filtered_query(recorded):
    ledger, instance, _ = recorded
    first = service.query(ledger, instance, keyword="e", limit=2)
    assert first.has_more and first.total_count == 7
    second = service.query(ledger, instance, keyword="e", limit=2, cursor=first.next_cursor)
    assert seqs(second)[0] > seqs(first)[-1] and second.total_count == 7
    with pytest.raises(ValidationError) as caught:
        service.query(ledger, instance, keyword="f", limit=2, cursor=first.next_cursor)
    assert caught.value.field == "cursor" and "different query" in caught.value.problem
