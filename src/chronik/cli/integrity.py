"""`chronik keys new|list|rotate` and `chronik anchor`: the keyring and signed head checkpoints.

Thin wrappers over chronik.integrity.keys and chronik.integrity.anchors. Key material is read
from a file (mode 0600) or $CHRONIK_KEYS, never from the command line; no command prints a
secret.
"""

from __future__ import annotations

import click

from chronik.cli.inputs import rename_field
from chronik.cli.output import print_fields, print_table, print_text, write_json_line, write_line
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.integrity.keys import (
    DEFAULT_KEYS_FILE,
    ENV_KEYS,
    ENV_KEYS_FILE,
    Keyring,
    KeyringError,
    add_key,
    create_keyring,
    find_keyring,
    keys_file_path,
)

# No click envvar: chronik.integrity.keys resolves $CHRONIK_KEYS_FILE, $CHRONIK_KEYS and the
# default file, so every command and open_ledger() pick the same keyring by the same rules.
keys_file_option = click.option(
    "--keys-file", metavar="FILE", type=click.Path(dir_okay=False),
    help=f"The keyring file (JSON, mode 0600, yours). Default: ${ENV_KEYS_FILE}, else "
         f"{DEFAULT_KEYS_FILE} when it exists; ${ENV_KEYS} may hold the keyring itself instead.")


def keyring_option_value(keys_file: str | None) -> Keyring | None:
    """The keyring of --keys-file, else of $CHRONIK_KEYS / $CHRONIK_KEYS_FILE / the default file."""
    return find_keyring(keys_file)


@click.group()
def keys() -> None:
    """Manage the HMAC-SHA256 signing keys (keyring file, mode 0600).

    With a keyring (--keys-file, $CHRONIK_KEYS_FILE, $CHRONIK_KEYS or ~/.chronik/keys.json),
    every appended event is signed with the active key: sig = <kid>:<HMAC-SHA256(key, hash)>.
    Older keys stay to verify the events they signed. Keep the keyring off the ledger's disk
    (docs/integrity.md): whoever can rewrite the ledger and read the key can re-sign a forgery.
    """


@keys.command("new")
@keys_file_option
@click.option("--kid", metavar="KID", help="The new key's id (default: k<yyyymmdd>-<4 hex digits>).")
@json_option
def keys_new(keys_file: str | None, kid: str | None, json_output: bool) -> None:
    """Create a keyring file (mode 0600) holding one fresh random key, which signs from now on.

    Without --keys-file: $CHRONIK_KEYS_FILE, else ~/.chronik/keys.json (its folder made 0700
    if missing), which every command then uses. An existing keyring is never replaced: to
    switch to a new signing key, run `chronik keys rotate`.
    """
    path = keys_file_path(keys_file)
    keyring, key = create_keyring(path, kid=kid)
    _print_added(keyring, key.kid, str(path), json_output)


@keys.command("rotate")
@keys_file_option
@click.option("--kid", metavar="KID", help="The new key's id (default: k<yyyymmdd>-<4 hex digits>).")
@json_option
def keys_rotate(keys_file: str | None, kid: str | None, json_output: bool) -> None:
    """Add a fresh key and make it the active signing key.

    New events are signed with the new key; the old keys stay in the keyring, verify-only, so
    every event they signed still verifies. Keep the keyring file backed up: an event whose
    key is lost can no longer be verified (verify reports it as unknown_key).
    """
    path = keys_file_path(keys_file)
    keyring, key = add_key(path, activate=True, kid=kid)
    _print_added(keyring, key.kid, str(path), json_output)


def _print_added(keyring: Keyring, kid: str, path: str, json_output: bool) -> None:
    active = keyring.active_kid == kid
    if json_output:
        write_json_line({"kid": kid, "active": active, "keys_file": path, "keys": len(keyring.keys)})
    else:
        print_text(f"added key {kid} to {path}" + (" (active: new events are signed with it)" if active
                                                  else " (verify-only; `chronik keys rotate` to sign with a new key)"))


@keys.command("list")
@keys_file_option
@json_option
def keys_list(keys_file: str | None, json_output: bool) -> None:
    """List the keys: id, whether it signs new events, when it was made, a fingerprint.

    The fingerprint is an HMAC of a fixed text under the key: it tells keys apart without
    revealing them. Secrets are never printed.
    """
    keyring = keyring_option_value(keys_file)
    if keyring is None:
        raise KeyringError(f"no keyring: {DEFAULT_KEYS_FILE} does not exist and neither ${ENV_KEYS_FILE} "
                           f"nor ${ENV_KEYS} is set (make one with `chronik keys new`, or pass --keys-file)")
    rows = [{"kid": key.kid, "active": key.kid == keyring.active_kid, "created": key.created,
             "fingerprint": key.fingerprint} for key in keyring.keys]
    if json_output:
        for row in rows:
            write_json_line(row)
    else:
        print_table(("KID", "ACTIVE", "CREATED (UTC)", "FINGERPRINT"),
                    ((r["kid"], "yes" if r["active"] else "", r["created"], r["fingerprint"]) for r in rows))


@click.command()
@keys_file_option
@click.option("--out", "out_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the anchor to FILE (atomically) instead of printing it.")
@json_option
def anchor(keys_file: str | None, out_path: str | None, json_output: bool) -> None:
    """Write a signed checkpoint of the head (ledger id, position, hash, kid, time, MAC).

    Keep anchors somewhere the ledger's writers cannot change (another machine, a ticket, a
    printout). `chronik verify --anchor FILE` then detects tail truncation and rollback, which
    no hash chain can detect on its own.
    """
    from chronik.integrity.anchors import anchor_json, make_anchor, write_anchor
    from chronik.ledger import open_ledger

    keyring = keyring_option_value(keys_file)
    try:
        ledger = open_ledger(cli_state().ledger_url, keyring=keyring, read_only=True)
    except ValidationError as error:
        raise rename_field(error, {"url": "--ledger"}) from None
    with ledger:
        made = make_anchor(ledger, ledger.keyring)
    if out_path is None:
        if json_output:
            write_json_line(made)
        else:
            write_line(anchor_json(made).decode().rstrip("\n"))
        return
    path = write_anchor(made, out_path)
    if json_output:
        write_json_line({"anchor": str(path), "position": made.position, "hash": made.hash, "kid": made.kid})
    else:
        print_fields([("anchor", str(path)), ("position", made.position), ("hash", made.hash),
                      ("kid", made.kid), ("time", made.time)])
