"""Heavy or optional code stays out of `import chronik` and `chronik --help` (DESIGN section 4)."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_chronik_loads_no_services_or_drivers():
    loaded = _modules_after("import chronik")
    for heavy in ("chronik.derive", "chronik.lifecycle", "psycopg", "rich", "click", "sqlite3"):
        assert heavy not in loaded, f"import chronik loaded {heavy}"


def test_derive_names_still_resolve_from_the_package():
    loaded = _modules_after("import chronik\nassert chronik.Reducer.__name__ == 'Reducer'")
    assert "chronik.derive.reducer" in loaded


def _modules_of_command(tmp_path, *argv: str) -> set[str]:
    """The modules a real `chronik ARGV` run has loaded when it ends (no keyring configured)."""
    import os

    ledger, out = tmp_path / "small.db", tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("CHRONIK_KEYS", "CHRONIK_KEYS_FILE", "CHRONIK_URL")}
    env.update(HOME=str(tmp_path), MODULES_OUT=str(out))  # HOME: no ~/.chronik/keys.json
    code = ("import atexit, os, sys\n"
            "atexit.register(lambda: open(os.environ['MODULES_OUT'], 'w').write(' '.join(sys.modules)))\n"
            "from chronik.cli.main import main\n"
            "main()")
    chronik = [sys.executable, "-c", code, "--ledger", str(ledger)]
    subprocess.run([*chronik, "append", "order:1", "placed"], capture_output=True, env=env, check=True)
    result = subprocess.run([*chronik, *argv], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return set(out.read_text().split())


def test_chronik_head_and_ext_status_load_nothing_they_do_not_use(tmp_path):
    # Each of these cost 2-4 ms of every start (docs/performance.md, "Round two"): the keyring
    # module without a keyring, threads' futures and sockets without a writer, pathlib and
    # urllib.parse without a path to build, subprocess without a command to run.
    unused = ("chronik.integrity.keys", "concurrent.futures", "socket", "pathlib", "urllib.parse", "subprocess")
    for argv in (("head",), ("ext", "status")):
        loaded = _modules_of_command(tmp_path, *argv)
        assert not [name for name in unused if name in loaded], (argv, [n for n in unused if n in loaded])
