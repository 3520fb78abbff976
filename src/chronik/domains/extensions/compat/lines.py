"""One line of a Sindri status ledger: the envelope, parsing a file's bytes, encoding a line.

Parsing never fails on a bad line: it is reported with its line number and skipped (Sindri
fails every query on one). Encoding writes what Sindri's serde writes: compact, keys in order,
raw UTF-8, then a newline.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from chronik.domains.extensions.events import (
    CLI_VERSION,
    ExtensionEvent,
    State,
    event_fields,
    type_of,
    version_of,
)
from chronik.domains.extensions.timekeys import key_to_text, now_text, time_key

DEFAULT_PATH = "~/.sindri/status_ledger.jsonl"
# Bad lines kept in a report are cut to this many characters.
MAX_BAD_LINE_CHARS = 200


class Envelope(msgspec.Struct, kw_only=True, frozen=True):
    """One line of a Sindri status ledger, keys in Sindri's order."""

    event_id: str
    timestamp: str
    extension_name: str
    cli_version: str
    state_before: State | None = None  # serde reads a missing Option as None; always written
    state_after: State
    event: ExtensionEvent


_decode_line = msgspec.json.Decoder(Envelope).decode
_decode_lines = msgspec.json.Decoder(list[Envelope | None]).decode
_encode = msgspec.json.Encoder().encode


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
        return type_of(self.envelope.event)

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


def numbered_lines(data: bytes) -> list[tuple[int, bytes]]:
    """(1-based line number, bytes) of every non-blank line."""
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    return [(number, raw) for number, raw in enumerate(raw_lines, 1) if raw.strip()]


def parse_lines(data: bytes) -> Contents:
    """Every line of a ledger file: good ones as entries, the others reported, blank ones skipped."""
    numbered = numbered_lines(data)
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
                bad.append(bad_line(number, str(exc), raw))
                continue
        key = time_key(envelope.timestamp)
        if key is None:
            bad.append(bad_line(number, f"timestamp {envelope.timestamp!r} is not an RFC 3339 time", raw))
            continue
        entries.append(Entry(number, key, envelope, raw))
    return Contents(entries, bad, len(data))


def decode_entry(number: int, raw: bytes) -> Entry | None:
    """One line as an Entry, or None when it is not a good line."""
    try:
        envelope = _decode_line(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    key = time_key(envelope.timestamp)
    return None if key is None else Entry(number, key, envelope, raw)


def bad_line(number: int, error: str, raw: bytes) -> BadLine:
    text = raw.decode("utf-8", "replace")
    return BadLine(number, error, text[:MAX_BAD_LINE_CHARS] + ("…" if len(text) > MAX_BAD_LINE_CHARS else ""))


def encode(value: Any) -> bytes:
    """Compact JSON, keys in declaration order, raw UTF-8 (serde_json's form)."""
    return _encode(value)


def encode_line(envelope: Envelope) -> bytes:
    """One line as Sindri's serde writes it (compact, keys in order, raw UTF-8, then \\n)."""
    return _encode(envelope) + b"\n"


def new_envelope(event: ExtensionEvent, state_before: State | None, state_after: State,
                 event_id: str | None = None, timestamp: str | None = None,
                 cli_version: str = CLI_VERSION) -> Envelope:
    return Envelope(event_id=event_id or str(uuid.uuid4()), timestamp=timestamp or now_text(),
                    extension_name=event.extension_name, cli_version=cli_version,
                    state_before=state_before, state_after=state_after, event=event)


def envelope_dict(entry: Entry) -> dict[str, Any]:
    """The envelope as Sindri re-serializes it: the timestamp in chrono's form, fields in order."""
    return envelope_as_dict(entry.envelope, key_to_text(entry.key))


def envelope_as_dict(envelope: Envelope, timestamp: str) -> dict[str, Any]:
    event = {"type": type_of(envelope.event), **event_fields(envelope.event)}
    return {"event_id": envelope.event_id, "timestamp": timestamp,
            "extension_name": envelope.extension_name, "cli_version": envelope.cli_version,
            "state_before": envelope.state_before, "state_after": envelope.state_after, "event": event}
