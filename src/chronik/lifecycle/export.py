"""Export: write a ledger's recorded events as JSON Lines (the interchange format), a JSON
array, or CSV.

JSONL is one `records.export_line` per line: deterministic bytes, so the same events exported
from any store give byte-identical files, and `chronik import` reads them back. JSON is a
pretty-printed array of the same objects (two-space indent). CSV has a header row and one row per
event with the columns position, stream, version, type, id, time, data, meta, prev, hash, sig;
data and meta are their canonical JSON text, sig is empty when unsigned; rows end in CRLF (RFC 4180).

A filtered export (types, streams, categories, times) is for reading: it has gaps in the chain,
so import refuses it. `after=N` alone gives a suffix that imports onto a ledger whose head is N.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

import msgspec

from chronik import rules
from chronik.errors import StorageError, ValidationError
from chronik.fileio import REAL, FileSystem
from chronik.lifecycle.records import FIELDS, export_line, record_of
from chronik.model import Event, Filter
from chronik.stores.base import Store, StoreOwner, limits_of, store_of

FORMATS = ("jsonl", "json", "csv")
# Events written between two flushes of the output buffer (and two progress calls).
EXPORT_CHUNK_EVENTS = 5_000

Progress = Callable[[int, int], None]


def export_events(ledger: Store | StoreOwner, out: BinaryIO, format: str = "jsonl", after: int = 0,
                  filter: Filter | None = None, progress: Progress | None = None) -> int:
    """Write the events with position > `after` matching `filter` to `out` (a binary file) in
    `format`; returns how many were written. `progress(done, total)` is called after each chunk,
    `total` being an upper bound (the events after `after`)."""
    if format not in FORMATS:
        raise ValidationError("format", f"{format!r} is not an export format", f"use one of {', '.join(FORMATS)}")
    store = store_of(ledger)
    rules.check_count(after, "after", 0)
    head = store.head().position
    total = max(head - after, 0)
    writer = _WRITERS[format]()
    out.write(writer.start())
    count = 0
    chunk: list[bytes] = []
    for event in store.read_all(after, None, rules.read_filter(filter, limits_of(ledger)), head):
        chunk.append(writer.event(event, count))
        count += 1
        if len(chunk) == EXPORT_CHUNK_EVENTS:
            out.write(b"".join(chunk))
            chunk.clear()
            if progress is not None:
                progress(count, total)
    out.write(b"".join(chunk))
    out.write(writer.end(count))
    out.flush()
    if progress is not None:
        progress(count, count)
    return count


def export_to_path(ledger: Store | StoreOwner, path: str | Path, format: str = "jsonl", after: int = 0,
                   filter: Filter | None = None, progress: Progress | None = None,
                   files: FileSystem = REAL) -> int:
    """`export_events` into the file `path`, all or nothing: written to `<path>.tmp` through
    `files` (chronik.fileio), fsynced, renamed into place and the directory fsynced. On any
    failure the temporary file is removed, `path` is untouched and StorageError names it."""
    target = str(path)
    temporary = target + ".tmp"
    try:
        fd = files.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot create {temporary}: {os.strerror(exc.errno or 0)}") from exc
    sink = _FileSink(fd, files)
    try:
        try:
            count = export_events(ledger, sink, format, after, filter, progress)  # type: ignore[arg-type]
            files.fsync(fd)
        finally:
            files.close(fd)
        files.rename(temporary, target)
    except OSError as exc:
        try:
            files.unlink(temporary)
        except OSError:
            pass  # it is gone already
        raise StorageError(f"export to {target} failed, nothing was written there: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from exc
    except BaseException:
        try:
            files.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        files.fsync_directory(target)
    except OSError as exc:
        raise StorageError(f"cannot fsync the directory of {target}: {os.strerror(exc.errno or 0)}") from exc
    return count


class _FileSink:
    """The `out` of export_events over a descriptor of `files`."""

    def __init__(self, fd: int, files: FileSystem) -> None:
        self.fd, self.files = fd, files

    def write(self, data: bytes) -> int:
        self.files.write_all(self.fd, data)
        return len(data)

    def flush(self) -> None:
        return None


class _Writer(Protocol):
    """One export format: bytes before the events, per event, after them."""

    def start(self) -> bytes: ...

    def event(self, event: Event, index: int) -> bytes: ...

    def end(self, count: int) -> bytes: ...


class _JsonLines:
    def start(self) -> bytes:
        return b""

    def event(self, event: Event, index: int) -> bytes:
        return export_line(event) + b"\n"

    def end(self, count: int) -> bytes:
        return b""


class _JsonArray:
    def start(self) -> bytes:
        return b"["

    def event(self, event: Event, index: int) -> bytes:
        pretty = msgspec.json.format(export_line(event), indent=2)
        # Indented one level inside the array; JSON strings hold no raw newline, so this is safe.
        return (b",\n  " if index else b"\n  ") + pretty.replace(b"\n", b"\n  ")

    def end(self, count: int) -> bytes:
        return b"\n]\n" if count else b"]\n"


class _Csv:
    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _row(self, row: tuple) -> bytes:
        self._writer.writerow(row)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()

    def start(self) -> bytes:
        return self._row(FIELDS)

    def event(self, event: Event, index: int) -> bytes:
        record = record_of(event)
        return self._row((record.position, record.stream, record.version, record.type, record.id,
                          record.time, bytes(record.data).decode(), bytes(record.meta).decode(),
                          record.prev, record.hash, record.sig or ""))

    def end(self, count: int) -> bytes:
        return b""


_WRITERS: dict[str, Callable[[], _Writer]] = {"jsonl": _JsonLines, "json": _JsonArray, "csv": _Csv}
