"""Emitting: what the real system advertised and never checked is enforced here. Every refusal
names the field and the fix, and writes nothing."""

from __future__ import annotations

import pytest

import chronik
from chronik.domains.sessions import service
from chronik.domains.sessions.settings import Settings
from chronik.errors import LimitExceeded, ValidationError

EPIC = {"epic_id": "epic-003", "feature_name": "authentication-oauth"}


@pytest.fixture
def instance(ledger) -> str:
    return service.register(ledger, "odin").instance_id


def refused(ledger, *args, **kwargs) -> ValidationError:
    before = ledger.head().position
    with pytest.raises(ValidationError) as caught:
        service.emit(ledger, *args, **kwargs)
    assert ledger.head().position == before, "a refused emit wrote something"
    return caught.value


def test_an_emit_returns_the_sequence_number_id_and_time(ledger, instance):
    first = service.emit(ledger, instance, "epic_started", EPIC)
    second = service.emit(ledger, instance, "epic_completed", {"epic_id": "epic-003", "duration_hours": 58.5})
    assert (first.sequence_num, second.sequence_num) == (2, 3)
    assert first.event_id != second.event_id and first.timestamp.endswith("Z")
    recorded = list(ledger.read_stream(f"instance:{instance}"))
    assert [e.id for e in recorded[1:]] == [first.event_id, second.event_id]
    assert recorded[1].data == EPIC


@pytest.mark.parametrize("event_type, data, field", [
    ("epic_started", {"epic_id": "epic-003"}, "event_data.feature_name"),
    ("epic_started", {"feature_name": "x"}, "event_data.epic_id"),
    ("epic_started", {"epic_id": None, "feature_name": "x"}, "event_data.epic_id"),
    ("test_passed", {"epic_id": "e"}, "event_data.passed_count"),
    ("deployment_completed", {"service": "api"}, "event_data.health_status"),
    ("commit_created", {}, "event_data.commit_sha"),
])
def test_missing_required_fields_are_refused(ledger, instance, event_type, data, field):
    error = refused(ledger, instance, event_type, data)
    assert error.field == field and "required" in error.problem


@pytest.mark.parametrize("event_type, data, field", [
    ("epic_started", {**EPIC, "epic_id": 3}, "event_data.epic_id"),
    ("epic_started", {**EPIC, "estimated_hours": "sixty"}, "event_data.estimated_hours"),
    ("epic_started", {**EPIC, "acceptance_criteria_count": 1.5}, "event_data.acceptance_criteria_count"),
    ("epic_started", {**EPIC, "acceptance_criteria_count": True}, "event_data.acceptance_criteria_count"),
    ("epic_completed", {"epic_id": "e", "issues_encountered": ["a", 2]}, "event_data.issues_encountered"),
    ("epic_completed", {"epic_id": "e", "validation_confidence": 1.5}, "event_data.validation_confidence"),
    ("test_passed", {"epic_id": "e", "passed_count": 1, "test_type": "smoke"}, "event_data.test_type"),
    ("test_passed", {"epic_id": "e", "passed_count": -1}, "event_data.passed_count"),
    ("deployment_completed", {"service": "a", "health_status": "ok", "port": 70000}, "event_data.port"),
    ("tool_result", {"tool_name": "x", "is_error": "no"}, "event_data.is_error"),
])
def test_wrong_field_types_and_bounds_are_refused(ledger, instance, event_type, data, field):
    assert refused(ledger, instance, event_type, data).field == field


def test_an_unknown_type_is_refused_with_the_known_ones(ledger, instance):
    error = refused(ledger, instance, "epic_begun", EPIC)
    assert error.field == "event_type" and "epic_started" in error.fix and "prd_updated" in error.fix


@pytest.mark.parametrize("data, metadata, field", [
    ("not an object", None, "event_data"),
    ([1, 2], None, "event_data"),
    (EPIC, "tags", "metadata"),
])
def test_data_and_metadata_must_be_objects(ledger, instance, data, metadata, field):
    assert refused(ledger, instance, "epic_started", data, metadata).field == field


def test_oversized_data_is_refused(ledger, instance):
    with pytest.raises(LimitExceeded) as caught:
        service.emit(ledger, instance, "checkpoint_created", {"checkpoint_id": "c1", "summary": "x" * 70_000})
    assert caught.value.field == "event_data" and caught.value.limit == 65_536
    assert ledger.head().position == 1
    small = Settings(max_event_bytes=1000)
    with pytest.raises(LimitExceeded):
        service.emit(ledger, instance, "checkpoint_created", {"checkpoint_id": "c1", "summary": "x" * 1000},
                     settings=small)


def test_emitting_to_an_unknown_instance_says_how_to_register(ledger):
    error = refused(ledger, "ghost-PS-000000", "epic_started", EPIC)
    assert error.field == "instance_id" and "register" in error.fix
    assert refused(ledger, "no spaces allowed", "epic_started", EPIC).field == "instance_id"


def test_a_closed_instance_takes_no_more_events(ledger, instance):
    service.close(ledger, instance, "done")
    error = refused(ledger, instance, "epic_started", EPIC)
    assert error.field == "instance_id" and "closed" in error.problem


@pytest.mark.parametrize("event_type", ["instance_registered", "instance_stale", "instance_closed"])
def test_types_that_operations_record_are_refused(ledger, instance, event_type):
    error = refused(ledger, instance, event_type, {"project": "odin", "silent_seconds": 1, "last_activity": "x",
                                                   "timeout_seconds": 1})
    assert error.field == "event_type" and "recorded by" in error.problem


def test_an_emitted_heartbeat_is_a_heartbeat():
    with chronik.open_ledger("memory:") as ledger:  # the system clock: coalescing compares with now
        instance = service.register(ledger, "odin").instance_id
        first = service.emit(ledger, instance, "instance_heartbeat", {})
        again = service.emit(ledger, instance, "instance_heartbeat", {})
    assert first.recorded and not again.recorded and again.sequence_num == first.sequence_num


def test_the_plans_aliases_are_recorded_under_the_canonical_names(ledger, instance):
    done = service.emit(ledger, instance, "deployment_done", {"service": "supervisor-mcp", "port": 8081,
                                                              "health_status": "healthy"})
    assert done.event_type == "deployment_completed"
    passed = service.emit(ledger, instance, "test_passed", {"epic_id": "e", "test_count": 45, "coverage": 87})
    event = list(ledger.read_stream(f"instance:{instance}"))[passed.sequence_num - 1]
    assert event.type == "test_passed" and event.data == {"epic_id": "e", "passed_count": 45, "coverage_percent": 87}
    error = refused(ledger, instance, "test_passed", {"epic_id": "e", "test_count": 1, "passed_count": 1})
    assert error.field == "event_data.test_count"


def test_lineage_fields_are_accepted_on_every_event_and_kept_in_metadata(ledger, instance):
    result = service.emit(ledger, instance, "tool_use", {"tool_name": "grep", "parent_uuid": "p-1"},
                          {"root_uuid": "r-1", "depth": 2, "tag": "x"})
    event = list(ledger.read_stream(f"instance:{instance}"))[result.sequence_num - 1]
    assert event.data == {"tool_name": "grep"}
    assert event.meta == {"parent_uuid": "p-1", "root_uuid": "r-1", "depth": 2, "tag": "x"}
    assert refused(ledger, instance, "tool_use", {"tool_name": "x"}, {"depth": -1}).field == "metadata.depth"
    assert refused(ledger, instance, "tool_use", {"tool_name": "x", "root_uuid": 5}).field == "event_data.root_uuid"
    assert refused(ledger, instance, "tool_use", {"tool_name": "x", "depth": 1}, {"depth": 2}).field == \
        "event_data.depth"


def test_extra_fields_are_kept(ledger, instance):
    result = service.emit(ledger, instance, "epic_started", {**EPIC, "owner": "ana"})
    assert list(ledger.read_stream(f"instance:{instance}"))[result.sequence_num - 1].data["owner"] == "ana"
