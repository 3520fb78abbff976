"""The to-do pack's event types, their fields and the catalog of types."""

from __future__ import annotations

import msgspec

STREAM_CATEGORY = "todo"  # a list NAME is the stream todo:NAME


class _Event(msgspec.Struct, tag_field="type", frozen=True):
    title: str


class TaskAdded(_Event, tag="task_added", frozen=True):
    pass


class TaskDone(_Event, tag="task_done", frozen=True):
    pass


TodoEvent = TaskAdded | TaskDone
EVENT_TYPES = ("task_added", "task_done")


def stream_of(name: str) -> str:
    return f"{STREAM_CATEGORY}:{name}"
