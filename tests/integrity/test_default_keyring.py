"""The default keyring ~/.chronik/keys.json (issue 10, item 14).

`chronik keys new && chronik anchor --out head.anchor`, as the README shows it, works; every
command and open_ledger() sign with the default keyring when it exists and never create it;
$CHRONIK_KEYS_FILE and $CHRONIK_KEYS override it; a keyring others can read, or that another user
owns, is refused with the path and the fix; `keys new` never replaces a keyring.

The commands run as real processes with HOME a fresh folder (so the default is never the real
one) and no CHRONIK_* variable but those a test sets.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronik import NewEvent, open_ledger
from chronik.errors import ValidationError
from chronik.integrity.keys import (
    Keyring,
    KeyringError,
    create_keyring,
    keyring_from_environment,
    keys_file_path,
    new_key,
)

README = Path(__file__).parents[2] / "README.md"
CHRONIK = [sys.executable, "-m", "chronik.cli"]
# The README's line, found by its start so the test runs exactly what the README shows.
README_LINE_START = "chronik keys new && "


def environment(home: Path, **variables: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHRONIK_")}
    # `chronik` as the README types it: the console script installed beside this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "HOME": str(home), **variables}


def chronik(home: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHRONIK, *args], capture_output=True, text=True, timeout=60,
                          env=environment(home, **variables), cwd=home)


def default_keys(home: Path) -> Path:
    return home / ".chronik" / "keys.json"


def active_kid(path: Path) -> str:
    return json.loads(path.read_text())["active"]


def signatures(home: Path, stream: str) -> list[str | None]:
    result = chronik(home, "read", stream, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["sig"] for line in result.stdout.splitlines()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_the_readme_line_works_as_written(home: Path, tmp_path: Path):
    line = next(text for text in README.read_text().splitlines() if text.startswith(README_LINE_START))
    command = line.split("#")[0].strip()
    assert command == "chronik keys new && chronik anchor --out head.anchor"
    assert chronik(home, "append", "order:1", "created", "--data", '{"sku": "A-1"}').returncode == 0

    work = tmp_path / "work"
    work.mkdir()
    ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60,
                         env=environment(home), cwd=work)

    assert ran.returncode == 0, ran.stderr
    keys = default_keys(home)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    anchor = json.loads((work / "head.anchor").read_text())
    assert anchor["position"] == 1 and anchor["kid"] == active_kid(keys)
    # From now on every command signs, and verify checks the signatures and the anchor.
    assert chronik(home, "append", "order:1", "paid").returncode == 0
    first, second = signatures(home, "order:1")
    assert first is None and second is not None and second.startswith(active_kid(keys) + ":")
    verified = chronik(home, "verify", "--anchor", str(work / "head.anchor"), "--json")
    assert verified.returncode == 0, verified.stdout
    checks = {check["name"]: check["status"] for check in json.loads(verified.stdout)["checks"]}
    assert checks["signatures"] == "ok" and checks["anchor"] == "ok"


OPEN_AND_APPEND = """
import json, chronik
with chronik.open_ledger() as ledger:
    ledger.append("order:1", [chronik.NewEvent("created", {})])
    last = list(ledger.read_all())[-1]
    print(json.dumps({"kid": ledger.keyring and ledger.keyring.active_kid, "sig": last.sig}))
"""


def open_and_append(home: Path, **variables: str) -> dict:
    ran = subprocess.run([sys.executable, "-c", OPEN_AND_APPEND], capture_output=True, text=True,
                         timeout=60, env=environment(home, **variables))
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_open_ledger_signs_with_the_default_keyring_only_when_it_exists(home: Path):
    assert open_and_append(home) == {"kid": None, "sig": None}
    assert (home / ".chronik" / "ledger.db").exists() and not default_keys(home).exists()

    assert chronik(home, "keys", "new", "--kid", "home-key").returncode == 0
    signed = open_and_append(home)

    assert signed["kid"] == "home-key" and signed["sig"].startswith("home-key:")


def test_chronik_keys_file_and_chronik_keys_override_the_default(home: Path, tmp_path: Path):
    assert chronik(home, "keys", "new", "--kid", "home").returncode == 0
    elsewhere = tmp_path / "secrets" / "keys.json"  # e.g. another mount
    made = chronik(home, "keys", "new", "--kid", "elsewhere", CHRONIK_KEYS_FILE=str(elsewhere))
    assert made.returncode == 0 and str(elsewhere) in made.stdout
    assert active_kid(default_keys(home)) == "home" and active_kid(elsewhere) == "elsewhere"
    inline = Keyring([new_key("inline")], "inline").to_json().decode()

    for variables in ({"CHRONIK_KEYS_FILE": str(elsewhere)}, {"CHRONIK_KEYS": inline}, {}):
        appended = chronik(home, "append", "order:1", "noted", **variables)
        assert appended.returncode == 0, appended.stderr

    assert [sig.split(":")[0] for sig in signatures(home, "order:1")] == ["elsewhere", "inline", "home"]
    both = chronik(home, "append", "order:1", "noted", CHRONIK_KEYS_FILE=str(elsewhere), CHRONIK_KEYS=inline)
    assert both.returncode == 1 and "both $CHRONIK_KEYS and $CHRONIK_KEYS_FILE" in both.stderr


def test_a_keys_file_others_can_read_is_refused_naming_the_path_and_the_fix(home: Path):
    assert chronik(home, "keys", "new").returncode == 0
    keys = default_keys(home)
    keys.chmod(0o644)

    for command in (["append", "order:1", "created"], ["verify"], ["keys", "list"]):
        refused = chronik(home, *command)
        assert refused.returncode == 1, (command, refused.stdout)
        assert f"keyring file {keys} has mode 0644" in refused.stderr
        assert f"fix: chmod 600 {keys}" in refused.stderr
    assert not (home / ".chronik" / "ledger.db").exists()  # refused before anything was written


def open_and_append_in_process() -> None:
    with open_ledger("memory:") as ledger:
        ledger.append("order:1", [NewEvent("created", {})])


def test_open_ledger_refuses_a_default_keyring_others_can_read():
    # HOME is a fresh folder (tests/integrity/conftest.py): this is the default keyring.
    path = keys_file_path()
    create_keyring(path)
    path.chmod(0o640)
    with pytest.raises(KeyringError, match=rf"{path} has mode 0640.*fix: chmod 600 {path}"):
        open_and_append_in_process()


def test_a_keys_file_another_user_owns_is_refused(monkeypatch: pytest.MonkeyPatch):
    # HOME is a fresh folder (tests/integrity/conftest.py): this is the default keyring.
    path = keys_file_path()
    create_keyring(path)
    someone_else = path.stat().st_uid + 1
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)

    with pytest.raises(KeyringError, match=rf"{path} belongs to uid \d+, not to the user running "
                                           rf"chronik \(uid {someone_else}\) \(fix: chown"):
        open_and_append_in_process()


def test_keys_new_refuses_to_replace_a_keyring(home: Path):
    made = chronik(home, "keys", "new", "--kid", "first")
    assert made.returncode == 0, made.stderr
    keys = default_keys(home)
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700  # made by keys new
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    before = keys.read_bytes()

    for again in (chronik(home, "keys", "new"), chronik(home, "keys", "new", "--keys-file", str(keys))):
        assert again.returncode == 2
        assert f"{keys} already exists" in again.stderr and "chronik keys rotate" in again.stderr
    assert keys.read_bytes() == before

    rotated = chronik(home, "keys", "rotate", "--kid", "second")
    assert rotated.returncode == 0 and active_kid(keys) == "second"
    assert [key["kid"] for key in json.loads(keys.read_text())["keys"]] == ["first", "second"]


# Each racer loads chronik, then waits for a shared start time, so the four `keys new` overlap
# instead of being staggered by interpreter start-up.
RACER = """
import sys, time
import chronik.cli.integrity
from chronik.cli.main import main
start, kid = float(sys.argv[1]), sys.argv[2]
while time.time() < start:
    time.sleep(0.0005)
sys.argv = ["chronik", "keys", "new", "--json", "--kid", kid]
main()
"""


def test_keys_new_at_once_make_exactly_one_keyring(home: Path):
    # link(2) into place: whichever process comes second is refused, never silently replaces
    # the keyring the first one reported (and may already have signed with).
    start = time.time() + 0.6
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(start), f"racer{n}"], env=environment(home),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    outcomes = [(racer.wait(timeout=60), racer.stdout.read()) for racer in racers]  # type: ignore[union-attr]
    winners = [json.loads(out)["kid"] for code, out in outcomes if code == 0]

    assert len(winners) == 1 and sorted(code for code, _ in outcomes) == [0, 2, 2, 2]
    assert active_kid(default_keys(home)) == winners[0]
    assert list(default_keys(home).parent.iterdir()) == [default_keys(home)]  # no staged file left


def test_no_default_keyring_is_no_keyring_and_creates_nothing():
    assert keyring_from_environment() is None
    assert not keys_file_path().parent.exists()


def test_keys_new_and_rotate_with_only_chronik_keys_ask_for_a_file(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHRONIK_KEYS", Keyring([new_key("inline")], "inline").to_json().decode())
    with pytest.raises(ValidationError, match=r"keys_file: is not given, and \$CHRONIK_KEYS holds"):
        keys_file_path()
    refused = chronik_in_process("keys", "rotate")
    assert refused.exit_code == 2 and "--keys-file: is not given" in refused.stderr


def chronik_in_process(*args: str):
    from click.testing import CliRunner

    from chronik.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)
