"""The full `verify`: storage, chain, positions, versions, signatures and anchor, and what was checked.

The walk itself is the core `chronik.chain.ChainChecker`; this module configures it (the
signature check from `chronik.integrity.signing`, the anchor as a pinned hash), feeds it, and
turns its findings into an `IntegrityReport` that says, per check, whether it passed, failed or
was not done and why.

Feeding order is the caller's: `verify_ledger(..., archived=events)` feeds archived events (in
position order, from position 1) before the live store, on one checker, so archive + live
verify as one chain. Callers with other sources use `make_checker`, feed it, then
`finish_report`.

The "storage" check is the store's own (`Store.check_storage`): SQLite's quick_check (the full
integrity_check with `thorough_storage`), a JSON Lines store's torn or cut tail with its byte range
and record count. Verify never changes the ledger: it opens the store read-only, and a torn tail is
reported, not repaired (`chronik repair` does that, moving the bytes to a quarantine file).

`verify_url` opens the store read-only; a store that refuses to open because its files are
damaged is a failed storage check (exit 3), and a JSON Lines file is then read line by line, so
the walk locates the damage by position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from chronik import rules
from chronik.chain import NO_ANCHOR_NOTE, ChainChecker
from chronik.errors import IntegrityError, ValidationError
from chronik.integrity.anchors import Anchor, check_anchor
from chronik.integrity.keys import Keyring
from chronik.integrity.signing import SIGNATURE_KINDS, SignatureCheck
from chronik.model import Event, Head, Problem, VerifyReport
from chronik.stores.base import NO_FILTER, StorageFinding, Store, StoreOwner, store_of
from chronik.stores.jsonl import format as jsonl_format

CHECK_NAMES = ("storage", "chain", "positions", "versions", "signatures", "anchor")
OK, FAILED, NOT_CHECKED = "ok", "failed", "not_checked"
# Which check a problem kind belongs to.
KIND_CHECK = {
    "chain_break": "chain", "hash_mismatch": "chain", "unreadable": "chain",
    "position_gap": "positions", "position_order": "positions", "head_mismatch": "positions",
    "version_gap": "versions",
    **{kind: "signatures" for kind in SIGNATURE_KINDS},
    "anchor_mismatch": "anchor", "truncated": "anchor",
}
# The store's own findings (StorageFinding.code) become problems of these kinds.
STORAGE_KIND = "storage"
NO_KEYRING_NOTE = ("no keyring was given: signatures were not checked (set CHRONIK_KEYS_FILE or "
                   "CHRONIK_KEYS, or pass --keys-file)")
T = TypeVar("T")  # what a guarded store read returns (_read_or_finding)


class Check(msgspec.Struct, frozen=True):
    name: str
    status: str  # ok | failed | not_checked
    detail: str


class IntegrityReport(msgspec.Struct, frozen=True):
    """What `verify` checked and found. `first_bad_kind` is the first problem's kind at
    `first_bad_position`."""

    ok: bool
    checked: int
    first_bad_position: int | None
    first_bad_kind: str | None
    problems: list[Problem]
    checks: list[Check]
    head: Head | None
    from_position: int
    to_position: int | None
    signatures: dict[str, Any] | None = None
    anchor: Anchor | None = None
    notes: list[str] = msgspec.field(default_factory=list)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def to_verify_report(self) -> VerifyReport:
        return VerifyReport(ok=self.ok, checked=self.checked, first_bad_position=self.first_bad_position,
                            problems=self.problems, head=self.head, notes=self.notes)


class Unreadable(msgspec.Struct, frozen=True):
    """Stands in the walk for an event whose stored bytes cannot be decoded."""

    detail: str


# ---------------------------------------------------------------- building blocks


def make_checker(keyring: Keyring | None, anchor: Anchor | None = None, *, prev_position: int = 0,
                 prev_hash: str | None = None, require_signatures: bool = False,
                 versions_from_first_seen: bool = False) -> tuple[ChainChecker, SignatureCheck | None]:
    """A ChainChecker with the signature check of `keyring` and the anchor pinned."""
    from chronik import codec

    signature_check = SignatureCheck(keyring, require_signatures) if keyring is not None else None
    checker = ChainChecker(prev_position, codec.GENESIS_HASH if prev_position == 0 and prev_hash is None
                           else prev_hash, signature_check=signature_check,
                           versions_from_first_seen=versions_from_first_seen)
    if anchor is not None and anchor.position > 0:
        checker.pin(anchor.position, anchor.hash)
    return checker, signature_check


def feed(checker: ChainChecker, events: Iterable[Event | Unreadable]) -> None:
    for item in events:
        if type(item) is Unreadable:
            checker.skip_unreadable(item.detail)
        else:
            checker.check(item)  # type: ignore[arg-type]


def readable_events(store: Store, after: int, until: int) -> Iterator[Event | Unreadable]:
    """The store's events in (after, until], with an `Unreadable` for each one whose bytes do not
    decode (a corrupt record); the read resumes after it."""
    cursor = after
    while cursor < until:
        try:
            for event in store.read_all(cursor, None, NO_FILTER, until):
                cursor = event.position
                yield event
            return
        # TypeError: a damaged SQLite page can hand back NULL (or a number) where the schema
        # says TEXT NOT NULL; SQLite does not re-check constraints on read.
        except (msgspec.DecodeError, UnicodeDecodeError, IntegrityError, TypeError) as exc:
            cursor += 1
            yield Unreadable(f"the stored record cannot be read: {exc}")


def finish_report(checker: ChainChecker, signature_check: SignatureCheck | None, *, head: Head | None,
                  keyring: Keyring | None, anchor: Anchor | None, anchor_detail: str = "",
                  from_position: int = 1, to_position: int | None = None,
                  event_at: Any = None, notes: list[str] | None = None,
                  storage: list[StorageFinding] | None = None, walked: bool = True) -> IntegrityReport:
    """Close the walk: anchor checks past its end, then the report. `event_at(position)` reads
    one event outside the walk (an anchor outside the checked range), or is None. `storage` is
    what the store's own check found (None: not checked); `walked` is False when no event could
    be read at all (the store refused to open)."""
    notes = list(notes or [])
    end = head.position if head is not None else checker.prev_position
    if anchor is not None:
        _check_anchor_reach(checker, anchor, end, event_at, notes)
    else:
        notes.append(NO_ANCHOR_NOTE)
    if keyring is None:
        notes.append(NO_KEYRING_NOTE)
    full_walk = to_position is None and from_position <= 1
    report = checker.report(head=head if full_walk else None, notes=notes)
    storage_problems = [_storage_problem(finding) for finding in storage or ()]
    problems = storage_problems + report.problems
    first_bad = report.first_bad_position
    if first_bad is None and storage_problems:
        first_bad = min(p.position for p in storage_problems)
    first_kind = next((p.kind for p in problems if p.position == first_bad), None)
    checks = _checks(checker, report.problems, signature_check, keyring, anchor, anchor_detail,
                     ranged=not full_walk, storage=storage, storage_problems=len(storage_problems),
                     walked=walked)
    return IntegrityReport(ok=report.ok and not storage_problems, checked=report.checked,
                           first_bad_position=first_bad,
                           first_bad_kind=first_kind, problems=problems, checks=checks, head=head,
                           from_position=from_position, to_position=to_position,
                           signatures=None if signature_check is None else signature_check.summary(),
                           anchor=anchor, notes=report.notes)


def _storage_problem(finding: StorageFinding) -> Problem:
    """A store finding as a problem: at the position after the last good event for a damaged
    tail, at 0 (the whole ledger) for what the engine reports."""
    after = finding.detail.get("after_position")
    position = after + 1 if isinstance(after, int) else 0
    return Problem(position, f"{STORAGE_KIND}_{finding.code}", finding.message)


def _check_anchor_reach(checker: ChainChecker, anchor: Anchor, end: int, event_at: Any,
                        notes: list[str]) -> None:
    position = anchor.position
    if position == 0:
        return
    if position > end:
        checker.problem(end + 1, "truncated",
                        f"the anchor records position {position} (hash {anchor.hash[:16]}...) but the "
                        f"ledger ends at {end}: events {end + 1}..{position} were removed (tail "
                        f"truncation or a rollback)")
        return
    if position in checker.pins_seen:
        return
    if checker.prev_position >= position:  # walked past it, but no event claimed the position
        checker.problem(position, "anchor_mismatch",
                        f"the anchor records position {position}, and the ledger has no event there")
        return
    event = event_at(position) if event_at is not None else None
    if event is None or event.position != position:
        checker.problem(position, "anchor_mismatch",
                        f"the anchor records position {position}, and the ledger has no event there")
    elif event.hash != anchor.hash:
        checker.problem(position, "anchor_mismatch",
                        f"the hash at position {position} is {event.hash[:16]}..., the anchor recorded "
                        f"{anchor.hash[:16]}...: the ledger was rolled back or rewritten")
    else:
        notes.append(f"the anchor's position {position} is outside the range; its hash was compared "
                     f"directly (the chain up to it was not walked)")


def _checks(checker: ChainChecker, problems: list[Problem], signature_check: SignatureCheck | None,
            keyring: Keyring | None, anchor: Anchor | None, anchor_detail: str,
            ranged: bool, storage: list[StorageFinding] | None, storage_problems: int,
            walked: bool) -> list[Check]:
    failed: dict[str, int] = {}
    for problem in problems:
        name = KIND_CHECK.get(problem.kind, "chain")
        failed[name] = failed.get(name, 0) + 1
    events = f"{checker.checked} events"

    def status(name: str, ok_detail: str) -> Check:
        if not walked:
            return Check(name, NOT_CHECKED, "the store could not be opened, so no event was read")
        if name in failed:
            return Check(name, FAILED, f"{failed[name]} problem(s) listed")
        return Check(name, OK, ok_detail)

    if storage is None:
        storage_check = Check("storage", NOT_CHECKED, "the file was read line by line, without its store")
    elif storage_problems:
        storage_check = Check("storage", FAILED, f"{storage_problems} problem(s) listed")
    else:
        storage_check = Check("storage", OK, "the store's own check of its files found nothing")
    checks = [
        storage_check,
        status("chain", f"prev links and hashes of {events}"),
        status("positions", f"{events} at contiguous positions" + ("" if ranged else ", ending at the head")),
        status("versions", "each stream's versions contiguous" + (" within the range" if ranged else "")),
    ]
    if signature_check is None:
        checks.append(Check("signatures", NOT_CHECKED, "no keyring was given (see the note)"))
    else:
        summary = signature_check.summary()
        kids = ", ".join(f"{kid}: {count}" for kid, count in summary["by_kid"].items()) or "none"
        checks.append(status("signatures", f"{summary['signed']} signed (by key: {kids}), "
                                           f"{summary['unsigned']} unsigned before the first signed event"))
    if anchor is None:
        checks.append(Check("anchor", NOT_CHECKED, "no anchor was given (see the note)"))
    else:
        checks.append(status("anchor", f"position {anchor.position} has the anchored hash; {anchor_detail}"))
    return checks


# ---------------------------------------------------------------- entry points


def verify_ledger(source: Store | StoreOwner, *, keyring: Keyring | None = None,
                  anchor: Anchor | None = None, from_position: int | None = None,
                  to_position: int | None = None, require_signatures: bool = False,
                  archived: Iterable[Event] = (), include_archive: bool = False,
                  thorough_storage: bool = False) -> IntegrityReport:
    """Verify the ledger of `source` (positions from_position..to_position, default all).
    Signatures are checked against `keyring` (none: not checked); `archived` events, if any,
    are fed first (an archive-aware caller). Reads only."""
    store = store_of(source)
    storage = list(store.check_storage(thorough_storage))
    # What the store cannot read (a damaged page holding the head, the ledger id or the archive
    # manifests) is a failed storage check in the report, never an exception that loses it.
    head = _read_or_finding(store.head, "the head", storage)
    if head is None:
        return finish_report(*make_checker(keyring, anchor), head=None, keyring=keyring, anchor=anchor,
                             storage=storage, walked=False)
    start = _check_bound(from_position, "from_position") or 1
    stop = _check_bound(to_position, "to_position")
    if stop is not None and stop < start:
        raise ValidationError("to_position", f"{stop} is before from_position {start}",
                              "pass a range whose end is not before its start")
    anchor_detail = "" if anchor is None else check_anchor(
        anchor, keyring, _read_or_finding(store.ledger_id, "the ledger id", storage))
    notes: list[str] = []
    prev_hash = None
    if start > 1:
        before = _read_or_finding(lambda: next(iter(store.read_all(start - 2, 1, NO_FILTER, start - 1)), None),
                                  f"position {start - 1}", storage)
        prev_hash = before.hash if before is not None and before.position == start - 1 else None
        notes.append(f"checked positions {start}..{stop or head.position} only: versions are checked "
                     f"within the range, and the link into {start} trusts the stored hash of {start - 1}")
    elif stop is not None:
        notes.append(f"checked positions 1..{stop} only: events after {stop} and the head were not checked")
    checker, signature_check = make_checker(keyring, anchor, prev_position=start - 1, prev_hash=prev_hash,
                                            require_signatures=require_signatures,
                                            versions_from_first_seen=start > 1)
    feed(checker, archived)
    until = head.position if stop is None else min(stop, head.position)
    live = readable_events(store, max(start - 1, checker.prev_position), until)
    if start == 1 and not archived:  # events archived by retention (chronik.lifecycle.archive)
        from chronik.lifecycle.archive import chain_feed

        live = _read_or_finding(lambda: chain_feed(store, checker, live, include_archive, notes),
                                "the archive manifests", storage) or live
    feed(checker, live)

    def event_at(position: int) -> Event | None:
        return _read_or_finding(lambda: next(iter(store.read_all(position - 1, 1, NO_FILTER, position)), None),
                                f"position {position}", storage)

    return finish_report(checker, signature_check, head=head, keyring=keyring, anchor=anchor,
                         anchor_detail=anchor_detail, from_position=start, to_position=stop,
                         event_at=event_at, notes=notes, storage=storage)


def verify_url(url: str | None, *, keyring: Keyring | None = None, anchor: Anchor | None = None,
               from_position: int | None = None, to_position: int | None = None,
               require_signatures: bool = False, include_archive: bool = False,
               thorough_storage: bool = False) -> IntegrityReport:
    """Open the ledger at `url` read-only and verify it. A store that refuses to open because
    its files are damaged fails the storage check; a JSON Lines file is then verified line by
    line (see the module docstring)."""
    from chronik.stores import file_path, open_store, resolve_url

    resolved = resolve_url(url)
    try:
        store = open_store(resolved, read_only=True)
    except IntegrityError as refused:
        finding = StorageFinding(code="unopenable", message=f"the store refused to open: {refused}")
        if not resolved.startswith("jsonl:"):
            return finish_report(*make_checker(keyring, anchor), head=None, keyring=keyring,
                                 anchor=anchor, storage=[finding], walked=False)
        path, _ = file_path(resolved, "jsonl:")
        return verify_jsonl_lines(path, keyring=keyring, anchor=anchor, require_signatures=require_signatures,
                                  notes=["the file was verified line by line"], storage=[finding])
    try:
        return verify_ledger(store, keyring=keyring, anchor=anchor, from_position=from_position,
                             to_position=to_position, require_signatures=require_signatures,
                             include_archive=include_archive, thorough_storage=thorough_storage)
    finally:
        store.close()


# A ledger line decoded as an Event, framing keys ignored: the one JSONL line format's decoder.
_decode_event = jsonl_format.decode_event


def jsonl_line_events(path: str, notes: list[str] | None = None) -> Iterator[Event | Unreadable]:
    """Every line of a chronik JSON Lines file as an Event (the `more` framing key is ignored),
    or Unreadable; no sequence checks: that is the walk's job. A last line without its newline is
    an event when it decodes (the store keeps such a record), else a torn tail, left out and
    noted in `notes`."""
    with open(path, "rb") as file:
        for line in file:
            if not line.endswith(b"\n"):
                try:
                    yield _decode_event(line)
                except jsonl_format.DECODE_ERRORS:
                    if notes is not None:
                        notes.append(f"the last {len(line)} bytes are an incomplete line (a torn "
                                     f"write, or a cut that removed committed bytes): not checked")
                return
            try:
                event = _decode_event(line)
            except jsonl_format.DECODE_ERRORS as exc:
                yield Unreadable(f"the line cannot be decoded as an event: {exc}")
                continue
            yield event


def verify_jsonl_lines(path: str | Path, *, keyring: Keyring | None = None, anchor: Anchor | None = None,
                       require_signatures: bool = False, notes: list[str] | None = None,
                       storage: list[StorageFinding] | None = None) -> IntegrityReport:
    """Verify a JSON Lines ledger file line by line, without its store. `storage` carries what
    the store said when it refused the file."""
    anchor_detail = "" if anchor is None else check_anchor(anchor, keyring, None)
    checker, signature_check = make_checker(keyring, anchor, require_signatures=require_signatures)
    notes = list(notes or [])
    feed(checker, jsonl_line_events(str(path), notes))
    return finish_report(checker, signature_check, head=None, keyring=keyring, anchor=anchor,
                         anchor_detail=anchor_detail, notes=notes, storage=storage)


def _read_or_finding(read: Callable[[], T], what: str, storage: list[StorageFinding]) -> T | None:
    """`read()`, or None with an `unreadable` storage finding when the store reports its files
    as corrupt (IntegrityError)."""
    try:
        return read()
    except IntegrityError as exc:
        storage.append(StorageFinding(code="unreadable", message=f"{what} cannot be read: {exc}"))
        return None


def _check_bound(value: int | None, field: str) -> int | None:
    # Positions are signed 64-bit in every store: a larger one reached SQLite as an OverflowError
    # (a 500 over HTTP, found by schemathesis with from_position=20676776556979411746816).
    return None if value is None else rules.check_count(value, field, 1)
