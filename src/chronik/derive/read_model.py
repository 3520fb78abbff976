"""A projection's stored records: its checkpoint record and its read model.

`projection` / NAME holds the checkpoint ({"position", "generation", "version", "updated",
"stale"}); `model:NAME:GENERATION` / KEY holds the read model's JSON values. ReadModel reads the
committed model; ModelTransaction is what a projection's apply() writes through, committed by the
runner (chronik.derive.projections) together with the checkpoint in one aux_write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from chronik.errors import LimitExceeded, NotFound, ValidationError
from chronik.stores.base import MAX_AUX_CHANGES, MAX_AUX_RANGE, AuxChange, AuxRecords

PROJECTION_KIND = "projection"
MODEL_KIND_PREFIX = "model:"
# Records per batch, leaving room for the checkpoint and parked records in the same write.
MAX_BATCH_CHANGES = MAX_AUX_CHANGES - 16
# Bytes of one read-model key.
MAX_KEY_CHARS = 1_024


class ProjectionMeta(msgspec.Struct, frozen=True):
    position: int = 0
    generation: int = 1
    version: int = 1
    updated: str = ""
    stale: list[int] = msgspec.field(default_factory=list)


def model_kind(name: str, generation: int) -> str:
    return f"{MODEL_KIND_PREFIX}{name}:{generation}"


def load_meta(store: AuxRecords, name: str) -> ProjectionMeta | None:
    raw = store.aux_get(PROJECTION_KIND, name)
    return None if raw is None else msgspec.json.decode(raw, type=ProjectionMeta)


def meta_change(name: str, meta: ProjectionMeta) -> AuxChange:
    return AuxChange(PROJECTION_KIND, name, msgspec.json.encode(meta))


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise ValidationError("key", f"{key!r} is not a read-model key",
                              f"use a non-empty string of at most {MAX_KEY_CHARS} characters")
    return key


class ReadModel:
    """Read-only access to a projection's committed read model (its current generation)."""

    def __init__(self, store: AuxRecords, name: str) -> None:
        self.store = store
        self.name = name

    def _kind(self) -> str:
        meta = load_meta(self.store, self.name)
        if meta is None:
            raise NotFound(f"no projection named {self.name!r} has run on this ledger")
        return model_kind(self.name, meta.generation)

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.aux_get(self._kind(), _check_key(key))
        return default if raw is None else msgspec.json.decode(raw)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every (key, value) whose key starts with `prefix`, in key order (paged)."""
        kind, low = self._kind(), prefix
        while True:
            page = self.store.aux_range(kind, low, None, limit=MAX_AUX_RANGE)
            for key, raw in page:
                if not key.startswith(prefix):
                    return
                yield key, msgspec.json.decode(raw)
            if len(page) < MAX_AUX_RANGE:
                return
            low = page[-1][0] + "\0"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.items())


class ModelTransaction:
    """What a projection's apply() gets: get/put/delete of JSON values by string key, seen
    by later events of the batch at once and committed with the checkpoint."""

    def __init__(self, store: AuxRecords, kind: str) -> None:
        self._store = store
        self._kind = kind
        self._batch: dict[str, bytes | None] = {}
        self._event: dict[str, bytes | None] = {}

    def get(self, key: str, default: Any = None) -> Any:
        key = _check_key(key)
        if key in self._event:
            raw = self._event[key]
        elif key in self._batch:
            raw = self._batch[key]
        else:
            raw = self._store.aux_get(self._kind, key)
        return default if raw is None else msgspec.json.decode(raw)

    def put(self, key: str, value: Any) -> None:
        try:
            self._event[_check_key(key)] = msgspec.json.encode(value)
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError(f"value of {key!r}", f"is not JSON: {exc}",
                                  "store dicts, lists, strings, numbers, booleans or None") from None

    def delete(self, key: str) -> None:
        self._event[_check_key(key)] = None

    # The runner's side.

    def _begin_event(self) -> None:
        self._event.clear()

    def _end_event(self, ok: bool) -> None:
        if ok:
            self._batch.update(self._event)
        self._event.clear()
        if len(self._batch) > MAX_BATCH_CHANGES:
            raise LimitExceeded("read model changes", "max_batch_changes", MAX_BATCH_CHANGES,
                                len(self._batch), "lower batch_events, or change fewer keys per event")

    def _pending(self) -> int:
        return len(self._batch)

    def _changes(self) -> list[AuxChange]:
        return [AuxChange(self._kind, key, value) for key, value in self._batch.items()]

    def _clear(self) -> None:
        self._batch.clear()
        self._event.clear()


__all__ = ["MAX_AUX_RANGE", "MAX_BATCH_CHANGES", "MAX_KEY_CHARS", "MODEL_KIND_PREFIX", "PROJECTION_KIND",
           "ModelTransaction", "ProjectionMeta", "ReadModel", "load_meta", "meta_change", "model_kind"]
