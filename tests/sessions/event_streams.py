"""Valid agent-session events, made at random from the catalog itself (a seeded `random.Random`
or a Hypothesis strategy), drawing names from small pools so that events meet: the same epics
start, finish and are tested, the same tasks are spawned and finished."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from chronik.domains.sessions.checks import DEFAULT_CATALOG
from chronik.domains.sessions.events import RECORDED_BY, EventType, FieldSpec

POOLS = {"epic_id": ["epic-001", "epic-002", "epic-003"], "task_id": ["task-a", "task-b", "task-c"],
         "service": ["api", "web"], "pr_url": ["https://github.com/p/pull/1", "https://github.com/p/pull/2"],
         "checkpoint_id": ["cp-1", "cp-2"], "health_status": ["healthy", "degraded", "down"]}
EMITTABLE = [spec for spec in DEFAULT_CATALOG.known()
             if spec.enabled and spec.type not in RECORDED_BY and spec.type != "instance_heartbeat"]


def _bounds(field: FieldSpec) -> tuple[float, float]:
    low = 0 if field.minimum is None else field.minimum
    return low, low + 500 if field.maximum is None else field.maximum


def random_value(field: FieldSpec, rng: random.Random) -> Any:
    if field.choices:
        return rng.choice(field.choices)
    if field.name in POOLS:
        return rng.choice(POOLS[field.name])
    if field.kind == "string":
        return rng.choice(["x", "fix the CORS headers", "token_refresh", "ünïcode ✓"])
    if field.kind == "integer":
        low, high = _bounds(field)
        return rng.randint(int(low), int(high))
    if field.kind == "number":
        low, high = _bounds(field)
        return round(rng.uniform(low, high), 2)
    if field.kind == "boolean":
        return rng.random() < 0.5
    if field.kind == "string[]":
        return [rng.choice(["a", "b", "c"]) for _ in range(rng.randint(0, 3))]
    if field.kind == "array":
        return [rng.randint(0, 9) for _ in range(rng.randint(0, 3))]
    return {"k": rng.randint(0, 9)}


def random_event(rng: random.Random) -> tuple[str, dict[str, Any]]:
    spec = rng.choice(EMITTABLE)
    data = {field.name: random_value(field, rng) for field in spec.required}
    for field in spec.optional:
        if rng.random() < 0.5:
            data[field.name] = random_value(field, rng)
    return spec.type, data


def _value_strategy(field: FieldSpec) -> st.SearchStrategy[Any]:
    if field.choices:
        return st.sampled_from(field.choices)
    if field.name in POOLS:
        return st.sampled_from(POOLS[field.name])
    if field.kind == "string":
        return st.text(max_size=12)
    if field.kind == "integer":
        low, high = _bounds(field)
        return st.integers(int(low), int(high))
    if field.kind == "number":
        low, high = _bounds(field)
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if field.kind == "boolean":
        return st.booleans()
    if field.kind == "string[]":
        return st.lists(st.text(max_size=5), max_size=3)
    if field.kind == "array":
        return st.lists(st.integers(), max_size=3)
    return st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)


def _event_strategy(spec: EventType) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    required = {field.name: _value_strategy(field) for field in spec.required}
    optional = {field.name: _value_strategy(field) for field in spec.optional}
    return st.fixed_dictionaries(required, optional=optional).map(lambda data: (spec.type, data))


# An operation on an instance: ("emit", type, data), ("heartbeat",) or ("sweep",).
operations = st.one_of(
    st.sampled_from(EMITTABLE).flatmap(_event_strategy).map(lambda pair: ("emit", *pair)),
    st.just(("heartbeat",)), st.just(("sweep",)))
