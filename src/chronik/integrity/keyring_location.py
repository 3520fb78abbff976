"""Where a keyring is looked for, without loading one: what `open_ledger` asks on every open.

The keyring module (chronik.integrity.keys) brings hmac, secrets and the keyring format: 4 ms of
a command's start. Most ledgers have no keyring, so `open_ledger` first asks `keyring_configured`
(environment variables and one `lstat`) and imports the keyring module only when there may be
one to load; the answer errs towards yes (anything at the default path, even a broken link,
is loaded and judged by the keyring module).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_KEYS = "CHRONIK_KEYS"
ENV_KEYS_FILE = "CHRONIK_KEYS_FILE"
# The keyring every command and open_ledger() use when nothing names one and it exists: per user,
# beside the default ledger (~/.chronik/ledger.db). Only `chronik keys new|rotate` create it.
DEFAULT_KEYS_FILE = "~/.chronik/keys.json"


def keyring_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether $CHRONIK_KEYS or $CHRONIK_KEYS_FILE is set, or anything is at the default path."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_KEYS) or environ.get(ENV_KEYS_FILE):
        return True
    default = os.path.expanduser(DEFAULT_KEYS_FILE)
    return default != DEFAULT_KEYS_FILE and os.path.lexists(default)
