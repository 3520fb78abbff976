"""`chronik repair` as a library call: repair what can be repaired without losing a committed
event, and refuse, before anything opens the ledger for writing, when the store's own check
finds damage repair cannot mend.

Why refuse first: a SQLite ledger whose -wal holds commits SQLite will never read
(`wal_unread`) loses that evidence to the first connection that writes: SQLite checkpoints what
it can read and deletes the -wal when the last connection closes. So the check runs on a
read-only open, and only torn tails (`torn_tail`: a JSON Lines commit cut short, a SQLite commit
torn by a crash) go on to `Store.repair`, which moves their bytes to a quarantine file.
"""

from __future__ import annotations

from chronik.errors import IntegrityError
from chronik.stores import open_store, resolve_url
from chronik.stores.base import StorageFinding

# What Store.repair mends; anything else the check finds is left as it is, for a person.
REPAIRABLE = frozenset({"torn_tail"})


def repair_storage(url: str | None) -> list[StorageFinding]:
    """Repair the ledger at `url` (else $CHRONIK_URL, else the default; it must exist); what was
    repaired ([] when nothing needed it). IntegrityError, with nothing opened for writing, when
    the check finds other damage."""
    url = resolve_url(url)
    reader = open_store(url, read_only=True)
    try:
        findings = reader.check_storage()
    finally:
        reader.close()
    beyond = [finding for finding in findings if finding.code not in REPAIRABLE]
    if beyond:
        listed = "; ".join(f"{finding.code}: {finding.message}" for finding in beyond)
        raise IntegrityError(f"not repaired, nothing written: `chronik repair` moves torn tails only, and "
                             f"this ledger has damage it cannot mend ({listed}). Copy the ledger files as they "
                             f"are, then restore from a backup or compare with an anchor")
    store = open_store(url)
    try:
        return store.repair()
    finally:
        store.close()
