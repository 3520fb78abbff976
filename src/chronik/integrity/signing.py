"""Event signatures: `sig = "<kid>:<hex HMAC-SHA256(key[kid], hash)>"` (docs/adr/0009).

The MAC covers the event's hash, as its 64 lower-case hex digits in ASCII; the hash already
covers every other field and `prev`, so a signature vouches for the event and for the whole chain
before it. Signing happens in the store, under its write lock, right after the hash is linked
(`Store.signer`, set by the Ledger from its keyring).

`SignatureCheck` is what `verify` passes into the core `ChainChecker`: a callable that returns
a problem (kind, detail) for an event, or None.
"""

from __future__ import annotations

import hmac
import re
from collections import Counter
from typing import Any

from chronik.integrity.keys import Keyring
from chronik.model import Event

SIG_PATTERN = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([0-9a-f]{64})")

# Problem kinds a signature check reports.
BAD_SIGNATURE = "bad_signature"
UNKNOWN_KEY = "unknown_key"
MISSING_SIGNATURE = "missing_signature"
MALFORMED_SIGNATURE = "malformed_signature"
SIGNATURE_KINDS = (BAD_SIGNATURE, UNKNOWN_KEY, MISSING_SIGNATURE, MALFORMED_SIGNATURE)


def signature_of(keyring: Keyring, kid: str, hash_hex: str) -> str | None:
    mac = keyring.mac(kid, hash_hex.encode())
    return None if mac is None else f"{kid}:{mac}"


class SignatureCheck:
    """Checks each event's `sig` against a keyring and counts what it saw.

    Policy for unsigned events: with `require_signatures`, every event must be signed. Otherwise
    unsigned events are accepted only before the first signed one (a ledger that got a keyring
    later); an unsigned event after a signed one is `missing_signature`, so stripping the
    signatures off a recomputed tail does not pass. (Stripping every signature and recomputing
    the whole chain is caught by an anchor, or by `--require-signatures`.)"""

    def __init__(self, keyring: Keyring, require_signatures: bool = False) -> None:
        self.keyring = keyring
        self.require_signatures = require_signatures
        self.by_kid: Counter[str] = Counter()
        self.signed = 0
        self.unsigned = 0
        self.unsigned_before_first_signed = 0
        self.bad = 0

    def __call__(self, event: Event) -> tuple[str, str] | None:
        problem = self._check(event)
        if problem is not None:
            self.bad += 1
        return problem

    def _check(self, event: Event) -> tuple[str, str] | None:
        sig = event.sig
        if sig is None:
            self.unsigned += 1
            if self.require_signatures:
                return MISSING_SIGNATURE, "the event is not signed and signatures are required"
            if self.signed:
                return MISSING_SIGNATURE, ("the event is not signed, but events before it are: its "
                                           "signature was removed or it was written without the key")
            self.unsigned_before_first_signed += 1
            return None
        self.signed += 1
        match = SIG_PATTERN.fullmatch(sig)
        if match is None:
            return MALFORMED_SIGNATURE, f"sig {sig[:40]!r} is not <kid>:<64 hex digits>"
        kid, mac = match.groups()
        self.by_kid[kid] += 1
        expected = self.keyring.mac(kid, event.hash.encode())
        if expected is None:
            return UNKNOWN_KEY, (f"signed with key {kid!r}, which is not in the keyring; add the key "
                                 f"back to verify this event")
        if not hmac.compare_digest(expected, mac):
            return BAD_SIGNATURE, (f"the signature does not match the hash under key {kid!r}: the "
                                   f"event or its chain was rewritten without the key")
        return None

    def summary(self) -> dict[str, Any]:
        return {"signed": self.signed, "unsigned": self.unsigned, "bad": self.bad,
                "by_kid": dict(sorted(self.by_kid.items())), "require_signatures": self.require_signatures}
