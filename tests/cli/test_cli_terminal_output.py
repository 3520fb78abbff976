"""Human output on a terminal and in a pipe (issue 10, items 8 and 11).

- Control characters in user data never reach the terminal raw: C0 (ESC), C1 (CSI \\x9b) and
  bidirectional overrides are shown as escapes, and rich never reads user text as [markup].
- Output is never wrapped or padded: piped output has no trailing spaces and whole lines; on a
  terminal (a pseudo-terminal made by `script`, 80 columns) table titles stay on one line and
  rows carry no trailing spaces.

Every command runs as a real process (`python -m chronik.cli`).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chronik
from chronik.cli import output

CHRONIK = [sys.executable, "-m", "chronik.cli"]
ESC_DATA = '{"m": "\\u001b[31mRED \\u009b31m \\u202egnp.exe [red]x[/red]"}'


def piped(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHRONIK, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def on_terminal(*args: str, columns: int = 80) -> str:
    """stdout+stderr of `chronik ARGS` run on a pseudo-terminal of `columns` columns."""
    assert shutil.which("script"), "these tests need util-linux `script` (Debian: bsdutils, always installed)"
    command = shlex.join([*CHRONIK, *args])
    done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, timeout=60,
                          env={**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"})
    return done.stdout.decode("utf-8", "replace").replace("\r\n", "\n")


def visible(text: str) -> str:
    """`text` without the style codes rich writes on a terminal."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def no_padding(text: str) -> None:
    """No printed line ends in spaces. A progress bar's frames (each starts by erasing its line,
    ESC[2K, and is erased again when the bar ends) are a live display, not output: skipped."""
    for line in visible(text).splitlines():
        if "\x1b[2K" in line:
            continue
        assert line == line.rstrip(), f"trailing spaces in {line!r}"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with chronik.open_ledger(str(path)) as opened:
        opened.append("order:" + "x" * 100, [chronik.NewEvent("created", {"n": 1})])
        opened.append("order:1", [chronik.NewEvent("created", json.loads(ESC_DATA))])
        opened.append("order:1", [chronik.NewEvent("a_rather_long_event_type_name_for_the_column", {})])
    return path


# ---------------------------------------------------------------- item 8: escapes


def test_event_data_cannot_drive_the_terminal(ledger):
    for args in (("read", "order:1"), ("log",)):
        shown = piped("--ledger", str(ledger), *args)
        assert shown.returncode == 0, shown.stderr
        for raw in ("\x1b", "\x9b", "\u202e"):
            assert raw not in shown.stdout
        assert "\\u001b[31mRED" in shown.stdout and "\\u009b31m" in shown.stdout and "\\u202e" in shown.stdout
    as_json = piped("--ledger", str(ledger), "read", "order:1", "--json").stdout.splitlines()[0]
    assert "\x9b" not in as_json and json.loads(as_json)["data"] == \
        json.loads(ESC_DATA)  # JSON keeps the exact value


def test_sindri_error_messages_are_escaped(tmp_path):
    line = ('{"event_id":"0b7c6b1e-6f4e-4a59-9c55-0d4f1f3f8a10","timestamp":"2026-11-20T10:00:00Z",'
            '"extension_name":"evil","cli_version":"3.1.4","state_before":"installing","state_after":"failed",'
            '"event":{"type":"install_failed","extension_name":"evil","version":"1","error_message":'
            '"\\u001b]0;owned\\u0007\\u001b[31mRED\\u009b2J","retry_count":0,"duration_secs":1}}\n')
    path = tmp_path / "status_ledger.jsonl"
    path.write_text(line)
    for args in (("ext", "status"), ("ext", "status", "evil"), ("ext", "log")):
        shown = piped(*args, "--sindri", str(path))
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\x9b" not in shown.stdout
        assert "\\x1b]0;owned\\x07\\x1b[31mRED\\x9b2J" in shown.stdout


def test_command_stderr_is_escaped_in_ext_install(tmp_path):
    shown = piped("--ledger", str(tmp_path / "ledger.db"), "ext", "install", "esc", "--",
                  "sh", "-c", "printf '\\033[31mRED' >&2; exit 3")
    assert shown.returncode == 1
    assert "\x1b" not in shown.stdout and "error: \\x1b[31mRED" in shown.stdout


def test_tables_on_a_terminal_escape_and_ignore_markup(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    output.print_table(("NAME", "VALUE"), [("[bold red]x[/bold red]", "\x1b[31mRED\x9b2J\u202e")],
                       title="t [blink]itle[/blink]")
    output.print_text("[red]plain[/red] \x1b]0;owned\x07")
    shown = screen.getvalue()
    assert "[bold red]x[/bold red]" in shown and "t [blink]itle[/blink]" in shown
    assert "[red]plain[/red]" in shown
    assert "\\x1b[31mRED\\x9b2J\\u202e" in shown and "\\x1b]0;owned\\x07" in shown
    assert "\x1b[31m" not in shown and "\x9b" not in shown and "\x07" not in shown


# ---------------------------------------------------------------- item 11: no wrap, no padding


def test_piped_tables_are_whole_lines_without_padding(ledger):
    for args in (("stats",), ("streams",), ("head",)):
        shown = piped("--ledger", str(ledger), *args)
        assert shown.returncode == 0, shown.stderr
        no_padding(shown.stdout)
    streams = piped("--ledger", str(ledger), "streams").stdout
    assert any(line.startswith("order:" + "x" * 100 + " ") for line in streams.splitlines())  # not folded
    stats = piped("--ledger", str(ledger), "stats").stdout.splitlines()
    assert "events per type" in stats
    assert any(line.startswith("a_rather_long_event_type_name_for_the_column ") for line in stats)


def test_tables_on_an_80_column_terminal_keep_titles_whole_and_rows_unpadded(ledger):
    stats = on_terminal("--ledger", str(ledger), "stats")
    assert "events per type" in visible(stats).splitlines()
    no_padding(stats)
    streams = on_terminal("--ledger", str(ledger), "streams")
    assert "STREAM" in streams
    no_padding(streams)


def test_copy_title_is_one_line_on_a_terminal(ledger, tmp_path):
    target = tmp_path / ("a-long-folder-name-" * 3) / "copy [red]x[red].db"
    target.parent.mkdir()
    shown = on_terminal("copy", str(ledger), str(target))
    titles = [line for line in visible(shown).splitlines() if "->" in line]
    assert len(titles) == 1 and titles[0].endswith("copy [red]x[red].db"), shown
    no_padding(shown)
