"""Smaller usage defects (issue 10, item 13): "did you mean", --ledger naming postgresql://, and
Ctrl-C exiting 130 silently at any moment, even while the CLI's modules load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from click.testing import CliRunner

from chronik.cli import docgen
from chronik.cli.inputs import options_named
from chronik.cli.main import cli
from chronik.errors import ValidationError

CHRONIK = [sys.executable, "-m", "chronik.cli"]


def test_unknown_commands_get_close_matches():
    for typo, meant in (("stauts", "'stats' or 'status'"), ("apend", "'append'"), ("strams", "'streams'")):
        result = CliRunner().invoke(cli, [typo])
        assert result.exit_code == 2
        assert f"No such command '{typo}'." in result.stderr and "Did you mean" in result.stderr
        assert meant.split(" or ")[0] in result.stderr
    nested = CliRunner().invoke(cli, ["ext", "stauts"])  # a pack's own group: click's suggestion
    assert nested.exit_code == 2 and "Did you mean" in nested.stderr and "'status'" in nested.stderr
    assert "Did you mean" not in CliRunner().invoke(cli, ["zzzzzz"]).stderr


def test_ledger_help_names_every_url_scheme():
    shown = CliRunner().invoke(cli, ["--help"], terminal_width=docgen.HELP_WIDTH_COLUMNS).stdout
    for scheme in ("sqlite:///", "jsonl:///", "postgresql://", "memory:"):
        assert scheme in shown


# Sends SIGINT to itself in the middle of the CLI's imports (when click is imported, which
# `import chronik` never does), as a Ctrl-C in the first milliseconds would.
INTERRUPT_WHILE_LOADING = """
import importlib.abc, os, signal, sys
import chronik

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["chronik", "--help"]
from chronik.cli.main import main
main()
"""


def test_ctrl_c_while_loading_exits_130_without_a_traceback():
    done = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_LOADING], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "")


def test_ctrl_c_in_a_running_command_exits_130_without_a_traceback(tmp_path):
    # `append --data -` waits on stdin: interrupted there; the command has no Ctrl-C handling.
    run = subprocess.Popen([*CHRONIK, "--ledger", str(tmp_path / "ledger.db"), "append", "s:1", "t", "--data", "-"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # imports done, blocked in the read
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=30)
    assert (run.returncode, stdout, stderr) == (130, "", "")


def _interpreter_start_ms() -> float:
    """How long the interpreter takes, here and now, to start and import the library: Python's
    own start-up and `import chronik` (a library, which must not touch signal handlers) come
    before the CLI's first line can make Ctrl-C silent."""
    times = []
    for _ in range(5):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import chronik"], check=True)
        times.append((time.perf_counter() - began) * 1000)
    return max(times)


def test_ctrl_c_at_any_moment_of_startup_exits_130_silently(tmp_path):
    env = {**os.environ, "CHRONIK_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    start_ms = _interpreter_start_ms()  # the delays follow the machine's load
    for delay_ms in (start_ms + extra for extra in (0, 5, 20, 40, 70, 100, 140)):
        run = subprocess.Popen([*CHRONIK, "append", "s:1", "t", "--data", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(delay_ms / 1000)
        run.send_signal(signal.SIGINT)
        _stdout, stderr = run.communicate(timeout=30)
        if "chronik/cli" not in stderr and "KeyboardInterrupt" in stderr:
            # Landed before the CLI's first line: Python's own start-up (site, runpy) or the
            # library package `import chronik`, which must not touch signal handlers.
            continue
        assert "Traceback" not in stderr and run.returncode in (130, -signal.SIGINT), (delay_ms, stderr)


def test_library_fields_become_the_invoked_commands_options():
    verify = cli.get_command(click.Context(cli), "verify")
    assert verify is not None
    renamed = options_named(ValidationError("to_position", "3 is before from_position 5", "swap them"),
                            [cli, verify])
    assert str(renamed) == "--to: 3 is before from_position 5 (swap them)"
    replay = cli.get_command(click.Context(cli), "replay")
    assert replay is not None
    assert options_named(ValidationError("to_position", "x"), [cli, replay]).field == "--to-position"
    assert options_named(ValidationError("url", "x"), [cli]).field == "--ledger"
    assert options_named(ValidationError("filter.since", "x"), [cli, cli.get_command(click.Context(cli), "log")]
                         ).field == "--since"
    assert options_named(ValidationError("data.a[0]", "x"), [cli, cli.get_command(click.Context(cli), "append")]
                         ).field == "--data.a[0]"
    assert options_named(ValidationError("nothing_named_so", "x"), [cli]).field == "nothing_named_so"
