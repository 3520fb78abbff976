"""Moving extension events between a Sindri file and a chronik ledger.

Import keeps each line's event id (as the chronik id) and timestamp (`meta.sindri_timestamp`),
so importing a file twice adds nothing and the reducer can apply Sindri's ordering rule among
imported events. Export writes records as Sindri lines (or Sindri's pretty JSON array); an
import followed by an export gives back the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import msgspec

from chronik.domains.extensions import reducer as status_fold
from chronik.domains.extensions.compat.file import SindriFile
from chronik.domains.extensions.compat.lines import Envelope, encode_line, envelope_as_dict
from chronik.domains.extensions.events import (
    CLI_VERSION,
    STATES,
    State,
    event_from_fields,
    stream_of,
)
from chronik.domains.extensions.native import CATEGORY_FILTER, LedgerBackend, PendingView, event_data
from chronik.domains.extensions.reducer import Record, Status
from chronik.domains.extensions.timekeys import key_to_text
from chronik.errors import ValidationError
from chronik.model import Expect, Expectation, NewEvent

# Streams per append_many call: bounded memory, one commit per chunk.
MAX_IMPORT_BATCH = 500
EXPORT_FORMATS = ("sindri", "json")
Progress = Callable[[int, int], None]
# Fields Sindri requires that a chronik event may lack: written with these defaults on export.
EXPORT_DEFAULTS: Mapping[str, Any] = {
    "version": "unknown", "source": "chronik", "install_method": "Script", "components_installed": [],
    "retry_count": 0, "duration_secs": 0, "error_message": "", "from_version": "unknown",
    "to_version": "unknown", "current_version": "unknown", "latest_version": "unknown",
    "validation_type": "manual"}


def import_sindri(backend: LedgerBackend, path: str | os.PathLike[str],
                  progress: Progress | None = None) -> dict[str, Any]:
    """Move a Sindri ledger into a chronik ledger in file order. Ids already in the ledger are
    skipped, so importing the same file twice adds nothing. Bad lines are reported, not imported.
    `progress(done, total)` is called after each committed chunk (lines of the file)."""
    file = SindriFile(path)
    if not file.exists():  # an input that is not there is bad input (exit 2 at the command line)
        raise ValidationError("sindri_path", f"{file.path} does not exist", "name an existing Sindri ledger")
    contents = file.read()
    total = len(contents.entries)
    ledger = backend.ledger
    known = {event.id for event in ledger.read_all(filter=CATEGORY_FILTER)}
    statuses: dict[str, Status] = {}
    chunk: dict[str, tuple[list[NewEvent], Expectation]] = {}
    imported = skipped = 0
    for done, entry in enumerate(contents.entries):
        envelope = entry.envelope
        if envelope.event_id in known:
            skipped += 1
            continue
        known.add(envelope.event_id)
        name = envelope.extension_name
        stream = stream_of(name)
        if stream in chunk or len(chunk) >= MAX_IMPORT_BATCH:
            ledger.append_many(chunk)  # one stream once per call keeps positions in file order
            chunk = {}
            if progress is not None:
                progress(done, total)
        if name not in statuses:
            statuses[name] = backend.status(name) or status_fold.initial()
        data = event_data(envelope.event, envelope.state_before, envelope.state_after)
        meta: dict[str, Any] = {"cli_version": envelope.cli_version, "at": envelope.timestamp,
                                "sindri_timestamp": envelope.timestamp}
        view = PendingView(stream, entry.type, envelope.event_id, data, meta)
        meta["status"] = statuses[name] = status_fold.apply(statuses[name], status_fold.record_from_event(view))
        chunk[stream] = ([NewEvent(entry.type, data, meta=meta, id=envelope.event_id)], Expect.ANY)
        imported += 1
    if chunk:
        ledger.append_many(chunk)
    if progress is not None:
        progress(total, total)
    return {"imported": imported, "skipped_known": skipped,
            "bad_lines": [msgspec.structs.asdict(b) for b in contents.bad]}


def envelope_of(record: Record) -> Envelope:
    """A record as a Sindri line; fields Sindri requires and chronik did not record get defaults.
    ValidationError (field `format`) when the event has no Sindri form."""
    fields = {**EXPORT_DEFAULTS, "extension_name": record.name,
              **{k: v for k, v in record.fields.items() if v is not None}}
    try:
        event = event_from_fields(record.type, fields)
        before = None if record.state_before is None else _state(record.state_before)
        after = _state(record.state_after)
    except ValidationError as error:
        raise ValidationError("format", f"event {record.id} of extension {record.name!r} has no Sindri "
                              f"form: {error}", "export it with `chronik export` instead") from None
    return Envelope(event_id=record.id, timestamp=key_to_text(record.key), extension_name=record.name,
                    cli_version=CLI_VERSION, state_before=before, state_after=after, event=event)


def _state(text: str) -> State:
    if text not in STATES:
        raise ValidationError("state", f"{text!r} is not a Sindri state", f"one of {', '.join(STATES)}")
    return text  # type: ignore[return-value]  # checked against the Literal's values above


def write_export(records: Iterable[Record], out: IO[bytes], format: str = "sindri") -> int:
    """Records as Sindri lines, or (format json) Sindri's pretty JSON array; returns how many."""
    if format not in EXPORT_FORMATS:
        raise ValidationError("format", f"{format!r} is not an export format", f"use {' or '.join(EXPORT_FORMATS)}")
    count = 0
    for record in records:
        envelope = envelope_of(record)
        if format == "sindri":
            out.write(encode_line(envelope))
        else:  # the array as serde_json's pretty printer writes it, one element at a time
            element = json.dumps(envelope_as_dict(envelope, envelope.timestamp), indent=2, ensure_ascii=False)
            out.write(((",\n" if count else "[\n") + _indented(element)).encode())
        count += 1
    if format == "json":
        out.write(b"\n]\n" if count else b"[]\n")
    return count


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
