"""The interchange record: one recorded event as export writes it and import reads it.

The line format itself — key order, `sig` always present in the interchange form, the framing
keys of a ledger file — is defined once, in `chronik.stores.jsonl.format`; this module writes
and reads it. Exporting the same events from any store gives the same bytes. Reading is strict:
every field is checked as the ledger checks new input (names, id, time form, hash form, limits)
and errors name the line and the field. A line in another key order, with whitespace, without
`sig`, or with the framing keys of a jsonl ledger file is accepted too (parsed the slow, strict
way: duplicate keys, NaN and invalid UTF-8 are refused); `data` and `meta` are re-encoded
canonically, which is what the hash covers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from chronik import codec
from chronik.errors import LimitExceeded, ValidationError
from chronik.limits import Limits
from chronik.model import Event
from chronik.rules import MAX_COUNT, STREAM_FIX, STREAM_PATTERN, TYPE_FIX, TYPE_PATTERN
from chronik.stores.jsonl.format import (
    FIELDS,
    InterchangeRecord,
    LooseRecord,
    decode_interchange,
    encode,
    event_of,
    interchange_of,
    strip_framing,
)

__all__ = ["FIELDS", "InterchangeRecord", "record_of", "export_line", "parse_line", "load_line"]

_TIME_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HASH_FORM = re.compile(r"[0-9a-f]{64}")
# A signature (HMAC, optionally prefixed by its key id) is a short printable token.
_SIG_FORM = re.compile(r"[A-Za-z0-9_.:+=/-]{1,512}")

record_of = interchange_of


def export_line(event: Event) -> bytes:
    """The JSONL export line of `event`, without its newline."""
    return encode(interchange_of(event))


def parse_line(line: bytes, where: str, limits: Limits) -> Event:
    """The recorded event on one line of an export (or one element of a JSON array export).

    Raises ValidationError naming `where` (e.g. "line 12") and the field."""
    try:
        record = decode_interchange(line)
    except msgspec.DecodeError:
        record = None
    # Re-encoding gives the same bytes only for a line in export form (no duplicate key, no
    # whitespace, keys in order); data and meta likewise only when canonical.
    if record is not None and encode(record) == line:
        data, meta = bytes(record.data), bytes(record.meta)
        data_value, meta_value = _canonical_object(data, limits), _canonical_object(meta, limits)
        if data_value is not None and meta_value is not None:
            return _checked(record, data_value, meta_value, len(data) + len(meta), where, limits)
    return _parse_loose(line, where, limits)


def load_line(line: bytes, where: str, limits: Limits) -> Event:
    """The event on a line that `parse_line` has already accepted (the same bytes): decoded
    without the checks again."""
    try:
        record = decode_interchange(line)
    except msgspec.DecodeError:
        return parse_line(line, where, limits)
    return event_of(record, codec.decode_object(record.data), codec.decode_object(record.meta), record.sig)


def _canonical_object(raw: bytes, limits: Limits) -> dict[str, Any] | None:
    """The object in `raw` when `raw` is its canonical JSON within the depth limit, else None."""
    if raw == b"{}":
        return {}
    try:
        value = codec.decode_object(raw)
    except msgspec.DecodeError:
        return None
    if raw.count(b"{") + raw.count(b"[") > limits.max_depth:  # may be too deep: walk it
        try:
            codec.canonical_json(value, "data", limits.max_depth)
        except ValidationError:
            return None
    return value if codec.encode_json(value) == raw else None


def _parse_loose(line: bytes, where: str, limits: Limits) -> Event:
    value = codec.parse_json_text(line, where, limits.max_depth + 1)
    if not isinstance(value, dict):
        raise ValidationError(where, "is not a JSON object",
                              "give one recorded event per line, as `chronik export` writes it")
    try:
        record = msgspec.convert(strip_framing(value), LooseRecord)
    except msgspec.ValidationError as exc:
        raise ValidationError(where, f"is not a recorded event: {exc}",
                              f"give the fields {', '.join(FIELDS)}") from None
    data = codec.canonical_json(record.data, f"{where}.data", limits.max_depth)
    meta = codec.canonical_json(record.meta, f"{where}.meta", limits.max_depth)
    return _checked(record, record.data, record.meta, len(data) + len(meta), where, limits)


def _checked(record: InterchangeRecord | LooseRecord, data: dict[str, Any], meta: dict[str, Any],
             size_bytes: int, where: str, limits: Limits) -> Event:
    for name in ("position", "version"):
        number = getattr(record, name)
        if not 1 <= number <= MAX_COUNT:
            raise ValidationError(f"{where}.{name}", f"{number} is not from 1 to {MAX_COUNT}",
                                  "positions and versions start at 1")
    _check_name(record.stream, f"{where}.stream", STREAM_PATTERN, "max_stream_name_chars",
                limits.max_stream_name_chars, STREAM_FIX)
    _check_name(record.type, f"{where}.type", TYPE_PATTERN, "max_type_chars", limits.max_type_chars,
                TYPE_FIX)
    codec.check_event_id(record.id, f"{where}.id", limits.max_id_chars)
    _check_time(record.time, f"{where}.time")
    for name in ("prev", "hash"):
        if not _HASH_FORM.fullmatch(getattr(record, name)):
            raise ValidationError(f"{where}.{name}", "is not 64 lower-case hex digits",
                                  "give the SHA-256 hex digest as `chronik export` writes it")
    if record.sig is not None and not _SIG_FORM.fullmatch(record.sig):
        raise ValidationError(f"{where}.sig", "is not a signature token",
                              "give null or the signature as `chronik export` writes it")
    if size_bytes > limits.max_event_bytes:
        raise LimitExceeded(f"{where}.data", "max_event_bytes", limits.max_event_bytes, size_bytes,
                            "the destination's limits are lower than the source's")
    return event_of(record, data, meta, record.sig)


def _check_name(value: str, field: str, pattern: re.Pattern[str], limit_name: str, max_chars: int,
                fix: str) -> None:
    if len(value) > max_chars:
        raise LimitExceeded(field, limit_name, max_chars, len(value), fix)
    if not pattern.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not valid", fix)


def _check_time(value: str, field: str) -> None:
    fix = "use the recorded form, RFC 3339 UTC with six fractional digits: 2026-11-22T01:15:09.123456Z"
    if not _TIME_FORM.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not a recorded time", fix)
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        raise ValidationError(field, f"{value!r} is not a valid time", fix) from None
