"""A to-do list's open and done tasks: a pure, module-level Reducer."""

from __future__ import annotations

from typing import Any

from chronik.derive.reducer import Reducer
from chronik.model import Event

State = dict[str, Any]


class TodoList(Reducer):
    name = "todo-list"
    version = 1

    def initial(self) -> State:
        return {"open": [], "done": []}

    def on_task_added(self, state: State, event: Event) -> State:
        return {**state, "open": [*state["open"], event.data["title"]]}

    def on_task_done(self, state: State, event: Event) -> State:
        title = event.data["title"]
        return {"open": [t for t in state["open"] if t != title], "done": [*state["done"], title]}


TODO_LIST = TodoList()
