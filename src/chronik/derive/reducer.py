"""Reducers: how state is derived from a stream's events.

A reducer has a `name` and a `version` (both recorded in every snapshot it makes), an
`initial()` state and a pure `apply(state, event) -> state`. Three ways to write one:

    class OrderSummary(chronik.Reducer):          # one method per event type
        name, version, snapshot_every = "order-summary", 1, 100

        def initial(self):
            return {"items": [], "total": 0}

        def on_item_added(self, state, event):     # event type item_added (or item-added)
            return {**state, "items": [*state["items"], event.data["sku"]]}

        @chronik.handles("order.cancelled", "order_voided")
        def cancelled(self, state, event):
            return {**state, "status": "cancelled"}

    count = chronik.Reducer.from_function(lambda state, event: state + 1, initial=0, name="count")

    class Raw(chronik.Reducer):                    # or override apply() yourself
        def apply(self, state, event): ...

Events of a type with no handler leave the state unchanged, unless `strict = True`, which raises
`UnhandledEvent`. States that are snapshotted must be JSON (see chronik.derive.snapshots).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, ClassVar

from chronik.errors import ChronikError, ValidationError
from chronik.model import Event

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
MAX_NAME_CHARS = 128
NAME_FIX = "use letters, digits and _ . : - (no '/'), e.g. order-summary"
# Snapshots kept per (reducer, stream): a bound on storage (docs/deriving.md).
DEFAULT_KEEP_SNAPSHOTS = 3
MAX_KEEP_SNAPSHOTS = 100

Handler = Callable[[Any, Any, Event], Any]


class UnhandledEvent(ChronikError):
    """A strict reducer met an event type it has no handler for."""

    def __init__(self, reducer: str, event: Event) -> None:
        self.reducer = reducer
        self.event_type = event.type
        self.position = event.position
        super().__init__(f"reducer {reducer!r} has no handler for event type {event.type!r} "
                         f"({event.stream} version {event.version}, position {event.position}); "
                         f"add one, or set strict = False to leave the state unchanged")


def handles(*types: str) -> Callable[[Handler], Handler]:
    """Mark a reducer method as the handler of the given event types."""
    if not types or not all(isinstance(t, str) and t for t in types):
        raise ValidationError("handles", "needs one or more event type names",
                              "write @handles(\"order_created\")")

    def mark(method: Handler) -> Handler:
        method._chronik_handles = (*getattr(method, "_chronik_handles", ()), *types)  # type: ignore[attr-defined]
        return method

    return mark


def handler_method_name(event_type: str) -> str:
    """The method that handles `event_type` by convention: on_ + the type, - and . as _."""
    return "on_" + event_type.replace("-", "_").replace(".", "_")


class Reducer:
    """Derives state from events. Subclass it (handlers or apply), or use `from_function`."""

    name: ClassVar[str | None] = None  # default: the class name
    version: ClassVar[int | str] = 1
    # Policy: save a snapshot when a replay folded this many events past the last one (None: never).
    snapshot_every: ClassVar[int | None] = None
    keep_snapshots: ClassVar[int] = DEFAULT_KEEP_SNAPSHOTS
    # True: an event type without a handler raises UnhandledEvent instead of being skipped.
    strict: ClassVar[bool] = False
    # A msgspec-decodable type (Struct, dataclass, dict[str, X], ...) that snapshots decode into;
    # None: the state is plain JSON (dict, list, str, int, float, bool, None).
    state_type: ClassVar[Any] = None

    _marked: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        marked: dict[str, str] = {}
        for base in reversed(cls.__mro__):
            for attribute, value in vars(base).items():
                for event_type in getattr(value, "_chronik_handles", ()):
                    marked[event_type] = attribute
        cls._marked = marked

    def __init__(self) -> None:
        self._handlers: dict[str, Handler | None] = {}

    @property
    def label(self) -> str:
        """name@version, as shown in warnings and by the CLI."""
        return f"{self.reducer_name}@{self.version}"

    @property
    def reducer_name(self) -> str:
        return self.name or type(self).__name__

    def initial(self) -> Any:
        return None

    def apply(self, state: Any, event: Event) -> Any:
        handler = self._handlers.get(event.type, _MISSING)
        if handler is _MISSING:
            handler = self._find_handler(event.type)
        if handler is None:
            if self.strict:
                raise UnhandledEvent(self.reducer_name, event)
            return state
        return handler(state, event)

    def _find_handler(self, event_type: str) -> Handler | None:
        attribute = self._marked.get(event_type) or handler_method_name(event_type)
        handler = getattr(self, attribute, None)
        handler = handler if callable(handler) else None
        self._handlers[event_type] = handler
        return handler

    def has_handlers(self) -> bool:
        return bool(self._marked) or any(attr.startswith("on_") and callable(getattr(self, attr))
                                         for attr in dir(type(self)))

    @classmethod
    def from_function(cls, function: Callable[[Any, Event], Any] | None = None, /, *,
                      initial: Any = None, name: str | None = None, version: int | str = 1,
                      snapshot_every: int | None = None,
                      keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS) -> Any:
        """A reducer from `function(state, event) -> state`. `initial` is the initial state (a
        fresh deep copy each time) or a zero-argument callable returning it. Without
        `function`, returns a decorator."""
        def build(fn: Callable[[Any, Event], Any]) -> FunctionReducer:
            return FunctionReducer(fn, initial=initial, name=name or getattr(fn, "__name__", None),
                                   version=version, snapshot_every=snapshot_every,
                                   keep_snapshots=keep_snapshots)

        return build if function is None else build(function)

    @classmethod
    def from_handlers(cls, handlers: dict[str, Callable[[Any, Event], Any]], *, initial: Any = None,
                      name: str, version: int | str = 1, snapshot_every: int | None = None,
                      keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS, strict: bool = False) -> FunctionReducer:
        """A reducer from {event type: function(state, event) -> state}."""
        if not isinstance(handlers, dict) or not handlers:
            raise ValidationError("handlers", "must be a non-empty dict of event type to function",
                                  "pass {\"order_created\": on_created, ...}")
        table = dict(handlers)

        def apply(state: Any, event: Event) -> Any:
            handler = table.get(event.type)
            if handler is None:
                if strict:
                    raise UnhandledEvent(name, event)
                return state
            return handler(state, event)

        return FunctionReducer(apply, initial=initial, name=name, version=version,
                               snapshot_every=snapshot_every, keep_snapshots=keep_snapshots)

    def __repr__(self) -> str:
        return f"<Reducer {self.label}>"


class FunctionReducer(Reducer):
    """A reducer made by Reducer.from_function or Reducer.from_handlers."""

    def __init__(self, function: Callable[[Any, Event], Any], *, initial: Any, name: str | None,
                 version: int | str, snapshot_every: int | None, keep_snapshots: int) -> None:
        if not callable(function):
            raise ValidationError("function", f"must be callable, got {type(function).__name__}",
                                  "pass def fold(state, event) -> state")
        self._function = function
        self._initial = initial
        # Instance attributes shadow the class-level policy.
        self.name = name  # type: ignore[misc]
        self.version = version  # type: ignore[misc]
        self.snapshot_every = snapshot_every  # type: ignore[misc]
        self.keep_snapshots = keep_snapshots  # type: ignore[misc]
        super().__init__()

    def initial(self) -> Any:
        if callable(self._initial):
            return self._initial()
        return copy.deepcopy(self._initial)

    def apply(self, state: Any, event: Event) -> Any:
        return self._function(state, event)

    def has_handlers(self) -> bool:
        return True


_MISSING: Any = object()


def check_reducer(reducer: Any, field: str) -> Reducer:
    """`reducer` as a usable Reducer (a Reducer subclass is instantiated), or ValidationError."""
    if isinstance(reducer, type) and issubclass(reducer, Reducer):
        reducer = reducer()
    if not isinstance(reducer, Reducer):
        raise ValidationError(field, f"must be a chronik.Reducer, got {type(reducer).__name__}",
                              "subclass chronik.Reducer, or wrap a function with Reducer.from_function")
    if "_handlers" not in vars(reducer):  # a subclass __init__ that did not call super().__init__()
        reducer._handlers = {}
    name = reducer.reducer_name
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        raise ValidationError(f"{field}.name", f"{name!r} is not a reducer name", NAME_FIX)
    version = reducer.version
    if isinstance(version, bool) or not isinstance(version, (int, str)) or version == "":
        raise ValidationError(f"{field}.version", f"{version!r} is not a reducer version",
                              "use an int (bump it when apply changes) or a non-empty string")
    every = reducer.snapshot_every
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValidationError(f"{field}.snapshot_every", f"{every!r} is not a number of events",
                              "use None (no automatic snapshots) or an int >= 1, e.g. 100")
    keep = reducer.keep_snapshots
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP_SNAPSHOTS:
        raise ValidationError(f"{field}.keep_snapshots", f"{keep!r} is out of range",
                              f"use an int from 1 to {MAX_KEEP_SNAPSHOTS}")
    if type(reducer).apply is Reducer.apply and not reducer.has_handlers():
        raise ValidationError(field, f"reducer {name!r} has no handlers and does not override apply",
                              "add on_<event_type>(self, state, event) methods, @handles(...) "
                              "methods, or an apply(self, state, event) method")
    return reducer
