"""Extension status as a pure fold of its events, whichever ledger they came from.

A `Record` is one lifecycle event. The status is replaced by a record when it is chronik-native
(position order is the truth) or, for a record that carries a Sindri timestamp (a Sindri line,
or an event imported from one), when its timestamp is strictly greater than the current one at
nanosecond precision: Sindri's rule, so the first of equal timestamps wins. `last_error` and
`durations` are kept across records.

Nothing here does I/O or knows a file format: compat/ turns Sindri lines into Records, and
`record_from_event` turns chronik events into them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from chronik.derive.reducer import Reducer
from chronik.domains.extensions.events import EVENT_CLASSES, default_state_after, version_of
from chronik.domains.extensions.timekeys import time_key
from chronik.model import Event

REDUCER_NAME = "extension-status"
REDUCER_VERSION = 1
SNAPSHOT_EVERY = 200

Status = dict[str, Any]  # JSON: what `initial()` lists


class Record(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: str
    id: str
    at: str  # the time of the fact, as recorded (Sindri timestamp or chronik meta.at / time)
    key: str  # `at` as a nanosecond time key
    by_time: bool  # Sindri ordering rule applies
    state_before: str | None
    state_after: str
    fields: dict[str, Any]
    runner: dict[str, Any] | None = None


def initial() -> Status:
    return {"name": None, "state": None, "version": None, "since": None, "key": None, "by_time": False,
            "event_id": None, "event_type": None, "error": None, "duration_s": None, "exit_code": None,
            "log_file": None, "last_error": None, "last_error_at": None, "durations": {}, "events": 0,
            "runner": None, "v": REDUCER_VERSION}


def apply(state: Status, record: Record) -> Status:
    """The status after `record` (a new dict; `state` is not changed)."""
    state = {**state, "events": state["events"] + 1, "name": record.name}
    if record.type not in EVENT_CLASSES or not record.state_after:
        return state  # not a lifecycle event: counted, the status is unchanged
    if record.by_time and state["by_time"] and state["key"] is not None and record.key <= state["key"]:
        return state  # Sindri: only a strictly newer timestamp replaces the status
    fields = record.fields
    error = fields.get("error_message")
    duration = fields.get("duration_secs")
    state.update(state=record.state_after, version=version_of(record.type, fields), since=record.at,
                 key=record.key, by_time=record.by_time, event_id=record.id, event_type=record.type,
                 error=error, duration_s=duration, exit_code=fields.get("exit_code"),
                 log_file=fields.get("log_file"),
                 runner=record.runner if record.type.endswith("_started") else None)
    if error is not None:
        state["last_error"], state["last_error_at"] = error, record.at
    if duration is not None:
        state["durations"] = {**state["durations"], record.type.split("_")[0]: duration}
    return state


def fold(records: Iterable[Record], state: Status | None = None) -> Status:
    state = initial() if state is None else state
    for record in records:
        state = apply(state, record)
    return state


def record_from_event(event: Event | Any) -> Record:
    """A chronik Event of stream extension:NAME (or anything with its stream, type, id, time,
    data and meta) as a Record."""
    data, meta = event.data, event.meta
    imported = "sindri_timestamp" in meta
    at = meta.get("sindri_timestamp") or meta.get("at") or event.time
    key = time_key(at) or time_key(event.time) or ""
    fields = {k: v for k, v in data.items() if k not in ("state_before", "state_after")}
    return Record(name=event.stream.partition(":")[2], type=event.type, id=event.id, at=at, key=key,
                  by_time=imported, state_before=data.get("state_before"),
                  state_after=data.get("state_after") or default_state_after(event.type) or "",
                  fields=fields, runner=meta.get("runner"))


class ExtensionStatus(Reducer):
    """The status fold as a chronik Reducer (for Ledger.replay, snapshots and projections)."""

    name = REDUCER_NAME
    version = REDUCER_VERSION
    snapshot_every = SNAPSHOT_EVERY

    def initial(self) -> Status:
        return initial()

    def apply(self, state: Status, event: Event) -> Status:
        return apply(state, record_from_event(event))


STATUS_REDUCER = ExtensionStatus()


def status_reducer() -> ExtensionStatus:
    """The one ExtensionStatus reducer (stateless, so shared)."""
    return STATUS_REDUCER
