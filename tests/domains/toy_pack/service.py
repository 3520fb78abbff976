"""The to-do use cases over the chronik.Ledger facade; errors name fields, never options."""

from __future__ import annotations

import msgspec

from chronik.errors import NotFound, ValidationError
from chronik.ledger import Ledger
from chronik.model import NewEvent
from toy_pack.events import TaskAdded, TaskDone, TodoEvent, stream_of
from toy_pack.reducer import TODO_LIST, State

MAX_TITLE_CHARS = 200


def _title(title: str) -> str:
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise ValidationError("title", f"must be 1 to {MAX_TITLE_CHARS} characters", "write a short title")
    return title


def _record(ledger: Ledger, name: str, event: TodoEvent) -> None:
    fields = msgspec.structs.asdict(event)
    ledger.append(stream_of(name), [NewEvent(str(event.__struct_config__.tag), fields)])


def add(ledger: Ledger, name: str, title: str) -> State:
    _record(ledger, name, TaskAdded(_title(title)))
    return show(ledger, name)


def done(ledger: Ledger, name: str, title: str) -> State:
    if title not in show(ledger, name)["open"]:
        raise ValidationError("title", f"{title!r} is not an open task of {name!r}", "add it first")
    _record(ledger, name, TaskDone(title))
    return show(ledger, name)


def show(ledger: Ledger, name: str) -> State:
    if next(ledger.read_stream(stream_of(name), limit=1), None) is None:
        raise NotFound(f"no to-do list {name!r}")
    state: State = ledger.replay(stream_of(name), TODO_LIST).state
    return state
