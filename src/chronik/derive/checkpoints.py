"""Durable named checkpoints: the last position a named subscription has fully handled.

Kept as auxiliary records (`Store.aux_*`, atomic and durable on every store), kind
`checkpoint`, key the subscription's name, value JSON `{"position": N, "updated": TIME}`.
A projection keeps its checkpoint in its own record instead (chronik.derive.projections), in
the same aux_write as its read model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec

from chronik import codec
from chronik.errors import ValidationError
from chronik.stores.base import AuxChange, AuxRecords, Store, StoreOwner, store_of

CHECKPOINT_KIND = "checkpoint"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
NAME_FIX = "use 1 to 128 letters, digits and _ . - starting with a letter or digit, e.g. billing"


class Checkpoint(msgspec.Struct, frozen=True):
    name: str
    position: int
    updated: str


def check_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValidationError(field, f"{name!r} is not a subscription name", NAME_FIX)
    return name


def now_text() -> str:
    return codec.format_time(datetime.now(UTC))


def load_checkpoint(store: AuxRecords, name: str) -> Checkpoint | None:
    raw = store.aux_get(CHECKPOINT_KIND, check_name(name))
    if raw is None:
        return None
    value = msgspec.json.decode(raw)
    return Checkpoint(name, int(value["position"]), value.get("updated", ""))


def checkpoint_change(name: str, position: int) -> AuxChange:
    """The aux change that records `position` as handled, to write alone or with others."""
    value = {"position": position, "updated": now_text()}
    return AuxChange(CHECKPOINT_KIND, name, msgspec.json.encode(value))


def save_checkpoint(store: AuxRecords, name: str, position: int) -> None:
    store.aux_write([checkpoint_change(check_name(name), position)])


def list_checkpoints(source: Store | StoreOwner) -> list[Checkpoint]:
    found = []
    for key, raw in store_of(source).aux_range(CHECKPOINT_KIND):
        value = msgspec.json.decode(raw)
        found.append(Checkpoint(key, int(value["position"]), value.get("updated", "")))
    return found
