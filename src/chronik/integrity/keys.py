"""The HMAC-SHA256 keyring: key ids, one active signing key, older verify-only keys.

A keyring is a JSON document (docs/formats.md, "Keyring file")::

    {"format": "chronik.keyring.v1", "active": "k20261122-3f9a",
     "keys": [{"kid": "k20261122-3f9a", "secret": "<64 hex digits>", "created": "2026-11-22T01:15:09.123456Z"}]}

It comes from a file owned by the user running chronik whose mode gives nobody else any access
(0600 or stricter; anything else is refused with the command that fixes it): the one named by
`--keys-file` / `keys_file`, else by $CHRONIK_KEYS_FILE, else ~/.chronik/keys.json when that
exists (beside the default ledger; `chronik keys new` creates it). Or from the environment
variable $CHRONIK_KEYS holding the document itself. Never from argv: a secret on a command line
is visible to every user of the machine (ps, /proc/*/cmdline) and lands in shell history.
Secrets never appear in repr(), `keys list` or errors. docs/integrity.md says where to keep it.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from chronik import codec
from chronik.errors import ChronikError, NotFound, StorageError, ValidationError
from chronik.fileio import REAL, os_reason, write_file_durably
from chronik.integrity.keyring_location import DEFAULT_KEYS_FILE, ENV_KEYS, ENV_KEYS_FILE

KEYRING_FORMAT = "chronik.keyring.v1"
KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SECRET_BYTES = 32
MIN_SECRET_BYTES = 32
MAX_KEYS = 1_000
MAX_KEYRING_BYTES = 1024 * 1024
# Permission bits a keyring file must not have: any access for group or others.
FORBIDDEN_MODE_BITS = 0o077


class KeyringError(ChronikError):
    """The keyring cannot be used: unsafe file mode, bad format, no active key."""


class Key(msgspec.Struct, frozen=True):
    kid: str
    secret: bytes
    created: str

    def __repr__(self) -> str:  # never the secret
        return f"Key(kid={self.kid!r}, created={self.created!r})"

    @property
    def fingerprint(self) -> str:
        """A public, stable short name of the secret (not usable to sign)."""
        return hmac.digest(self.secret, b"chronik.key.fingerprint", "sha256").hex()[:16]


class _KeyFile(msgspec.Struct, forbid_unknown_fields=True):
    kid: str
    secret: str
    created: str = ""


class _KeyringFile(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    keys: list[_KeyFile]
    active: str | None = None


class Keyring:
    """Keys by id; `sign(hash)` uses the active key, `mac_for(kid, ...)` any key."""

    def __init__(self, keys: list[Key], active: str | None) -> None:
        if len(keys) > MAX_KEYS:
            raise KeyringError(f"a keyring holds at most {MAX_KEYS} keys, this one {len(keys)}")
        self._keys: dict[str, Key] = {}
        for key in keys:
            if key.kid in self._keys:
                raise KeyringError(f"key id {key.kid!r} appears twice in the keyring")
            self._keys[key.kid] = key
        if active is not None and active not in self._keys:
            raise KeyringError(f"the active key {active!r} is not in the keyring")
        self.active_kid = active
        # What signs with the active key (the closure stores call under their write lock), or None.
        self.signer: Callable[[str], str] | None = (
            None if active is None else _hmac_signer(active, self._keys[active].secret))

    def sign(self, hash_hex: str) -> str:
        if self.signer is None:
            raise KeyringError("the keyring has no active key; run `chronik keys rotate` to add one")
        return self.signer(hash_hex)

    @property
    def can_sign(self) -> bool:
        return self.active_kid is not None

    @property
    def keys(self) -> list[Key]:
        return list(self._keys.values())

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def get(self, kid: str) -> Key | None:
        return self._keys.get(kid)

    def mac(self, kid: str, message: bytes) -> str | None:
        """hex HMAC-SHA256 of `message` under key `kid`, or None when the keyring lacks it."""
        key = self._keys.get(kid)
        return None if key is None else hmac.digest(key.secret, message, "sha256").hex()

    def with_key(self, key: Key, activate: bool) -> Keyring:
        return Keyring([*self._keys.values(), key], key.kid if activate else self.active_kid)

    def without(self, kid: str) -> Keyring:
        if kid not in self._keys:
            raise NotFound(f"key {kid!r} is not in the keyring")
        active = None if kid == self.active_kid else self.active_kid
        return Keyring([k for k in self._keys.values() if k.kid != kid], active)

    def to_json(self) -> bytes:
        document = _KeyringFile(KEYRING_FORMAT, [_KeyFile(k.kid, k.secret.hex(), k.created)
                                                 for k in self._keys.values()], self.active_kid)
        return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"

    def __repr__(self) -> str:
        return f"<Keyring active={self.active_kid!r} kids={self.kids!r}>"


def _hmac_signer(kid: str, secret: bytes) -> Callable[[str], str]:
    """sign(hash_hex) -> "<kid>:<hex HMAC-SHA256(secret, hash_hex)>", the hot path of every
    signed append. HMAC (RFC 2104) from SHA-256 states pre-fed with the padded key and copied per
    message: the same bytes as hmac.digest (test_keys checks it), at about half its cost, which
    sets up OpenSSL's HMAC context on every call."""
    block = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    block = block.ljust(64, b"\0")
    inner_start = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer_start = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    prefix = kid + ":"

    def sign(hash_hex: str) -> str:
        inner = inner_start.copy()
        inner.update(hash_hex.encode())
        outer = outer_start.copy()
        outer.update(inner.digest())
        return prefix + outer.hexdigest()

    return sign


# ---------------------------------------------------------------- making keys


def new_key(kid: str | None = None, now: datetime | None = None) -> Key:
    """A fresh random 256-bit key. Its id defaults to k<yyyymmdd>-<4 random hex digits>."""
    now = now or datetime.now(UTC)
    if kid is None:
        kid = f"k{now:%Y%m%d}-{secrets.token_hex(2)}"
    check_kid(kid, "kid")
    return Key(kid, secrets.token_bytes(SECRET_BYTES), codec.format_time(now))


def check_kid(kid: object, field: str) -> str:
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise ValidationError(field, f"{kid!r} is not a key id",
                              "use 1-64 letters, digits and _ . - (no ':'), starting with a letter or digit")
    return kid


# ---------------------------------------------------------------- loading


def parse_keyring(text: bytes | str, source: str) -> Keyring:
    """A keyring from its JSON document; `source` names where it came from in errors."""
    if len(text) > MAX_KEYRING_BYTES:
        raise KeyringError(f"{source}: a keyring is at most {MAX_KEYRING_BYTES} bytes")
    try:
        document = msgspec.json.decode(text, type=_KeyringFile)
    except msgspec.DecodeError as exc:
        raise KeyringError(f"{source} is not a chronik keyring: {exc}") from None
    if document.format != KEYRING_FORMAT:
        raise KeyringError(f"{source}: format {document.format!r} is not {KEYRING_FORMAT!r}")
    keys = []
    for index, entry in enumerate(document.keys):
        field = f"{source}: keys[{index}]"
        check_kid(entry.kid, f"{field}.kid")
        try:
            secret = bytes.fromhex(entry.secret)
        except ValueError:
            raise KeyringError(f"{field}.secret is not hex digits") from None
        if len(secret) < MIN_SECRET_BYTES:
            raise KeyringError(f"{field}.secret has {len(secret)} bytes; at least {MIN_SECRET_BYTES} "
                               f"are required (make one with `chronik keys new`)")
        keys.append(Key(entry.kid, secret, entry.created))
    return Keyring(keys, document.active)


def load_keyring_file(path: str | os.PathLike[str]) -> Keyring:
    """Load a keyring file, refusing one that is not the user's own or that others can access."""
    path = Path(path).expanduser()
    keyring = _read_keyring_file(path)
    if keyring is None:
        raise NotFound(f"keyring file {path} does not exist; create it with `chronik keys new "
                       f"--keys-file {path}`")
    return keyring


def _read_keyring_file(path: Path) -> Keyring | None:
    """The keyring in `path`, or None when there is no such file."""
    try:
        # O_NOFOLLOW: a symlink planted in its place cannot point the read somewhere else.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyringError(f"keyring file {path} is a symbolic link, which is not followed (fix: "
                               f"name the file it points to with ${ENV_KEYS_FILE})") from None
        raise KeyringError(f"cannot open keyring file {path}: {os_reason(exc)}") from None
    with os.fdopen(fd, "rb") as file:
        _check_private(path, os.fstat(file.fileno()))
        text = file.read(MAX_KEYRING_BYTES + 1)
    return parse_keyring(text, str(path))


def _check_private(path: Path, status: os.stat_result) -> None:
    """Only its owner may read a keyring, and that owner must be the user running chronik: a file
    someone else owns can be re-moded or rewritten by them at any time (as OpenSSH refuses a
    private key that is not its user's)."""
    if not stat.S_ISREG(status.st_mode):
        raise KeyringError(f"keyring file {path} is not a regular file")
    user = os.geteuid() if hasattr(os, "geteuid") else None
    if user is not None and status.st_uid != user:
        raise KeyringError(f"keyring file {path} belongs to uid {status.st_uid}, not to the user running "
                           f"chronik (uid {user}) (fix: chown {user} {path} && chmod 600 {path}, or "
                           f"use a keyring of your own)")
    if status.st_mode & FORBIDDEN_MODE_BITS:
        raise KeyringError(f"keyring file {path} has mode {stat.S_IMODE(status.st_mode):04o}: group or "
                           f"others can access it; only its owner may (fix: chmod 600 {path})")


def default_keys_file() -> Path | None:
    """~/.chronik/keys.json, or None when there is no home folder to find it in."""
    try:
        return Path(DEFAULT_KEYS_FILE).expanduser()
    except RuntimeError:  # no $HOME and no password entry for the user
        return None


def keyring_from_environment(environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring of $CHRONIK_KEYS (the document) or $CHRONIK_KEYS_FILE (a path, which must
    exist), else of ~/.chronik/keys.json when that exists, else None. Never creates a file."""
    environ = os.environ if environ is None else environ
    text = environ.get(ENV_KEYS)
    named = environ.get(ENV_KEYS_FILE)
    if text and named:
        # Either one could be the keyring meant; signing with the wrong one is worse than stopping.
        raise KeyringError(f"both ${ENV_KEYS} and ${ENV_KEYS_FILE} are set: unset one of them")
    if text:
        return parse_keyring(text, f"${ENV_KEYS}")
    if named:
        return load_keyring_file(named)
    default = default_keys_file()
    return None if default is None else _read_keyring_file(default)


def find_keyring(keys_file: str | os.PathLike[str] | None = None,
                 environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring in `keys_file` when one is named, else keyring_from_environment's."""
    return load_keyring_file(keys_file) if keys_file else keyring_from_environment(environ)


def keys_file_path(keys_file: str | os.PathLike[str] | None = None,
                   environ: Mapping[str, str] | None = None) -> Path:
    """The keyring file to create or change: `keys_file`, else $CHRONIK_KEYS_FILE, else
    ~/.chronik/keys.json."""
    environ = os.environ if environ is None else environ
    named = keys_file or environ.get(ENV_KEYS_FILE)
    if named:
        return Path(named).expanduser()
    if environ.get(ENV_KEYS):
        # Every command would go on signing with $CHRONIK_KEYS: a file written now would be ignored.
        raise ValidationError("keys_file", f"is not given, and ${ENV_KEYS} holds the keyring in use",
                              f"name the keyring file to change (or set ${ENV_KEYS_FILE}), or "
                              f"unset ${ENV_KEYS}")
    default = default_keys_file()
    if default is None:
        raise ValidationError("keys_file", "is not given, and there is no home folder for the default "
                              f"{DEFAULT_KEYS_FILE}", f"name the keyring file or set ${ENV_KEYS_FILE}")
    return default


# ---------------------------------------------------------------- saving


def create_keyring(keys_file: str | os.PathLike[str], kid: str | None = None) -> tuple[Keyring, Key]:
    """A new keyring file (mode 0600, its folder made 0700 if missing) holding one fresh key,
    active. Never replaces a file: an existing keyring, even one another process creates at the
    same moment, is refused, so no key that may have signed events is ever lost."""
    path = Path(keys_file).expanduser()
    if os.path.lexists(path):
        raise _keyring_exists(path)
    key = new_key(kid)
    keyring = Keyring([key], key.kid)
    _make_private_folder(path.parent)
    # Written whole under a private name, then linked into place: link(2), unlike rename,
    # fails when the target exists.
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    write_file_durably(staged, keyring.to_json(), mode=0o600)
    try:
        _link_without_replacing(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    try:
        REAL.fsync_directory(str(path))
    except OSError as exc:
        raise StorageError(f"cannot fsync the directory of {path}: {os_reason(exc)}") from exc
    return keyring, key


def _link_without_replacing(staged: Path, path: Path) -> None:
    try:
        os.link(staged, path)
    except FileExistsError:
        raise _keyring_exists(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise StorageError(f"cannot create {path}: {os_reason(exc)}; nothing was written") from exc
        # A file system without hard links: rename, after checking again (a narrow race remains).
        if os.path.lexists(path):
            raise _keyring_exists(path) from None
        try:
            os.rename(staged, path)
        except OSError as exc:
            raise StorageError(f"cannot create {path}: {os_reason(exc)}; nothing was written") from exc


def _keyring_exists(path: Path) -> ValidationError:
    return ValidationError(
        "keys_file", f"{path} already exists; a new keyring never replaces one (its keys may have "
        f"signed events that only they can verify)",
        "to sign new events with a fresh key run `chronik keys rotate`: older keys stay in the "
        "keyring to verify what they signed; or name another file for a separate keyring")


def _make_private_folder(folder: Path) -> None:
    """Create the keyring's folder 0700 when missing (an existing folder is left as it is)."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        REAL.fsync_directory(str(folder))  # its entry in the parent, so the keyring survives power loss
    except OSError as exc:
        raise StorageError(f"cannot create the folder {folder}: {os_reason(exc)}") from exc


def save_keyring_file(path: str | os.PathLike[str], keyring: Keyring) -> None:
    """Write atomically: a 0600 temporary file beside it, fsync, rename, fsync the directory."""
    path = Path(path).expanduser()
    _make_private_folder(path.parent)
    write_file_durably(path, keyring.to_json(), mode=0o600)


def add_key(path: str | os.PathLike[str], *, activate: bool, kid: str | None = None) -> tuple[Keyring, Key]:
    """Add a fresh key to the keyring file (created 0600 when missing; its first key is active).
    `activate` makes the new key the signing key: that is a rotation."""
    path = Path(path).expanduser()
    existing = _read_keyring_file(path) or Keyring([], None)
    key = new_key(kid)
    if existing.get(key.kid) is not None:
        raise ValidationError("kid", f"{key.kid!r} is already in {path}", "choose another key id")
    keyring = existing.with_key(key, activate or existing.active_kid is None)
    save_keyring_file(path, keyring)
    return keyring, key
