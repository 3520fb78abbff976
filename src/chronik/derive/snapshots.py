"""Snapshots: a reducer's state saved at a stream version, an optimisation and never the truth.

Stored as auxiliary records (Store.aux_*), so every store keeps them:

    kind  "snapshot"
    key   <reducer name>/<stream>/<stream version, 20 digits>     e.g. order-summary/order:42/00000000000000000100
    value b"chronik.snapshot.v1 " + sha256(header) + b"\\n" + header JSON + b"\\n" + state JSON

Neither a reducer name nor a stream name contains '/', and the version is zero-padded, so the
newest snapshot at or below version V is one `aux_range(..., high=<key of V + 1>, reverse=True,
limit=1)`. The header records the reducer name and version, the stream version and position, the
hash of the event at that version (the snapshot is bound to the chain: a rewritten or different
ledger does not match), the latest event time folded in (so time travel can tell whether the
snapshot is at or before a time), the creation time, and the sha256 and size of the state bytes.

A snapshot that fails any check (header digest, state hash, key/header mismatch, undecodable
state, event hash) is corrupt; one made by another version of the reducer is stale. Both are
skipped with a warning, and the next older snapshot is tried, then the start of the stream.
Only the newest `reducer.keep_snapshots` (default 3) are kept per (reducer, stream).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from chronik import codec, rules
from chronik.errors import LimitExceeded, ValidationError
from chronik.stores.base import AuxChange, AuxRecords, Store, StoreOwner, limits_of, store_of

if TYPE_CHECKING:
    from chronik.derive.reducer import Reducer

log = logging.getLogger("chronik.derive.snapshots")

SNAPSHOT_KIND = "snapshot"
FORMAT_TAG = b"chronik.snapshot.v1"
FORMAT_VERSION = 1
VERSION_DIGITS = 20
# Snapshots examined (newest first) by one replay before it falls back to the stream's start.
MAX_SNAPSHOT_CANDIDATES = 16
# Canonical JSON bytes of one saved state.
MAX_STATE_BYTES = 16 * 1024 * 1024
# Extra old snapshots looked at, beyond keep_snapshots, when a save prunes.
PRUNE_LOOKAHEAD = 4

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_decode_any = msgspec.json.Decoder().decode


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The header of a saved snapshot: what it is of, and how to check it."""

    format: int
    reducer: str
    reducer_version: int | str
    stream: str
    version: int
    position: int
    event_hash: str  # hash of the stream's event at `version`
    max_time: str  # the latest time (canonical UTC) among the events folded into the state
    created: str
    state_sha256: str
    state_bytes: int

    @property
    def key(self) -> str:
        return snapshot_key(self.reducer, self.stream, self.version)


class LoadedSnapshot(msgspec.Struct, frozen=True):
    header: Snapshot
    state: Any


class SnapshotStatus(msgspec.Struct, frozen=True):
    """One stored snapshot as `list_snapshots` sees it: status is ok, stale or corrupt."""

    key: str
    status: str
    detail: str
    snapshot: Snapshot | None


class CorruptSnapshot(Exception):
    """Internal: a stored snapshot failed a check (the message says which)."""


# ---------------------------------------------------------------- keys


def snapshot_prefix(reducer_name: str, stream: str) -> str:
    return f"{reducer_name}/{stream}/"


def snapshot_key(reducer_name: str, stream: str, version: int) -> str:
    return f"{snapshot_prefix(reducer_name, stream)}{version:0{VERSION_DIGITS}d}"


def _prefix_end(prefix: str) -> str:
    # Keys of the prefix are < prefix[:-1] + '0', since '/' < '0' and only digits follow.
    return prefix[:-1] + "0"


# ---------------------------------------------------------------- state bytes


def encode_state(reducer: Reducer, state: Any) -> bytes:
    """Canonical JSON of a state, or ValidationError naming the part that is not JSON."""
    if reducer.state_type is None:
        _check_plain_json(state, "state", 0)
    try:
        raw = _encode_sorted(state)
    except (msgspec.EncodeError, TypeError, OverflowError, UnicodeEncodeError) as exc:
        raise ValidationError("state", f"cannot be saved as JSON: {exc}",
                              "snapshot states must be JSON: dict, list, str, int, float, bool, None "
                              "(or set state_type on the reducer)") from None
    if len(raw) > MAX_STATE_BYTES:
        raise LimitExceeded("state", "max_snapshot_state_bytes", MAX_STATE_BYTES, len(raw),
                            "keep less in the state, or set snapshot_every = None")
    return raw


def decode_state(reducer: Reducer, raw: bytes) -> Any:
    try:
        if reducer.state_type is None:
            return _decode_any(raw)
        return msgspec.json.decode(raw, type=reducer.state_type)
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
        raise CorruptSnapshot(f"state does not decode: {exc}") from None


def _check_plain_json(value: Any, path: str, depth: int) -> None:
    """Snapshots must come back equal: only types that JSON round-trips exactly."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ValidationError(path, f"{value!r} cannot be saved in a snapshot", "use null or a string")
        return
    if depth > 256:
        raise LimitExceeded(path, "max_snapshot_depth", 256, depth, "flatten the state")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ValidationError(f"{path}.{key!r}", "snapshot state keys must be strings",
                                      "convert the key to a string")
            _check_plain_json(item, f"{path}.{key}", depth + 1)
        return
    if kind is list:
        for index, item in enumerate(value):
            _check_plain_json(item, f"{path}[{index}]", depth + 1)
        return
    fix = ("a tuple comes back as a list: use a list" if kind is tuple else
           "snapshot states must be JSON (dict, list, str, int, float, bool, None); for Structs or "
           "dataclasses set state_type on the reducer; or set snapshot_every = None")
    raise ValidationError(path, f"{kind.__name__} is not JSON, so the state cannot be snapshotted", fix)


# ---------------------------------------------------------------- records


def encode_record(header: Snapshot, state_raw: bytes) -> bytes:
    header_raw = _encode_sorted(header)
    digest = hashlib.sha256(header_raw).hexdigest().encode()
    return FORMAT_TAG + b" " + digest + b"\n" + header_raw + b"\n" + state_raw


def decode_record(key: str, raw: bytes) -> tuple[Snapshot, bytes]:
    """The header and state bytes of a stored record; CorruptSnapshot when any check fails."""
    first, sep, rest = raw.partition(b"\n")
    header_raw, sep2, state_raw = rest.partition(b"\n")
    if not (sep and sep2) or not first.startswith(FORMAT_TAG + b" "):
        raise CorruptSnapshot("not a chronik snapshot record")
    if hashlib.sha256(header_raw).hexdigest().encode() != first[len(FORMAT_TAG) + 1:]:
        raise CorruptSnapshot("header digest mismatch")
    try:
        header = msgspec.json.decode(header_raw, type=Snapshot)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptSnapshot(f"header does not decode: {exc}") from None
    if header.format != FORMAT_VERSION:
        raise CorruptSnapshot(f"unknown snapshot format {header.format}")
    if header.key != key:
        raise CorruptSnapshot(f"stored under {key!r} but describes {header.key!r}")
    if len(state_raw) != header.state_bytes or hashlib.sha256(state_raw).hexdigest() != header.state_sha256:
        raise CorruptSnapshot("state hash mismatch")
    return header, state_raw


# ---------------------------------------------------------------- finding


def candidates(store: AuxRecords, reducer: Reducer, stream: str, max_version: int | None,
               accepts: Callable[[Snapshot], bool], warn: Callable[[str], None]) -> Iterator[LoadedSnapshot]:
    """Usable snapshots of (reducer, stream) at or below `max_version`, newest first.

    Corrupt and stale ones are skipped with a warning; ones `accepts` refuses (after a time
    travel target) are skipped silently. Stops after MAX_SNAPSHOT_CANDIDATES records."""
    name = reducer.reducer_name
    prefix = snapshot_prefix(name, stream)
    high = _prefix_end(prefix) if max_version is None else snapshot_key(name, stream, max_version + 1)
    for _ in range(MAX_SNAPSHOT_CANDIDATES):
        rows = store.aux_range(SNAPSHOT_KIND, prefix, high, reverse=True, limit=1)
        if not rows:
            return
        key, raw = rows[0]
        high = key
        try:
            header, state_raw = decode_record(key, raw)
        except CorruptSnapshot as problem:
            warn(f"snapshot {key} is corrupt ({problem}); ignored")
            continue
        if header.reducer_version != reducer.version:
            warn(f"snapshot {key} is stale (made by {name}@{header.reducer_version}, replaying with "
                 f"{reducer.label}); ignored")
            continue
        if not accepts(header):
            continue
        try:
            state = decode_state(reducer, state_raw)
        except CorruptSnapshot as problem:
            warn(f"snapshot {key} is corrupt ({problem}); ignored")
            continue
        yield LoadedSnapshot(header, state)
    warn(f"looked at {MAX_SNAPSHOT_CANDIDATES} snapshots of {name} on {stream} without a usable one; "
         f"replaying from an older point")


def list_snapshots(source: Store | StoreOwner, reducer: Reducer, stream: str) -> list[SnapshotStatus]:
    """Every stored snapshot of (reducer, stream), newest first, with its status."""
    store = store_of(source)
    rules.check_stream(stream, "stream", limits_of(source))
    prefix = snapshot_prefix(reducer.reducer_name, stream)
    result = []
    for key, raw in store.aux_range(SNAPSHOT_KIND, prefix, _prefix_end(prefix), reverse=True,
                                    limit=MAX_SNAPSHOT_CANDIDATES * 4):
        try:
            header, _ = decode_record(key, raw)
        except CorruptSnapshot as problem:
            result.append(SnapshotStatus(key, "corrupt", str(problem), None))
            continue
        if header.reducer_version != reducer.version:
            result.append(SnapshotStatus(key, "stale", f"reducer version {header.reducer_version}", header))
        else:
            result.append(SnapshotStatus(key, "ok", "", header))
    return result


# ---------------------------------------------------------------- saving


def save_snapshot(store: AuxRecords, reducer: Reducer, stream: str, state: Any, *, version: int,
                  position: int, event_hash: str, max_time: str) -> Snapshot | None:
    """Save `state` as of `version` and prune all but the newest keep_snapshots, atomically.
    Returns None, saving nothing, when keep_snapshots newer ones exist (it would be pruned)."""
    state_raw = encode_state(reducer, state)
    header = Snapshot(format=FORMAT_VERSION, reducer=reducer.reducer_name,
                      reducer_version=reducer.version, stream=stream, version=version,
                      position=position, event_hash=event_hash, max_time=max_time,
                      created=codec.format_time(datetime.now(UTC)),
                      state_sha256=hashlib.sha256(state_raw).hexdigest(), state_bytes=len(state_raw))
    key = header.key
    prefix = snapshot_prefix(reducer.reducer_name, stream)
    existing = [k for k, _ in store.aux_range(SNAPSHOT_KIND, prefix, _prefix_end(prefix), reverse=True,
                                              limit=reducer.keep_snapshots + PRUNE_LOOKAHEAD)]
    kept = sorted({*existing, key}, reverse=True)[:reducer.keep_snapshots]
    if key not in kept:
        return None
    changes = [AuxChange(SNAPSHOT_KIND, key, encode_record(header, state_raw))]
    changes += [AuxChange(SNAPSHOT_KIND, old, None) for old in existing if old not in kept]
    store.aux_write(changes)
    log.debug("saved snapshot %s (%d bytes)", key, len(state_raw))
    return header
