"""The keyring: files with mode 0600 only, $CHRONIK_KEYS, never argv; keys new|list|rotate."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from chronik.cli.main import cli
from chronik.errors import NotFound
from chronik.integrity.keys import (
    Keyring,
    KeyringError,
    add_key,
    keyring_from_environment,
    load_keyring_file,
    new_key,
    parse_keyring,
)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_keys_new_creates_a_0600_file_whose_first_key_signs(tmp_path):
    path = tmp_path / "keys.json"
    keyring, key = add_key(path, activate=False, kid="first")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keyring.active_kid == "first" and load_keyring_file(path).active_kid == "first"
    _, second = add_key(path, activate=False, kid="second")
    assert load_keyring_file(path).active_kid == "first" and load_keyring_file(path).get("second")
    _, third = add_key(path, activate=True)
    assert load_keyring_file(path).active_kid == third.kid


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_keyring_file_others_can_access_is_refused_with_the_fix(tmp_path, mode):
    path = tmp_path / "keys.json"
    add_key(path, activate=True)
    os.chmod(path, mode)
    with pytest.raises(KeyringError, match=rf"mode {mode:04o}.*chmod 600"):
        load_keyring_file(path)


def test_a_missing_keyring_file_says_how_to_make_one(tmp_path):
    with pytest.raises(NotFound, match="chronik keys new"):
        load_keyring_file(tmp_path / "nope.json")


def test_the_environment_holds_the_keyring_or_names_its_file(tmp_path):
    path = tmp_path / "keys.json"
    keyring, _ = add_key(path, activate=True, kid="env")
    assert keyring_from_environment({}) is None
    assert keyring_from_environment({"CHRONIK_KEYS_FILE": str(path)}).active_kid == "env"
    assert keyring_from_environment({"CHRONIK_KEYS": keyring.to_json().decode()}).active_kid == "env"


def test_bad_keyrings_are_refused_clearly():
    with pytest.raises(KeyringError, match="not a chronik keyring"):
        parse_keyring("{}", "$CHRONIK_KEYS")
    short = {"format": "chronik.keyring.v1", "active": "a", "keys": [{"kid": "a", "secret": "00" * 8}]}
    with pytest.raises(KeyringError, match="at least 32"):
        parse_keyring(json.dumps(short), "x")
    with pytest.raises(KeyringError, match="active key 'b' is not in the keyring"):
        Keyring([new_key("a")], "b")
    with pytest.raises(KeyringError, match="no active key"):
        Keyring([new_key("a")], None).sign("0" * 64)


def test_secrets_never_show(tmp_path):
    key = new_key("shy")
    assert key.secret.hex() not in repr(key) and key.secret.hex() not in repr(Keyring([key], "shy"))
    path = tmp_path / "keys.json"
    result = run("keys", "new", "--keys-file", str(path), "--kid", "k1")
    assert result.exit_code == 0, result.output
    secret = json.loads(path.read_text())["keys"][0]["secret"]
    listed = run("keys", "list", "--keys-file", str(path))
    assert "k1" in listed.stdout and secret not in listed.stdout


def test_keys_commands_new_rotate_list(tmp_path):
    path = str(tmp_path / "keys.json")
    assert run("keys", "new", "--keys-file", path, "--kid", "k1").exit_code == 0
    again = run("keys", "new", "--keys-file", path, "--kid", "k2")
    assert again.exit_code == 2 and "already exists" in again.stderr and "chronik keys rotate" in again.stderr
    rotated = run("keys", "rotate", "--json", env={"CHRONIK_KEYS_FILE": path})
    assert rotated.exit_code == 0
    new_kid = json.loads(rotated.stdout)["kid"]
    rows = [json.loads(line) for line in run("keys", "list", "--json", "--keys-file", path).stdout.splitlines()]
    assert [(r["kid"], r["active"]) for r in rows] == [("k1", False), (new_kid, True)]
    assert len({r["fingerprint"] for r in rows}) == 2


def test_keys_commands_never_take_a_secret(tmp_path):
    # There is no option that takes key material.
    for command in ("new", "rotate", "list"):
        help_text = run("keys", command, "--help").stdout
        assert "--secret" not in help_text and "--key " not in help_text
    assert run("keys", "new", "--keys-file", str(tmp_path / "k.json"), "--kid", "bad:kid").exit_code == 2


@pytest.mark.parametrize("size", [32, 64, 65, 100])
def test_the_fast_signer_is_hmac_sha256(size):
    import hashlib
    import hmac
    import secrets

    from chronik.integrity.keys import Key

    key = Key("k", secrets.token_bytes(size), "")
    for message in ["0" * 64, secrets.token_hex(32)]:
        expected = hmac.new(key.secret, message.encode(), hashlib.sha256).hexdigest()
        assert Keyring([key], "k").sign(message) == f"k:{expected}"
