"""The JSON Lines line format: the one definition used by the store, export/import and verify.

A line is one recorded event as a compact JSON object with its keys in this order::

    {"position":1,"stream":"order:1","version":1,"type":"created","id":"0192…","time":"2026-11-22T01:15:09.123456Z",
     "data":{"n":1},"meta":{},"prev":"000…","hash":"9f2…"}

- `data` and `meta` are the event's canonical JSON bytes (sorted keys, no whitespace) spliced in
  unchanged, so `codec.event_hash` recomputes every hash from the line alone.
- Compact JSON never contains a raw newline byte, so a line is exactly one record and a file is
  `cat`-, `grep`- and `jq`-able as it stands.

Two forms share these fields (`LineFields`), in the same order:

- the store line (`Record`, a `jsonl:` ledger file): `sig` only when the event is signed, then
  the framing keys, each only when not 0:
  - `more`: on every line of a multi-event commit but its last, the number of lines of the same
    commit still to follow (a commit of three reads `more: 2`, `more: 1`, none) — ADR 0007;
  - `skip`: on the first line after positions that retention archived, how many.
  Framing is not part of the event or its hash.
- the interchange line (`InterchangeRecord`, what `chronik export` writes and `import` reads):
  `sig` always present (null when unsigned), no framing, so the same events give the same bytes
  from every store.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chronik import codec
from chronik.model import Event

# The keys of a line, in order (the framing keys of a store line follow them).
FIELDS = ("position", "stream", "version", "type", "id", "time", "data", "meta", "prev", "hash", "sig")
FRAMING_KEYS = ("more", "skip")
# What decoding a line that is not a record raises.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


class LineFields(msgspec.Struct):
    """The fields every line form has first, in key order; data/meta are canonical JSON bytes."""

    position: int
    stream: str
    version: int
    type: str
    id: str
    time: str
    data: msgspec.Raw
    meta: msgspec.Raw
    prev: str
    hash: str


class Record(LineFields, omit_defaults=True, forbid_unknown_fields=True):
    """One line of a ledger file: defaults (no sig, no framing) are omitted."""

    sig: str | None = None
    more: int = 0
    # Positions archived (removed by retention) just before this line; 0, and omitted, otherwise.
    skip: int = 0


class InterchangeRecord(LineFields, forbid_unknown_fields=True):
    """One export line: `sig` always written."""

    sig: str | None = None


class LooseRecord(msgspec.Struct, forbid_unknown_fields=True):
    """The same fields parsed from a JSON object in any form (any key order, whitespace), with
    data and meta as values: the slow path of import."""

    position: int
    stream: str
    version: int
    type: str
    id: str
    time: str
    data: dict[str, Any]
    meta: dict[str, Any]
    prev: str
    hash: str
    sig: str | None = None


encode = msgspec.json.Encoder().encode
_decode_record = msgspec.json.Decoder(Record).decode
decode_records = msgspec.json.Decoder(Record).decode_lines
# Event ignores the framing keys, so a plain read decodes store lines straight into Events.
decode_event = msgspec.json.Decoder(Event).decode
decode_events = msgspec.json.Decoder(Event).decode_lines
decode_interchange = msgspec.json.Decoder(InterchangeRecord).decode


def strip_framing(value: dict[str, Any]) -> dict[str, Any]:
    """A line parsed as a plain object, without the store's framing keys."""
    for key in FRAMING_KEYS:
        if isinstance(value.get(key), int):
            del value[key]
    return value


def record_line(record: Record) -> bytes:
    """The bytes of one store line, newline included."""
    line = encode(record) + b"\n"
    assert line.count(b"\n") == 1, "a record must be exactly one line"
    return line


def record_of_event(event: Event, more: int = 0) -> Record:
    """The store line of an already recorded event (import, copy)."""
    return Record(event.position, event.stream, event.version, event.type, event.id, event.time,
                  msgspec.Raw(codec.encode_json(event.data)), msgspec.Raw(codec.encode_json(event.meta)), event.prev,
                  event.hash, event.sig, more)


def interchange_of(event: Event) -> InterchangeRecord:
    """The export line of a recorded event."""
    return InterchangeRecord(event.position, event.stream, event.version, event.type, event.id,
                             event.time, msgspec.Raw(codec.encode_json(event.data)),
                             msgspec.Raw(codec.encode_json(event.meta)), event.prev, event.hash, event.sig)


def event_of(record: LineFields | LooseRecord, data: dict[str, Any], meta: dict[str, Any], sig: str | None) -> Event:
    return Event(record.position, record.stream, record.version, record.type, record.id, record.time,
                 data, meta, record.prev, record.hash, sig)


def decode_line(raw: bytes) -> Record | None:
    """The record on a store line, or None when the line is not one. The record decoder checks
    the JSON syntax of data/meta but skips their bytes unchecked, so UTF-8 is checked first and
    the first byte after: it is cheaper than decoding data and meta twice."""
    try:
        record = _decode_record(raw.decode("utf-8"))
    except DECODE_ERRORS:
        return None
    if not (bytes(record.data).startswith(b"{") and bytes(record.meta).startswith(b"{")):
        return None
    return record


def looks_like_a_damaged_record(raw: bytes) -> bool:
    """A whole, newline-terminated line shaped like a record that does not decode: a torn write
    leaves a partial line or zeros, not this, so it was written, acknowledged and changed since."""
    line = raw.rstrip(b"\r\n")
    return (line.endswith(b"}") and b"\x00" not in line
            and (line.startswith(b'{"position":') or b'"hash":"' in line))


def frame(records: list[Record]) -> list[Record]:
    """Set the `more` framing of one commit: each line counts the lines still to follow."""
    total = len(records)
    for index, record in enumerate(records):
        record.more = total - index - 1
    return records
