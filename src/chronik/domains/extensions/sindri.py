"""Reading and writing a real Sindri v3 status ledger (`~/.sindri/status_ledger.jsonl`).

Reads give the answers Sindri's own code gives (REFERENCE.md section 1, testdata/sindri):
latest status = greatest timestamp at nanosecond precision, ties to the first line; history =
the last N lines of an extension in file order; query with reverse + limit = the last N matching
lines in file order; compaction keeps a line newer than now - days or the latest of its extension.

Where Sindri is defective, this module is not:
- a malformed line is reported with its line number and skipped, never fatal;
- appends and compaction take the same `flock` on the ledger file itself, compaction holds it
  while it rewrites, and an appender that finds the file replaced (another inode) after locking
  reopens it, so no append is lost to a concurrent compaction;
- lines are written with one `write` of a complete line and fsynced before returning.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from chronik.domains.extensions.events import CLI_VERSION, Envelope, event_fields, version_of
from chronik.fileio import write_file_durably

DEFAULT_PATH = "~/.sindri/status_ledger.jsonl"
# Bad lines kept in a report are cut to this many characters.
MAX_BAD_LINE_CHARS = 200
MAX_LINE_BYTES = 1 << 20

_decode_line = msgspec.json.Decoder(Envelope).decode
_decode_lines = msgspec.json.Decoder(list[Envelope]).decode
_encode = msgspec.json.Encoder().encode

_Z_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")
_ANY_FORM = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")
_valid_dates: set[str] = set()


# ---------------------------------------------------------------- timestamps


def time_key(text: str) -> str | None:
    """A timestamp as fixed-width UTC text with nine fractional digits, so text order is time
    order at nanosecond precision; None when it is not an RFC 3339 time chrono would accept."""
    if _Z_FORM.fullmatch(text):
        if text[:10] not in _valid_dates and not _valid_date(text[:10]):
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
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S') if moment.year >= 1000 else _iso(moment)}." \
           f"{(fraction or '')[:9]:0<9}"


def _iso(moment: datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")


def _valid_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    _valid_dates.add(text)
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
    """A --since/--until bound (aware datetime or RFC 3339 text) as a time key."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: a time without a zone")
        moment = value.astimezone(UTC)
        return f"{_iso(moment)}.{moment.microsecond * 1000:09d}"
    key = time_key(value)
    if key is None:
        raise ValueError(f"{field}: {value!r} is not an RFC 3339 time")
    return key


# ---------------------------------------------------------------- reading


class Entry(msgspec.Struct, frozen=True, gc=False):
    """A good line: its 1-based line number, time key, envelope and verbatim bytes."""

    line: int
    key: str
    envelope: Envelope
    raw: bytes

    @property
    def name(self) -> str:
        return self.envelope.extension_name

    @property
    def type(self) -> str:
        return self.envelope.event.__struct_config__.tag  # type: ignore[return-value]

    @property
    def version(self) -> str | None:
        return version_of(self.type, self.envelope.event)


class BadLine(msgspec.Struct, frozen=True):
    """A line that is not a Sindri envelope: where, why, and its start."""

    line: int
    error: str
    text: str


class Contents(msgspec.Struct, frozen=True):
    entries: list[Entry]
    bad: list[BadLine]
    size_bytes: int


def parse_lines(data: bytes) -> Contents:
    """Every line of a ledger file: good ones as entries, the others reported, blank ones skipped."""
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    numbered = [(number, raw) for number, raw in enumerate(raw_lines, 1) if raw.strip()]
    envelopes: list[Envelope | None]
    try:  # one decode for the whole file; any bad line sends us line by line
        envelopes = _decode_lines(b"[" + b",".join(raw for _, raw in numbered) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        envelopes = [None] * len(numbered)
    entries: list[Entry] = []
    bad: list[BadLine] = []
    for (number, raw), envelope in zip(numbered, envelopes, strict=True):
        if envelope is None:
            try:
                envelope = _decode_line(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                bad.append(_bad(number, str(exc), raw))
                continue
        key = time_key(envelope.timestamp)
        if key is None:
            bad.append(_bad(number, f"timestamp {envelope.timestamp!r} is not an RFC 3339 time", raw))
            continue
        entries.append(Entry(number, key, envelope, raw))
    return Contents(entries, bad, len(data))


class _Light(msgspec.Struct, frozen=True, gc=False):
    timestamp: str
    extension_name: str


_decode_light = msgspec.json.Decoder(list[_Light]).decode
_decode_light_line = msgspec.json.Decoder(_Light).decode


class Latest(msgspec.Struct, frozen=True):
    """What status needs: each extension's latest entry (fully validated) and event count."""

    entries: dict[str, Entry]
    counts: dict[str, int]
    bad: list[BadLine]


def scan_latest(data: bytes) -> Latest:
    """latest_entries() without decoding every event in full: read only timestamp and name of
    each line, then validate the winners; if a winner is malformed, fall back to a full parse.
    Lines whose timestamp or name cannot be read are reported; doctor validates every line."""
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    numbered = [(number, raw) for number, raw in enumerate(raw_lines, 1) if raw.strip()]
    try:
        light: list[_Light | None] = _decode_light(b"[" + b",".join(raw for _, raw in numbered) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        light = [None] * len(numbered)
    best: dict[str, tuple[str, int]] = {}
    counts: dict[str, int] = {}
    bad: list[BadLine] = []
    for index, item in enumerate(light):
        if item is None:
            try:
                item = _decode_light_line(numbered[index][1])
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                bad.append(_bad(numbered[index][0], str(exc), numbered[index][1]))
                continue
        stamp = item.timestamp
        key = stamp[:29] if len(stamp) == 30 and stamp[29] == "Z" and stamp[19] == "." else time_key(stamp)
        if key is None:
            bad.append(_bad(numbered[index][0], f"timestamp {stamp!r} is not an RFC 3339 time", numbered[index][1]))
            continue
        name = item.extension_name
        counts[name] = counts.get(name, 0) + 1
        current = best.get(name)
        if current is None or key > current[0]:
            best[name] = (key, index)
    entries: dict[str, Entry] = {}
    for name, (key, index) in best.items():
        number, raw = numbered[index]
        try:
            envelope = _decode_line(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = None
        if envelope is None or time_key(envelope.timestamp) != key or envelope.extension_name != name:
            contents = parse_lines(data)  # a malformed winner: the exact answer needs every line
            full_counts: dict[str, int] = {}
            for entry in contents.entries:
                full_counts[entry.name] = full_counts.get(entry.name, 0) + 1
            return Latest(latest_entries(contents.entries), full_counts, contents.bad)
        entries[name] = Entry(number, key, envelope, raw)
    return Latest(entries, counts, bad)


def _bad(number: int, error: str, raw: bytes) -> BadLine:
    text = raw.decode("utf-8", "replace")
    return BadLine(number, error, text[:MAX_BAD_LINE_CHARS] + ("…" if len(text) > MAX_BAD_LINE_CHARS else ""))


# ---------------------------------------------------------------- queries (pure, on entries)


class LatestStatus(msgspec.Struct, frozen=True):
    """Sindri's ExtensionStatus."""

    extension_name: str
    current_state: str
    last_event_time: str
    last_event_id: str
    version: str | None


def latest_entries(entries: Iterable[Entry]) -> dict[str, Entry]:
    """Each extension's event with the greatest timestamp; among equal ones the first line."""
    latest: dict[str, Entry] = {}
    for entry in entries:
        name = entry.envelope.extension_name
        current = latest.get(name)
        if current is None or entry.key > current.key:
            latest[name] = entry
    return latest


def latest_status(entries: Iterable[Entry]) -> dict[str, LatestStatus]:
    """get_all_latest_status(), sorted by name."""
    latest = latest_entries(entries)
    return {name: LatestStatus(name, entry.envelope.state_after, key_to_text(entry.key),
                               entry.envelope.event_id, entry.version)
            for name, entry in sorted(latest.items())}


def history(entries: Sequence[Entry], name: str, limit: int | None = None) -> list[Entry]:
    """get_extension_history(name, limit): the last `limit` events of `name` in file order."""
    found = [entry for entry in entries if entry.envelope.extension_name == name]
    return found if limit is None else found[max(len(found) - limit, 0):]


def query(entries: Sequence[Entry], extension_name: str | None = None, event_types: Sequence[str] | None = None,
          since: str | None = None, until: str | None = None, limit: int | None = None,
          reverse: bool = False) -> list[Entry]:
    """query_events: filters ANDed, inclusive time bounds (keys), file order; with a limit,
    `reverse` keeps the last N (still in file order), else the first N."""
    types = None if event_types is None else frozenset(event_types)
    found = [entry for entry in entries
             if (extension_name is None or entry.envelope.extension_name == extension_name)
             and (types is None or entry.type in types)
             and (since is None or entry.key >= since)
             and (until is None or entry.key <= until)]
    if limit is None:
        return found
    return found[max(len(found) - limit, 0):] if reverse else found[:limit]


def stats(contents: Contents) -> dict[str, Any]:
    """get_stats(): totals, file size, oldest/newest by time (not by line), counts per type."""
    keys = [entry.key for entry in contents.entries]
    counts: dict[str, int] = {}
    for entry in contents.entries:
        counts[entry.type] = counts.get(entry.type, 0) + 1
    return {"total_events": len(contents.entries), "file_size_bytes": contents.size_bytes,
            "oldest_timestamp": key_to_text(min(keys)) if keys else None,
            "newest_timestamp": key_to_text(max(keys)) if keys else None,
            "event_type_counts": dict(sorted(counts.items())), "bad_lines": len(contents.bad)}


def envelope_dict(entry: Entry) -> dict[str, Any]:
    """The envelope as Sindri re-serializes it: the timestamp in chrono's form, fields in order."""
    envelope = entry.envelope
    event = {"type": entry.type, **event_fields(envelope.event)}
    return {"event_id": envelope.event_id, "timestamp": key_to_text(entry.key),
            "extension_name": envelope.extension_name, "cli_version": envelope.cli_version,
            "state_before": envelope.state_before, "state_after": envelope.state_after, "event": event}


def export_text(entries: Iterable[Entry]) -> str:
    """export: a pretty JSON array of every envelope in file order (serde_json's pretty form)."""
    import json

    return json.dumps([envelope_dict(entry) for entry in entries], indent=2, ensure_ascii=False)


def compact_keep(entries: Sequence[Entry], retention_days: int, now_key: str) -> list[bool]:
    """Which entries compact(days) keeps: newer than now - days, or the latest of their extension."""
    cutoff = _minus_days(now_key, retention_days)
    latest_ids = {entry.envelope.event_id for entry in latest_entries(entries).values()}
    return [entry.key >= cutoff or entry.envelope.event_id in latest_ids for entry in entries]


def _minus_days(key: str, days: int) -> str:
    moment = datetime.strptime(key[:19], "%Y-%m-%dT%H:%M:%S") - timedelta(days=days)
    return f"{_iso(moment)}.{key[20:]}"


# ---------------------------------------------------------------- writing


def encode_line(envelope: Envelope) -> bytes:
    """One line as Sindri's serde writes it (compact, keys in order, raw UTF-8, then \\n)."""
    return _encode(envelope) + b"\n"


def new_envelope(event: Any, state_before: str | None, state_after: str, event_id: str | None = None,
                 timestamp: str | None = None, cli_version: str = CLI_VERSION) -> Envelope:
    import uuid

    return Envelope(event_id=event_id or str(uuid.uuid4()), timestamp=timestamp or now_text(),
                    extension_name=event.extension_name, cli_version=cli_version,
                    state_before=state_before, state_after=state_after, event=event)


class SindriFile:
    """A Sindri ledger file shared with Sindri itself: same lock, same line format."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        self.path = Path(os.path.expanduser(os.fspath(path))).absolute()

    def read(self) -> Contents:
        """Every line, without a lock (appends are single complete writes; a torn last line
        without its newline is left for its writer and not reported)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Contents([], [], 0)
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            return _with_size(parse_lines(data[:cut]), len(data))
        return parse_lines(data)

    def read_bytes(self) -> bytes:
        """The file up to its last complete line (b"" when it does not exist)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return b""
        return data if not data or data.endswith(b"\n") else data[:data.rfind(b"\n") + 1]

    def append(self, envelopes: Sequence[Envelope]) -> None:
        """Append lines under flock on the file itself; reopen if compaction replaced it."""
        payload = b"".join(encode_line(envelope) for envelope in envelopes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not self._still_current(fd):
                    continue  # renamed over while we waited: the lines go into the new file
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    payload = b"\n" + payload.lstrip(b"\n")  # never glue a line onto a torn one
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                return
            finally:
                os.close(fd)  # releases the lock

    def _still_current(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_ino, on_disk.st_dev) == (mine.st_ino, mine.st_dev)

    def rewrite(self, decide: Any) -> Any:
        """Under the ledger's lock: read the file, let `decide(contents)` return (lines to keep
        as bytes, result), write them to a temp file, fsync, rename over, fsync the directory.
        Appenders block on the lock meanwhile and then find the new inode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not self._still_current(fd):
                    continue
                data = _read_fd(fd)
                if data and not data.endswith(b"\n"):
                    data += b"\n"  # a torn tail is kept, as a line of its own, for doctor to report
                kept, result = decide(parse_lines(data), data)
                # Rewritten under the same flock appenders take; they re-check the inode.
                write_file_durably(self.path, kept)
                return result
            finally:
                os.close(fd)

    def compact(self, retention_days: int = 90, now: str | None = None) -> dict[str, Any]:
        """compact(days) with a pinned `now` (RFC 3339) or the clock; bad lines are kept."""
        now_key = time_key(now) if now else time_key(now_text())
        if now_key is None:
            raise ValueError(f"now: {now!r} is not an RFC 3339 time")

        def decide(contents: Contents, data: bytes) -> tuple[bytes, dict[str, Any]]:
            keep = compact_keep(contents.entries, retention_days, now_key)
            kept_lines = {entry.line for entry, kept in zip(contents.entries, keep, strict=True) if kept}
            kept_lines.update(bad.line for bad in contents.bad)
            lines = [raw for number, raw in enumerate(data.split(b"\n")[:-1], 1) if number in kept_lines]
            removed = len(contents.entries) - sum(keep)
            return b"".join(raw + b"\n" for raw in lines), {
                "removed": removed, "lines_before": len(contents.entries) + len(contents.bad),
                "lines_after": len(lines), "cutoff": key_to_text(_minus_days(now_key, retention_days)),
                "bad_lines_kept": len(contents.bad)}

        return self.rewrite(decide)

    def quarantine(self, side_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Move every bad line into a side file (appended, with its line number), keep the rest."""
        side = Path(side_path) if side_path else self.path.with_name(self.path.name + ".quarantine")

        def decide(contents: Contents, data: bytes) -> tuple[bytes, dict[str, Any]]:
            bad_numbers = {bad.line for bad in contents.bad}
            lines = data.split(b"\n")[:-1]
            if bad_numbers:
                with open(side, "ab") as out:
                    for number in sorted(bad_numbers):
                        out.write(_encode({"line": number, "text": lines[number - 1].decode("utf-8", "replace")})
                                  + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
            kept = [raw for number, raw in enumerate(lines, 1) if number not in bad_numbers and raw.strip()]
            return b"".join(raw + b"\n" for raw in kept), {"quarantined": len(bad_numbers),
                                                          "side_file": str(side)}

        return self.rewrite(decide)


def _with_size(contents: Contents, size: int) -> Contents:
    return Contents(contents.entries, contents.bad, size)


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


