"""Anchors: signed head checkpoints that operators keep somewhere else.

A hash chain proves that nothing inside it changed, but not that nothing was cut off its end:
a ledger truncated to an earlier head, or restored from an old backup (a rollback), is a
perfectly valid chain. An anchor records the head (position and hash) at one moment, signed
with the keyring, so `verify --anchor FILE` can tell: the event at the anchor's position must
still exist and still have that hash.

The anchor file is one JSON object (docs/formats.md, "Anchor file")::

    {"format": "chronik.anchor.v1", "ledger_id": "…", "position": 200, "hash": "…",
     "time": "2026-11-22T01:15:09.123456Z", "kid": "k20261122-3f9a", "mac": "<64 hex digits>"}

mac = hex HMAC-SHA256(key[kid], "chronik.anchor.v1" NUL | canonical JSON of every other field).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from chronik import codec
from chronik.errors import IntegrityError, NotFound, ValidationError
from chronik.fileio import write_file_durably
from chronik.integrity.keys import Keyring, KeyringError
from chronik.stores.base import Store, StoreOwner, store_of

ANCHOR_FORMAT = "chronik.anchor.v1"
MAC_TAG = ANCHOR_FORMAT.encode() + b"\x00"
MAX_ANCHOR_BYTES = 64 * 1024


class Anchor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    ledger_id: str | None
    position: int
    hash: str
    time: str
    kid: str
    mac: str

    def signed_bytes(self) -> bytes:
        fields = {"format": self.format, "ledger_id": self.ledger_id, "position": self.position,
                  "hash": self.hash, "time": self.time, "kid": self.kid}
        return MAC_TAG + codec.encode_json(fields)


def make_anchor(source: Store | StoreOwner, keyring: Keyring | None, now: datetime | None = None) -> Anchor:
    """A signed checkpoint of the head of `source`'s ledger, with the active key of `keyring`."""
    store = store_of(source)
    if keyring is None or not keyring.can_sign:
        raise KeyringError("an anchor is signed, and there is no keyring with an active key: make "
                           "one with `chronik keys new` (~/.chronik/keys.json), or name one with "
                           "CHRONIK_KEYS_FILE, CHRONIK_KEYS or --keys-file")
    head = store.head()
    unsigned = Anchor(ANCHOR_FORMAT, store.ledger_id(), head.position, head.hash,
                      codec.format_time(now or datetime.now(UTC)), keyring.active_kid or "", "")
    mac = keyring.mac(unsigned.kid, unsigned.signed_bytes())
    assert mac is not None, "the active key is in the keyring"
    return msgspec.structs.replace(unsigned, mac=mac)


def anchor_json(anchor: Anchor) -> bytes:
    return msgspec.json.format(msgspec.json.encode(anchor), indent=2) + b"\n"


def write_anchor(anchor: Anchor, path: str | os.PathLike[str]) -> Path:
    """Write the anchor file atomically (temporary file, fsync, rename, fsync the directory);
    StorageError names the path on failure."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_durably(path, anchor_json(anchor))
    return path


def parse_anchor(text: bytes | str, source: str) -> Anchor:
    if len(text) > MAX_ANCHOR_BYTES:
        raise ValidationError(source, f"is larger than {MAX_ANCHOR_BYTES} bytes", "pass an anchor file")
    try:
        anchor = msgspec.json.decode(text, type=Anchor)
    except msgspec.DecodeError as exc:
        raise ValidationError(source, f"is not a chronik anchor: {exc}",
                              "pass a file written by `chronik anchor --out FILE`") from None
    if anchor.format != ANCHOR_FORMAT:
        raise ValidationError(source, f"has format {anchor.format!r}, not {ANCHOR_FORMAT!r}",
                              "pass a file written by `chronik anchor --out FILE`")
    if anchor.position < 0 or len(anchor.hash) != 64 or len(anchor.mac) != 64:
        raise ValidationError(source, "has an impossible position, hash or mac",
                              "pass the anchor file unchanged")
    return anchor


def read_anchor(path: str | os.PathLike[str]) -> Anchor:
    path = Path(path).expanduser()
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"anchor file {path} does not exist") from None
    except OSError as exc:
        raise ValidationError("--anchor", f"cannot read {path}: {exc.strerror}", "pass a readable file") from None
    return parse_anchor(text, str(path))


def check_anchor(anchor: Anchor, keyring: Keyring | None, ledger_id: str | None) -> str:
    """Check the anchor itself before trusting it; returns how its MAC was checked.

    Raises IntegrityError when its MAC does not match, its key is unknown, or it belongs to
    another ledger: a checkpoint that cannot be trusted cannot vouch for anything."""
    if anchor.ledger_id and ledger_id and anchor.ledger_id != ledger_id:
        raise IntegrityError(f"the anchor is for ledger {anchor.ledger_id}, but this is ledger "
                             f"{ledger_id}: pass the anchor of this ledger")
    if keyring is None:
        return "its MAC was not checked: no keyring (the anchor's hash is trusted as given)"
    expected = keyring.mac(anchor.kid, anchor.signed_bytes())
    if expected is None:
        raise IntegrityError(f"the anchor is signed with key {anchor.kid!r}, which is not in the "
                             f"keyring; add that key to check it")
    if not secrets.compare_digest(expected, anchor.mac):
        raise IntegrityError("the anchor's MAC does not match its content: the anchor file was "
                             "changed or forged")
    return f"its MAC checks under key {anchor.kid!r}"
