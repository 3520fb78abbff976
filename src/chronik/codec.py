"""Canonical bytes, hashing, ids and time: the byte-level definitions every store shares.

docs/formats.md is the prose version of this module; keep them in step.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from hashlib import sha256
from typing import Any

import msgspec

from chronik.errors import LimitExceeded, ValidationError

# Format version of the hash input. A new canonical form gets a new tag, never a silent change.
HASH_TAG = b"chronik.event.v1\x00"
GENESIS_HASH = "0" * 64

_encode = msgspec.json.Encoder(order="sorted").encode
_decode_object = msgspec.json.Decoder(dict).decode


# ---------------------------------------------------------------- canonical JSON


def canonical_json(value: Any, field: str, max_depth: int) -> bytes:
    """Canonical bytes of a JSON object: UTF-8, sorted keys, no whitespace.

    Raises ValidationError naming `field` for anything that is not plain JSON: non-str keys,
    NaN/Infinity, lone surrogates, sets, objects, or nesting deeper than `max_depth`.
    """
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be a JSON object, got {type(value).__name__}",
                              "pass a dict such as {\"key\": \"value\"}")
    if not value:
        return b"{}"  # the usual meta, on every append: nothing to walk or encode
    if not _is_plain_json(value, 1, max_depth):
        _check_json_value(value, field, 1, max_depth)  # finds the problem and names its path
    try:
        return _encode(value)
    except UnicodeEncodeError as exc:
        raise ValidationError(field, "contains a string that is not valid Unicode (lone surrogate)",
                              "remove or replace the invalid characters") from exc
    except (msgspec.EncodeError, OverflowError, TypeError) as exc:
        raise ValidationError(field, f"cannot be encoded as JSON: {exc}") from exc


def _check_json_value(value: Any, path: str, depth: int, max_depth: int) -> None:
    # Walks once; msgspec would silently turn NaN into null and recurse without a bound.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ValidationError(path, f"{value!r} is not a JSON number",
                                  "NaN and Infinity are rejected; use null or a string")
        return
    if kind is dict:
        if depth > max_depth:
            raise LimitExceeded(path, "max_depth", max_depth, depth, "flatten the structure")
        for key, item in value.items():
            if type(key) is not str:
                raise ValidationError(f"{path}.{key!r}", "object keys must be strings",
                                      "convert the key to a string")
            _check_json_value(item, f"{path}.{key}", depth + 1, max_depth)
        return
    if kind is list or kind is tuple:
        if depth > max_depth:
            raise LimitExceeded(path, "max_depth", max_depth, depth, "flatten the structure")
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]", depth + 1, max_depth)
        return
    raise ValidationError(path, f"{kind.__name__} is not a JSON type",
                          "use dict, list, str, int, float, bool or None")


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _is_plain_json(value: Any, depth: int, max_depth: int) -> bool:
    """The fast yes/no form of `_check_json_value` (same rules, no paths built): the hot path
    of every append. On False, `_check_json_value` walks again to raise the precise error."""
    if depth > max_depth:
        return False
    if type(value) is dict:
        for key in value:
            if type(key) is not str:
                return False
        items = value.values()
    else:  # list or tuple
        items = value
    plain = _PLAIN_SCALARS
    for item in items:
        kind = type(item)
        if kind in plain:
            continue
        if kind is dict or kind is list or kind is tuple:
            if not _is_plain_json(item, depth + 1, max_depth):
                return False
        elif kind is not float or not math.isfinite(item):
            return False
    return True


# decode_object(raw) -> dict: decode canonical JSON written by chronik (trusted, already
# validated). Bound directly to the decoder: it runs once or twice per event read.
decode_object = _decode_object


def encode_json(value: Any) -> bytes:
    """Sorted-key compact JSON for values chronik itself produces (records, reports)."""
    return _encode(value)


def parse_json_text(text: bytes | str, field: str, max_depth: int = 64) -> Any:
    """Parse untrusted JSON text strictly: valid UTF-8, no duplicate keys, no NaN/Infinity,
    nesting within `max_depth`. Used for every text input (CLI, files, HTTP)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(field, f"is not valid UTF-8 (byte {exc.start})",
                                  "save the input as UTF-8") from exc
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicate_keys,
                           parse_constant=_reject_constant)
    except ValidationError as exc:
        raise ValidationError(field, exc.problem, exc.fix) from None
    except RecursionError:
        raise LimitExceeded(field, "max_depth", max_depth, max_depth + 1, "flatten the structure") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(field, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              "check quoting; JSON needs double quotes") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ValidationError(field, f"is not usable JSON: {exc}", "use a shorter number or a string") from None
    # Scalars too: a number such as 1e400 parses to infinity.
    _check_json_value(value, field, 1, max_depth)
    return value


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = None
        for key, _ in pairs:
            if key in seen:
                duplicate = key
                break
            seen.add(key)
        raise ValidationError("json", f"duplicate key {duplicate!r}", "give each key once")
    return result


def _reject_constant(name: str) -> Any:
    raise ValidationError("json", f"{name} is not a JSON number", "use null or a string")


# ---------------------------------------------------------------- the chain


def event_hash(position: int, stream: str, version: int, type_: str, id_: str, time: str,
               data: bytes, meta: bytes, prev: str) -> str:
    """sha256(tag | canonical bytes of the recorded event without hash and sig | prev), hex.

    The canonical record is a JSON object with sorted keys; data and meta are already
    canonical, so they are spliced in as raw bytes rather than encoded twice.
    """
    # Byte formatting of the sorted-key object, each string through the JSON encoder so that
    # any character is escaped exactly as msgspec would (test_codec checks the equivalence).
    record = _RECORD_FORMAT % (data, _encode(id_), meta, position, _encode(prev), _encode(stream),
                               _encode(time), _encode(type_), version)
    return sha256(HASH_TAG + record + b"\x00" + prev.encode()).hexdigest()


_RECORD_FORMAT = (b'{"data":%b,"id":%b,"meta":%b,"position":%d,"prev":%b,"stream":%b,"time":%b,'
                  b'"type":%b,"version":%d}')


def hash_of_event(event: Any) -> str:
    """Recompute the hash of a recorded event (anything with the Event fields)."""
    return event_hash(event.position, event.stream, event.version, event.type, event.id, event.time,
                      _encode(event.data), _encode(event.meta), event.prev)


# ---------------------------------------------------------------- ids


_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=@-]*")


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits.

    The bits come from a generator seeded from os.urandom (and reseeded in every forked child,
    so two processes never share a sequence): ids must be unique, not unpredictable, and a
    system call per id cost more than the rest of an append's validation.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | _random_bits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the UUID
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_id_random = random.Random(os.urandom(32))
_random_bits = _id_random.getrandbits


def _reseed_ids() -> None:
    _id_random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed_ids)


def check_event_id(value: Any, field: str, max_chars: int) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}",
                              "pass a UUID or a string id")
    if len(value) > max_chars:
        raise LimitExceeded(field, "max_id_chars", max_chars, len(value), "use a shorter id")
    if not _ID_PATTERN.fullmatch(value):
        raise ValidationError(field, f"{value!r} has characters outside [A-Za-z0-9_.:+=@-]",
                              "use a UUID, a hex digest or a similar token")
    return value


# ---------------------------------------------------------------- time


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits and Z: 2026-11-22T01:15:09.123456Z.

    Fixed width, so text order equals time order for times in this form (and only this form).
    """
    if moment.tzinfo is None:
        raise ValidationError("time", "has no time zone", "use an aware datetime, e.g. datetime.now(UTC)")
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # fast path: isoformat() gives the same text for 4-digit years
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    # Not strftime's %Y, which does not pad years before 1000 to four digits.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond:06d}Z")


_TIME_PATTERN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_AGO_PATTERN = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: datetime | date | str, field: str = "time", now: datetime | None = None) -> datetime:
    """Parse a time given by a person or a program into an aware UTC datetime.

    Accepts aware datetimes, RFC 3339 strings with a zone (Z or +hh:mm, up to nine fractional
    digits; digits beyond microseconds are truncated), plain dates (UTC midnight) and
    durations ago such as "90s", "15m", "2h", "7d", "1w". A time without a zone is refused,
    because guessing one is how ledgers end up out of order.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(field, "datetime has no time zone",
                                  "use an aware datetime, e.g. datetime(..., tzinfo=UTC)")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError(field, f"{value!r} is out of range in UTC",
                                  "use a time between years 1 and 9999 in UTC") from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a time, got {type(value).__name__}",
                              "use RFC 3339 such as 2026-11-22T01:15:09Z")
    text = value.strip()
    match = _TIME_PATTERN.fullmatch(text)
    if match:
        return _time_from_match(match, field)
    ago = _AGO_PATTERN.fullmatch(text)
    if ago:
        base = now or datetime.now(UTC)
        try:
            return base - timedelta(**{_AGO_UNITS[ago.group(2)]: int(ago.group(1))})
        except OverflowError:
            raise ValidationError(field, f"{value!r} is too far in the past",
                                  "use an age that ends after the year 1") from None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    raise ValidationError(field, f"{value!r} is not a time with a zone",
                          "use RFC 3339 such as 2026-11-22T01:15:09Z, a date, or an age like 2h or 7d")


def _time_from_match(match: re.Match[str], field: str) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if zone in ("Z", "z"):
            tz = UTC
        else:
            sign = 1 if zone[0] == "+" else -1
            tz = _fixed_zone(sign * (int(zone[1:3]) * 60 + int(zone[4:6])))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          micros, tzinfo=tz)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationError(field, f"{match.group(0)!r} is not a valid time: {exc}") from None


def _fixed_zone(offset_minutes: int):
    from datetime import timezone

    return timezone(timedelta(minutes=offset_minutes))


def canonical_time(value: datetime | date | str, field: str = "time") -> str:
    """Parse then format: the only form in which chronik compares times as text."""
    return format_time(parse_time(value, field))
