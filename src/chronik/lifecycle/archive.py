"""Archive segments: events that retention moved out of the live store, still part of the ledger.

A segment is a gzip JSON Lines file (`segment-<first>-<last>.jsonl.gz`, positions zero-padded to
12 digits) holding the archived events in position order, one interchange record per line
(`records.export_line`, the format `chronik export` writes). Beside it, its manifest
(`segment-<first>-<last>.manifest.json`) records:

- `first_position`, `last_position`, `count`: the positions it holds (not always contiguous: per-
  category retention removes events from the middle of the chain);
- `sha256`, `size_bytes`: of the .jsonl.gz file;
- `first_prev`, `last_hash`: the `prev` of its first event and the `hash` of its last;
- `runs`: each maximal run of consecutive positions as `[start, end, prev of start, hash of end]`,
  the bridges that let `verify` check the live chain's links across archived positions;
- `streams`: `{stream: [first version, last version]}` archived, so verify knows where each
  live stream's versions resume.

The manifest is also kept in the ledger itself, as an auxiliary record (kind `chronik.archive`,
key the segment name): that is what tells the live store which positions are archived. The
files live in the archive directory: `<ledger file>.archive/` for SQLite and JSON Lines, or the
directory configured with `chronik retention set --archive-dir` (required for memory: and
PostgreSQL ledgers).

Every file is written to a `.tmp` name, fsynced, renamed into place and its directory fsynced,
through `chronik.fileio` (so tests inject faults); failures raise StorageError naming the path.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from chronik.chain import NO_ANCHOR_NOTE, ChainChecker
from chronik.errors import IntegrityError, NotFound, StorageError, ValidationError
from chronik.fileio import REAL, FileSystem, os_reason, write_file_durably
from chronik.lifecycle.records import export_line
from chronik.model import Event, Head, VerifyReport
from chronik.stores.base import NO_FILTER, AuxChange, Store, StoreOwner, store_of

ARCHIVE_KIND = "chronik.archive"  # aux: segment name -> Manifest JSON
CONFIG_KIND = "chronik.config"  # aux: "archive_dir" -> the configured archive directory
SEGMENT_SUFFIX = ".jsonl.gz"
MANIFEST_SUFFIX = ".manifest.json"
# Events per segment file (a retention run writes several when it archives more).
SEGMENT_MAX_EVENTS = 50_000
GZIP_LEVEL = 6

_decode_events = msgspec.json.Decoder(Event).decode_lines

CrashHook = Callable[[str], None]


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    first_position: int
    last_position: int
    count: int
    sha256: str
    size_bytes: int
    first_prev: str
    last_hash: str
    runs: list[tuple[int, int, str, str]]
    streams: dict[str, tuple[int, int]]
    created: str = ""
    categories: list[str] = []
    removed: bool = False  # every event of it is gone from the live store

    def positions(self) -> Iterator[int]:
        for start, end, _, _ in self.runs:
            yield from range(start, end + 1)


# ---------------------------------------------------------------- where archives live


def archive_dir(source: Store | StoreOwner, given: str | None = None) -> Path:
    """The archive directory: `given`, else the configured one, else beside the ledger file."""
    if given:
        return Path(given).expanduser()
    configured = store_of(source).aux_get(CONFIG_KIND, "archive_dir")
    if configured:
        return Path(configured.decode())
    path = store_of(source).path
    if path:
        return Path(str(path) + ".archive")
    raise ValidationError("archive_dir", f"{store_of(source).url} has no file to keep archives beside",
                          "name an archive directory, or configure one for this ledger "
                          "(chronik.lifecycle.archive.set_archive_dir)")


def set_archive_dir(source: Store | StoreOwner, directory: str) -> None:
    store_of(source).aux_write([AuxChange(CONFIG_KIND, "archive_dir",
                                      str(Path(directory).expanduser().absolute()).encode())])


def manifests(store: Store) -> list[Manifest]:
    """Every segment recorded in the ledger, in position order of their first events."""
    found: list[Manifest] = []
    low = ""
    while True:
        page = store.aux_range(ARCHIVE_KIND, low=low, limit=1_000)
        found.extend(msgspec.json.decode(value, type=Manifest) for _, value in page)
        if len(page) < 1_000:
            return sorted(found, key=lambda m: m.first_position)
        low = page[-1][0] + "\x00"


def record_manifest(store: Store, manifest: Manifest) -> None:
    store.aux_write([AuxChange(ARCHIVE_KIND, manifest.name, msgspec.json.encode(manifest))])


# ---------------------------------------------------------------- writing a segment


def build_manifest(events: Sequence[Event], sha256: str, size_bytes: int, created: str) -> Manifest:
    assert events, "a segment holds at least one event"
    runs: list[list[Any]] = []
    streams: dict[str, list[int]] = {}
    for event in events:
        if runs and event.position == runs[-1][1] + 1:
            runs[-1][1], runs[-1][3] = event.position, event.hash
        else:
            assert not runs or event.position > runs[-1][1], "segment events in position order"
            runs.append([event.position, event.position, event.prev, event.hash])
        span = streams.setdefault(event.stream, [event.version, event.version])
        span[1] = event.version
    first, last = events[0], events[-1]
    return Manifest(name=segment_name(first.position, last.position), first_position=first.position,
                    last_position=last.position, count=len(events), sha256=sha256,
                    size_bytes=size_bytes, first_prev=first.prev, last_hash=last.hash,
                    runs=[tuple(run) for run in runs],  # type: ignore[misc]
                    streams={s: tuple(v) for s, v in streams.items()},  # type: ignore[misc]
                    created=created, categories=sorted({e.stream.partition(":")[0] for e in events}))


def segment_name(first: int, last: int) -> str:
    return f"segment-{first:012d}-{last:012d}"


def write_segment(directory: Path, events: Sequence[Event], created: str, files: FileSystem = REAL,
                  crash: CrashHook | None = None) -> Manifest:
    """Write the segment file and its manifest file, each fsynced with its directory entry."""
    crash = crash or _no_crash
    make_directory(directory, files)
    payload = gzip.compress(b"".join(export_line(e) + b"\n" for e in events), GZIP_LEVEL, mtime=0)
    manifest = build_manifest(events, hashlib.sha256(payload).hexdigest(), len(payload), created)
    write_file_durably(directory / (manifest.name + SEGMENT_SUFFIX), payload, files,
                       lambda: crash("archive_written"))
    crash("archive_fsynced")
    write_file_durably(directory / (manifest.name + MANIFEST_SUFFIX), msgspec.json.encode(manifest),
                       files)
    return manifest


def make_directory(directory: Path, files: FileSystem = REAL) -> None:
    try:
        created = not directory.is_dir()
        directory.mkdir(parents=True, exist_ok=True)
        if created:
            files.fsync_directory(str(directory))
    except OSError as exc:
        raise StorageError(f"cannot create the archive directory {directory}: {os_reason(exc)}") from exc


def _no_crash(point: str) -> None:
    return None


# ---------------------------------------------------------------- reading and checking


def read_segment(directory: Path, manifest: Manifest) -> Iterator[Event]:
    """The events of a segment, in position order. Raises IntegrityError when the file is
    missing, its gzip CRC or sha256 does not check, or it holds other positions than recorded."""
    path = directory / (manifest.name + SEGMENT_SUFFIX)
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"archive segment {path} is missing") from None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {os_reason(exc)}") from exc
    if hashlib.sha256(payload).hexdigest() != manifest.sha256:
        raise IntegrityError(f"archive segment {path} does not match the sha256 of its manifest")
    try:
        text = gzip.decompress(payload)  # checks every member's CRC-32 and length
    except (OSError, EOFError, zlib.error) as exc:
        raise IntegrityError(f"archive segment {path} is not valid gzip: {exc}") from exc
    try:
        events = _decode_events(text)
    except msgspec.DecodeError as exc:
        raise IntegrityError(f"archive segment {path} holds a bad record: {exc}") from exc
    if [e.position for e in events] != list(manifest.positions()):
        raise IntegrityError(f"archive segment {path} holds other positions than its manifest records")
    return iter(events)


def check_segment(directory: Path, manifest: Manifest) -> list[str]:
    """Problems with one segment (file, CRC, sha256, positions, bridges); empty when sound."""
    try:
        events = list(read_segment(directory, manifest))
    except (IntegrityError, StorageError) as exc:
        return [str(exc)]
    rebuilt = build_manifest(events, manifest.sha256, manifest.size_bytes, manifest.created)
    if (rebuilt.runs, rebuilt.streams, rebuilt.first_prev, rebuilt.last_hash) != \
            (manifest.runs, manifest.streams, manifest.first_prev, manifest.last_hash):
        return [f"manifest {manifest.name} does not describe the events of its segment"]
    return []


def archived_events(directory: Path, segments: Iterable[Manifest], stream: str | None = None
                    ) -> Iterator[Event]:
    """The archived events of every segment (of one stream), merged in position order."""
    wanted = [m for m in segments if stream is None or stream in m.streams]
    runs = [read_segment(directory, m) for m in wanted]
    merged = heapq.merge(*runs, key=lambda e: e.position)
    return merged if stream is None else (e for e in merged if e.stream == stream)


def with_archive(source: Store | StoreOwner, live: Iterable[Event], stream: str | None = None,
                 directory: Path | None = None) -> Iterator[Event]:
    """Archived and live events as one sequence in position order. An event that is in both
    (a retention run interrupted between archiving and removing) is given once."""
    segments = manifests(store_of(source))
    if not segments:
        yield from live
        return
    directory = directory or archive_dir(source)
    last: Event | None = None
    for event in heapq.merge(archived_events(directory, segments, stream), live, key=lambda e: e.position):
        if last is not None and event.position == last.position and event.hash == last.hash:
            continue
        last = event
        yield event


# ---------------------------------------------------------------- verify across the archive


def check_chain(source: Store | StoreOwner, checker: ChainChecker, head: Head, include_archive: bool,
                directory: Path | None = None) -> list[str]:
    """Feed the whole chain to `checker` (see `chain_feed`); returns the notes."""
    notes: list[str] = []
    live = store_of(source).read_all(0, None, NO_FILTER, head.position)
    checker.check_all(chain_feed(source, checker, live, include_archive, notes, directory))  # type: ignore[arg-type]
    return notes


def chain_feed(source: Store | StoreOwner, checker: ChainChecker, live: Iterable[Any], include_archive: bool,
               notes: list[str], directory: Path | None = None) -> Iterator[Any]:
    """What a verifier feeds its checker, one item at a time, instead of the live events:

    - with `include_archive`, the archived events merged in by position (archive + live as one
      chain; segment problems become `archive_corrupt` problems);
    - without, the live events, with the checker moved across archived positions: a jump is
      accepted when archived runs cover it exactly, and the runs' recorded bridges (prev of the
      first, hash of the last) are checked against the live neighbours; a live stream whose
      earlier versions are archived resumes after the archived version.

    Items without a `position` (a verifier's stand-ins for unreadable events) pass through.
    Appends notes saying what was and was not checked."""
    segments = manifests(store_of(source))
    if not segments:
        return iter(live)
    if include_archive:
        return _merged_with_archive(source, checker, live, segments, notes, directory)
    return _bridged(checker, live, segments, notes)


def _merged_with_archive(source: Store | StoreOwner, checker: ChainChecker, live: Iterable[Any],
                         segments: list[Manifest], notes: list[str], directory: Path | None) -> Iterator[Any]:
    directory = directory or archive_dir(source)
    sound = []
    for manifest in segments:
        problems = check_segment(directory, manifest)
        for problem in problems:
            checker._problem(manifest.first_position, "archive_corrupt", problem)
        if not problems:
            sound.append(manifest)
    notes.append(f"{sum(m.count for m in sound)} archived events in {len(sound)} segments of "
                 f"{directory} were checked with the live ones as one chain")
    archived = archived_events(directory, sound)
    pending = next(archived, None)
    doubled = 0
    for item in live:
        position = getattr(item, "position", None)
        while pending is not None and position is not None and pending.position <= position:
            if pending.position == position and pending.hash == item.hash:
                doubled += 1  # archived and still live: an interrupted retention run
            else:
                yield pending
            pending = next(archived, None)
        yield item
    while pending is not None:
        yield pending
        pending = next(archived, None)
    if doubled:
        notes.append(f"{doubled} events are both archived and live (an interrupted retention run); "
                     f"run `chronik retention apply` again to finish it")


def _bridged(checker: ChainChecker, live: Iterable[Any], segments: list[Manifest],
             notes: list[str]) -> Iterator[Any]:
    runs = {run[0]: run for m in segments for run in m.runs}
    archived_versions: dict[str, int] = {}
    for manifest in segments:
        for stream, (_, last_version) in manifest.streams.items():
            archived_versions[stream] = max(archived_versions.get(stream, 0), last_version)
    skipped = 0
    for item in live:
        target = getattr(item, "position", None)
        position, prev_hash = checker.prev_position, checker.prev_hash
        while target is not None and position + 1 < target and position + 1 in runs:
            start, end, first_prev, last_hash = runs[position + 1]
            end = min(end, target - 1)
            if prev_hash is not None and first_prev != prev_hash:
                checker._problem(start, "chain_break",
                                 f"archived position {start} has prev {first_prev[:16]}... in its "
                                 f"manifest, not the hash {prev_hash[:16]}... before it")
            skipped += end - start + 1
            position, prev_hash = end, last_hash
        checker.prev_position, checker.prev_hash = position, prev_hash
        live_stream: str | None = getattr(item, "stream", None)
        if live_stream is not None and live_stream not in checker.stream_versions \
                and live_stream in archived_versions:
            checker.stream_versions[live_stream] = archived_versions[live_stream]
        yield item
    first = min(m.first_position for m in segments)
    last = max(m.last_position for m in segments)
    notes.append(f"{skipped} positions between {first} and {last} are archived in {len(segments)} "
                 f"segments (not checked; their links to the live events were checked against the "
                 f"manifests); use --include-archive to check them")


# ---------------------------------------------------------------- archive list / verify / restore


def list_segments(source: Store | StoreOwner) -> list[Manifest]:
    return manifests(store_of(source))


def verify_segments(source: Store | StoreOwner, directory: Path | None = None) -> dict[str, list[str]]:
    """Each segment's problems (file, gzip CRC, sha256, positions, bridges)."""
    directory = directory or archive_dir(source)
    return {m.name: check_segment(directory, m) for m in manifests(store_of(source))}


def restore_segment(source: Store | StoreOwner, name: str, out: Path, files: FileSystem = REAL,
                    directory: Path | None = None) -> int:
    """Write a segment's events, checked, as an interchange JSON Lines file (what `chronik
    export` writes and `chronik import` reads, e.g. into a scratch ledger for inspection)."""
    directory = directory or archive_dir(source)
    found = [m for m in manifests(store_of(source)) if m.name == name]
    if not found:
        raise NotFound(f"no archive segment named {name!r}; see `chronik archive list`")
    events = list(read_segment(directory, found[0]))
    write_file_durably(out, b"".join(export_line(e) + b"\n" for e in events), files)
    return len(events)


def verify_chain(source: Store | StoreOwner, include_archive: bool = True, directory: Path | None = None
                 ) -> VerifyReport:
    """The chain check of `chronik verify [--include-archive]` on an archived ledger: live
    events bridged across the archive's manifests, or archive + live as one chain."""
    head = store_of(source).head()
    checker = ChainChecker()
    notes = check_chain(source, checker, head, include_archive, directory)
    return checker.report(head=head, notes=[*notes, NO_ANCHOR_NOTE])
