"""Instances: ids, registration, coalesced heartbeats, the stale sweep (once per silence), the
listing and closing. Times are driven: the ledger's clock and the `now` the service is given."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from chronik.domains.sessions import service
from chronik.domains.sessions.settings import Settings
from chronik.errors import ValidationError

FAST = Settings(heartbeat_interval_s=30, stale_timeout_s=120)


def types_of(ledger, instance_id):
    return [event.type for event in ledger.read_stream(f"instance:{instance_id}")]


def test_register_makes_project_ps_hex_ids(ledger):
    ids = {service.register(ledger, "odin").instance_id for _ in range(20)}
    assert len(ids) == 20 and all(re.fullmatch(r"odin-PS-[0-9a-f]{6}", i) for i in ids)
    first = service.register(ledger, "odin", details={"model": "opus", "pid": 42})
    assert first.sequence_num == 1 and first.event_type == "instance_registered"
    event = next(ledger.read_stream(f"instance:{first.instance_id}"))
    assert event.data == {"model": "opus", "pid": 42, "project": "odin"}


def test_a_given_id_is_registered_once(ledger):
    given = service.register(ledger, instance_id="thor-PS-abc123")
    assert given.instance_id == "thor-PS-abc123"
    assert next(ledger.read_stream("instance:thor-PS-abc123")).data["project"] == "thor"
    with pytest.raises(ValidationError) as caught:
        service.register(ledger, instance_id="thor-PS-abc123")
    assert caught.value.field == "instance_id" and "already registered" in caught.value.problem
    custom = service.register(ledger, "loki", instance_id="my-agent")
    assert custom.instance_id == "my-agent"
    with pytest.raises(ValidationError) as caught:
        service.register(ledger, instance_id="no-project-here")
    assert caught.value.field == "project"


@pytest.mark.parametrize("project", ["", "has space", "x" * 65, None])
def test_a_bad_project_is_refused(ledger, project):
    with pytest.raises(ValidationError) as caught:
        service.register(ledger, project)
    assert caught.value.field == "project"
    assert ledger.head().position == 0


def test_heartbeats_are_coalesced_to_one_per_interval(ledger, clock):
    instance = service.register(ledger, "odin").instance_id
    recorded = []
    for _second in range(300):  # a heartbeat every second for five minutes
        result = service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
        if result.recorded:
            recorded.append(result.sequence_num)
        else:
            clock.now += timedelta(seconds=1)  # nothing was stamped: time goes on by itself
    assert len(recorded) == 10, recorded  # 300 s / 30 s
    assert types_of(ledger, instance).count("instance_heartbeat") == 10


def test_a_heartbeat_coalesces_into_the_recorded_one_even_after_other_events(ledger, clock):
    instance = service.register(ledger, "odin").instance_id
    beat = service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
    for _ in range(5):
        service.emit(ledger, instance, "tool_use", {"tool_name": "grep"})
    again = service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
    assert not again.recorded and again.event_id == beat.event_id


def test_the_stale_sweep_records_once_per_silence(ledger, clock):
    instance = service.register(ledger, "odin").instance_id
    quiet = service.register(ledger, "thor").instance_id
    service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
    assert service.sweep_stale(ledger, FAST, now=clock.now) == []
    later = clock.now + timedelta(seconds=121)
    first = service.sweep_stale(ledger, FAST, now=later)
    assert sorted(s.instance_id for s in first if s.recorded) == sorted([instance, quiet])
    assert service.sweep_stale(ledger, FAST, now=later + timedelta(hours=1)) == []
    assert types_of(ledger, instance).count("instance_stale") == 1
    clock.now = later + timedelta(hours=2)  # it comes back, then falls silent again
    revived = service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
    assert revived.recorded, "a heartbeat after stale is recorded, whatever the interval"
    again = service.sweep_stale(ledger, FAST, now=clock.now + timedelta(seconds=121))
    assert [s.instance_id for s in again if s.recorded] == [instance]
    assert types_of(ledger, instance).count("instance_stale") == 2
    stale = list(ledger.read_stream(f"instance:{instance}"))[-1]
    assert stale.type == "instance_stale" and stale.data["timeout_seconds"] == 120
    assert stale.data["silent_seconds"] > 120


def test_the_listing_gives_project_heartbeat_state_and_last_event(ledger, clock):
    active = service.register(ledger, "odin").instance_id
    service.heartbeat(ledger, active, settings=FAST, now=clock.now)
    silent = service.register(ledger, "thor").instance_id
    closed = service.register(ledger, "loki", instance_id="loki-agent").instance_id
    service.close(ledger, closed)
    listing = {row["instance_id"]: row for row in service.instances(ledger, FAST, now=clock.now)}
    assert listing[active]["state"] == "active" and listing[active]["project"] == "odin"
    assert listing[active]["last_heartbeat"] is not None
    assert listing[silent]["last_heartbeat"] is None
    assert listing[closed]["state"] == "closed" and listing[closed]["project"] == "loki"
    assert listing[closed]["last_event"]["event_type"] == "instance_closed"
    assert listing[closed]["last_event"]["sequence_num"] == 2
    much_later = {row["instance_id"]: row["state"] for row in
                  service.instances(ledger, FAST, now=clock.now + timedelta(minutes=5))}
    assert much_later == {active: "stale", silent: "stale", closed: "closed"}


def test_the_listing_finds_an_old_heartbeat_behind_many_events(ledger, clock):
    instance = service.register(ledger, "odin").instance_id
    beat = service.heartbeat(ledger, instance, settings=FAST, now=clock.now)
    for index in range(100):
        service.emit(ledger, instance, "tool_use", {"tool_name": f"t{index}"})
    row = service.instances(ledger, FAST, now=clock.now)[0]
    assert row["last_heartbeat"] == beat.timestamp


def test_closing_twice_and_heartbeating_a_closed_instance_are_refused(ledger, clock):
    instance = service.register(ledger, "odin").instance_id
    service.close(ledger, instance)
    for call in (lambda: service.close(ledger, instance),
                 lambda: service.heartbeat(ledger, instance, now=clock.now)):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.field == "instance_id"
    assert types_of(ledger, instance) == ["instance_registered", "instance_closed"]


def test_settings_refuse_an_interval_that_would_let_a_live_instance_go_stale():
    with pytest.raises(ValidationError) as caught:
        Settings(heartbeat_interval_s=120, stale_timeout_s=120)
    assert caught.value.field == "heartbeat_interval_s"
