"""Diff: what changed in a stream's state between two points, and which events changed it.

A point is a version (an int; 0 is the initial state), None or "latest" (the newest state), or
a one-key mapping: {"version": 12}, {"position": 480}, {"at": "2026-11-22T01:15:09Z"} (same
meanings as replay's to_version, to_position and at). Strings are accepted too, as the CLI
passes them: "12", "latest", "version:12", "position:480", "at:2026-11-22T01:15:09Z", or a bare
time ("2026-11-22T01:15:09Z", "2h").

The structural diff compares the two states as JSON (Structs and dataclasses through
msgspec.to_builtins): objects key by key, lists index by index (an insertion in the middle shows
as changes to every later index, then an addition at the end), anything else by type and value.
Each change has a path (`$.items[2].sku`, `$["odd key"]`), its kind (added, removed, changed),
the old and new values, and the events that caused it: the events folded at one point but not
the other, each of which changed that path, a path inside it or one containing it. Causes are
found by applying each of those events to a copy of the state before it and diffing the two.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import msgspec

from chronik import rules
from chronik.derive.reducer import Reducer, check_reducer
from chronik.derive.replay import (
    Fold,
    Target,
    collect_warnings,
    make_target,
    start_from,
)
from chronik.errors import LimitExceeded, ValidationError
from chronik.model import Event
from chronik.stores.base import Store, StoreOwner, limits_of, store_of

# Events folded at one point but not the other; each is applied to a copy and diffed.
MAX_DIFF_EVENTS = 10_000
# Changes reported in one diff; beyond it the diff says truncated.
MAX_DIFF_CHANGES = 10_000

POINT_FIX = ('use a version (12), "latest", {"version": 12}, {"position": 480} or '
             '{"at": "2026-11-22T01:15:09Z"} (CLI: 12, latest, position:480, at:TIME or a time)')

Keys = tuple[str | int, ...]


class Cause(msgspec.Struct, frozen=True):
    """An event folded at one point and not the other. side: "b" when only b includes it (the
    usual case, a before b), "a" when only a does."""

    position: int
    version: int
    type: str
    id: str
    time: str
    side: str


class Change(msgspec.Struct, frozen=True):
    path: str
    keys: list[str | int]
    kind: str  # added | removed | changed
    old: Any = None
    new: Any = None
    events: list[Cause] = msgspec.field(default_factory=list)


class PointInfo(msgspec.Struct, frozen=True):
    """A point as asked (`target`) and where it landed: the last event folded in."""

    target: dict[str, Any]
    version: int
    position: int


class Diff(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    reducer: str
    a: PointInfo
    b: PointInfo
    changes: list[Change]
    events: list[Cause]  # every event folded at one point but not the other, in version order
    truncated: bool = False  # more than MAX_DIFF_CHANGES changes; the first ones are listed
    warnings: list[str] = msgspec.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


# ---------------------------------------------------------------- points


_INT = re.compile(r"\d+")


def point_target(point: Any, field: str) -> Target:
    """A diff point as a replay target (module docstring), or ValidationError naming `field`."""
    if point is None or point == "latest":
        return Target()
    if isinstance(point, bool):
        raise ValidationError(field, f"{point!r} is not a point", POINT_FIX)
    if isinstance(point, int):
        return make_target(to_version=point, field_prefix=f"{field}.")
    if isinstance(point, (datetime, date)):
        return make_target(at=point, field_prefix=f"{field}.")
    if isinstance(point, Mapping):
        if len(point) != 1 or next(iter(point)) not in ("version", "position", "at"):
            raise ValidationError(field, f"{dict(point)!r} is not a point", POINT_FIX)
        ((name, given),) = point.items()
        return _named_point(name, given, field)
    if isinstance(point, str):
        text = point.strip()
        if _INT.fullmatch(text):
            return make_target(to_version=int(text), field_prefix=f"{field}.")
        name, sep, rest = text.partition(":")
        if sep and name in ("version", "position", "at"):
            value: Any = rest.strip()
            if name != "at":
                if not _INT.fullmatch(value):
                    raise ValidationError(f"{field}.{name}", f"{value!r} is not a whole number", POINT_FIX)
                value = int(value)
            return _named_point(name, value, field)
        return make_target(at=text, field_prefix=f"{field}.")  # a bare time; parse_time names the fix
    raise ValidationError(field, f"{type(point).__name__} is not a point", POINT_FIX)


def _named_point(name: str, value: Any, field: str) -> Target:
    if value is None:
        raise ValidationError(f"{field}.{name}", "is missing", POINT_FIX)
    arguments = {"version": "to_version", "position": "to_position", "at": "at"}
    return make_target(**{arguments[name]: value}, field_prefix=f"{field}.")


class _Both(Target):
    """Snapshots usable by both points: at or below both."""

    def __init__(self, a: Target, b: Target) -> None:
        self.a, self.b = a, b
        bounds = [t.max_version for t in (a, b) if t.max_version is not None]
        self.max_version = min(bounds) if bounds else None

    def accepts(self, snapshot: Any) -> bool:
        return self.a.accepts(snapshot) and self.b.accepts(snapshot)


class _ReadUpTo(Target):
    def __init__(self, a: Target, b: Target) -> None:
        self.max_version = (None if a.max_version is None or b.max_version is None
                            else max(a.max_version, b.max_version))


# ---------------------------------------------------------------- the diff


def diff(source: Store | StoreOwner, stream: str, reducer: Reducer, a: Any, b: Any) -> Diff:
    """What changed between point `a` and point `b` of `stream` (module docstring)."""
    rules.check_stream(stream, "stream", limits_of(source))
    reducer = check_reducer(reducer, "reducer")
    target_a, target_b = point_target(a, "a"), point_target(b, "b")
    warnings: list[str] = []
    start, events = start_from(store_of(source), stream, reducer, _ReadUpTo(target_a, target_b), True,
                               collect_warnings(warnings), snapshot_target=_Both(target_a, target_b))
    walk = _Walk(reducer, start)
    for event in events:
        if target_a.past(event) and target_b.past(event):
            break
        walk.step(event, target_a.includes(event), target_b.includes(event))
    changes, truncated = structural_diff(walk.state_a, walk.state_b)
    changes = [_with_causes(change, walk.steps) for change in changes]
    return Diff(stream=stream, reducer=reducer.label,
                a=PointInfo(target_a.describe() or {"latest": True}, walk.a.version, walk.a.position),
                b=PointInfo(target_b.describe() or {"latest": True}, walk.b.version, walk.b.position),
                changes=changes, events=[cause for cause, _ in walk.steps], truncated=truncated,
                warnings=warnings)


class _Walk:
    """Folds both points in one pass over the stream: one state while they agree, two after."""

    def __init__(self, reducer: Reducer, start: Fold) -> None:
        self.apply = reducer.apply
        self.state_a = self.state_b = start.state
        self.shared = True
        self.a = Fold(None, start.version, start.position)
        self.b = Fold(None, start.version, start.position)
        self.steps: list[tuple[Cause, list[Keys]]] = []

    def step(self, event: Event, in_a: bool, in_b: bool) -> None:
        if in_a and in_b:
            if self.shared:
                self.state_a = self.state_b = self.apply(self.state_a, event)
            else:
                self.state_a = self.apply(self.state_a, event)
                self.state_b = self.apply(self.state_b, event)
        elif in_a or in_b:
            if len(self.steps) >= MAX_DIFF_EVENTS:
                raise LimitExceeded("b", "max_diff_events", MAX_DIFF_EVENTS, len(self.steps) + 1,
                                    "diff two points closer together")
            if self.shared:
                self.state_b = _clone(self.state_a)
                self.shared = False
            before = self.state_a if in_a else self.state_b
            after = self.apply(_clone(before), event)
            if in_a:
                self.state_a = after
            else:
                self.state_b = after
            touched = [change.keys for change in structural_diff(before, after)[0]]
            cause = Cause(event.position, event.version, event.type, event.id, event.time, "a" if in_a else "b")
            self.steps.append((cause, [tuple(keys) for keys in touched]))
        for side, included in ((self.a, in_a), (self.b, in_b)):
            if included:
                side.version, side.position = event.version, event.position


def _clone(state: Any) -> Any:
    return copy.deepcopy(state)


def _with_causes(change: Change, steps: list[tuple[Cause, list[Keys]]]) -> Change:
    keys = tuple(change.keys)
    causes = [cause for cause, touched in steps if any(_related(keys, other) for other in touched)]
    return msgspec.structs.replace(change, events=causes)


def _related(one: Keys, other: Keys) -> bool:
    shorter = min(len(one), len(other))
    return one[:shorter] == other[:shorter]


# ---------------------------------------------------------------- structural diff


def structural_diff(old: Any, new: Any, limit: int = MAX_DIFF_CHANGES) -> tuple[list[Change], bool]:
    """The changes from `old` to `new` (at most `limit`), and whether there were more."""
    changes: list[Change] = []
    try:
        _walk(_builtins(old), _builtins(new), (), changes, limit + 1)
    except _Full:
        pass
    return changes[:limit], len(changes) > limit


class _Full(Exception):
    pass


def _builtins(value: Any) -> Any:
    if value is None or type(value) in (dict, list, str, int, float, bool):
        return value
    try:
        return msgspec.to_builtins(value)
    except TypeError:
        return value


def _walk(old: Any, new: Any, keys: Keys, out: list[Change], limit: int) -> None:
    if type(old) is dict and type(new) is dict:
        for key in sorted(old.keys() | new.keys(), key=lambda k: (type(k).__name__, k)):
            if key not in new:
                _add(out, limit, keys + (key,), "removed", old[key], None)
            elif key not in old:
                _add(out, limit, keys + (key,), "added", None, new[key])
            else:
                _walk(old[key], new[key], keys + (key,), out, limit)
    elif type(old) is list and type(new) is list:
        common = min(len(old), len(new))
        for index in range(common):
            _walk(old[index], new[index], keys + (index,), out, limit)
        for index in range(common, len(new)):
            _add(out, limit, keys + (index,), "added", None, new[index])
        for index in range(common, len(old)):
            _add(out, limit, keys + (index,), "removed", old[index], None)
    elif type(old) is not type(new) or old != new:
        _add(out, limit, keys, "changed", old, new)


def _add(out: list[Change], limit: int, keys: Keys, kind: str, old: Any, new: Any) -> None:
    out.append(Change(path_text(keys), list(keys), kind, old, new))
    if len(out) >= limit:
        raise _Full


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_text(keys: Keys) -> str:
    """$ for the whole state, then .name, ["other key"] or [index] per step."""
    parts = ["$"]
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and _IDENTIFIER.fullmatch(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{msgspec.json.encode(key if isinstance(key, str) else repr(key)).decode()}]")
    return "".join(parts)
