"""The pack's time: RFC 3339 timestamps at nanosecond precision, and their sortable keys.

Extension events carry the time of the fact in the form Sindri writes (chrono's AutoSi: 0, 3,
6 or 9 fractional digits, `Z`), on both backends, so the reducer can apply Sindri's ordering
rule to imported events. A *key* is that time as fixed-width UTC text with nine fractional
digits, so that text order is time order at nanosecond precision.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from chronik.errors import ValidationError

# Dates already checked: a ledger spans few distinct days, so a small cache serves nearly
# every line; bounded so a long-running reader of hostile data cannot grow it without end.
VALID_DATE_CACHE_SIZE = 4096

_Z_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")
_ANY_FORM = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")


def time_key(text: str) -> str | None:
    """A timestamp's key; None when it is not an RFC 3339 time chrono would accept."""
    if _Z_FORM.fullmatch(text):
        if not _valid_date(text[:10]):
            return None
        if text[11:13] > "23" or text[14:16] > "59" or text[17:19] > "59":
            return None
        fraction = text[20:-1] if len(text) > 20 else ""
        return f"{text[:19]}.{fraction:0<9}"
    match = _ANY_FORM.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        if zone not in "Zz":
            offset = (int(zone[1:3]) * 60 + int(zone[4:6])) * (1 if zone[0] == "+" else -1)
            if int(zone[1:3]) > 23 or int(zone[4:6]) > 59:
                return None
            moment -= timedelta(minutes=offset)
    except (ValueError, OverflowError):
        return None
    if not 1 <= moment.year <= 9999:
        return None
    return f"{iso_seconds(moment)}.{(fraction or '')[:9]:0<9}"


def iso_seconds(moment: datetime) -> str:
    """YYYY-MM-DDTHH:MM:SS with a four-digit year (strftime drops leading zeros of early years)."""
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")


@lru_cache(maxsize=VALID_DATE_CACHE_SIZE)
def _valid_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def key_to_text(key: str) -> str:
    """A key back to the text chrono writes (SecondsFormat::AutoSi, Z): 0, 3, 6 or 9 digits."""
    nanos = key[20:]
    if nanos == "000000000":
        return key[:19] + "Z"
    if nanos.endswith("000000"):
        return f"{key[:19]}.{nanos[:3]}Z"
    if nanos.endswith("000"):
        return f"{key[:19]}.{nanos[:6]}Z"
    return f"{key}Z"


def now_text(now_ns: int | None = None) -> str:
    """The current time as Sindri writes it (nanosecond clock, AutoSi)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return key_to_text(f"{whole}.{nanos:09d}")


def bound_key(value: datetime | str, field: str) -> str:
    """A time bound (an aware datetime or RFC 3339 text) as a key; ValidationError names `field`."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(field, "a time without a zone", "add Z or an offset such as +02:00")
        moment = value.astimezone(UTC)
        return f"{iso_seconds(moment)}.{moment.microsecond * 1000:09d}"
    key = time_key(value)
    if key is None:
        raise ValidationError(field, f"{value!r} is not an RFC 3339 time", "write e.g. 2026-11-22T01:15:09Z")
    return key


def bound_from_text(value: str | None, field: str) -> str | None:
    """A bound as a person writes it: RFC 3339 (kept to the nanosecond), a date, or an age
    such as 2h or 7d (chronik.codec.parse_time); None when absent."""
    if value is None:
        return None
    exact = time_key(value)
    if exact is not None:
        return exact
    from chronik import codec

    return bound_key(codec.parse_time(value, field), field)
