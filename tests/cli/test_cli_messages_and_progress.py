"""Issue 10 through the `chronik` command, items 10, 11 and 12:

- item 10: messages in words, never Python internals: `retention set` describes the policy and
  merges into it (`--remove` drops it); the copy refusal names `--append-to`, not
  `(append_to=True)`; a concurrency conflict names the stream's current version and how to retry
  (never "the stream is at no stream");
- item 12: copy, import, export, retention apply and ext import show a progress bar with
  events/s and the time left on a terminal (a pseudo-terminal made by `script`), and none when
  piped or with --json;
- item 11: `stats`, `copy`, `verify` and `retention apply --dry-run` at 80 columns, piped and on
  a terminal: titles and notes stay whole lines, and no line ends in spaces (what stays on the
  screen is checked, so the erased frames of a progress bar do not count).

Terminal and pipe runs are real processes (`python -m chronik.cli`); all files are temporary.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_testing import json_lines
from click.testing import CliRunner

import chronik
from chronik.cli.main import cli

CHRONIK = [sys.executable, "-m", "chronik.cli"]
SINDRI_LEDGER = Path(__file__).resolve().parents[1] / "data" / "sindri" / "ledger-full.jsonl"
COLUMNS = 80
LONG_TYPE = "a_rather_long_event_type_name_for_the_column_of_the_table"
# A frame of the bar: what it does, the bar, done/total, the rate and the time left.
BAR_FRAME = re.compile(r"(copying|importing|exporting|archiving) ━+.* \d+/\d+ [\d,]+ events/s \d+:\d\d:\d\d")
_CONTROL = re.compile(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)")


def chronik_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHRONIK, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "HOME": str(cwd)})


def on_terminal(*args: str, cwd: Path) -> str:
    """What `chronik ARGS` writes (stdout and stderr) to a pseudo-terminal of 80 columns."""
    done = subprocess.run(["script", "-qec", shlex.join([*CHRONIK, *args]), "/dev/null"], capture_output=True,
                          timeout=60, cwd=cwd, check=False,
                          env={**os.environ, "HOME": str(cwd), "COLUMNS": str(COLUMNS), "LINES": "50",
                               "TERM": "xterm"})
    shown = done.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    assert done.returncode == 0, (args, shown)  # script -e: the command's exit code
    return shown


def screen(raw: str) -> list[str]:
    """The lines left on the screen by terminal output: style codes dropped; a carriage return
    or an erase (ESC[2K) starts the line again (rich redraws whole lines); cursor-up (ESC[1A)
    goes back to the line above, as a transient progress bar does before erasing itself."""
    lines: list[str] = []
    current = ""
    for token in _CONTROL.split(raw):
        if token == "\n":
            lines.append(current)
            current = ""
        elif token == "\r" or token.endswith("K"):
            current = ""
        elif token.startswith("\x1b[") and token.endswith("A"):
            current = lines.pop() if lines else ""
        elif not token.startswith("\x1b["):
            current += token
    return lines + ([current] if current else [])


def frames(raw: str) -> list[str]:
    """Every frame a progress bar drew (each starts by erasing its line), without style codes."""
    return [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame) for frame in re.findall(r"\x1b\[2K([^\r\n]*)", raw)]


def unpadded(lines: list[str]) -> None:
    for line in lines:
        assert line == line.rstrip(), f"trailing spaces in {line!r}"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A ledger of 400 events on 40 order streams (10 each), and where to write more."""
    with chronik.open_ledger(str(tmp_path / "ledger.db")) as ledger:
        for start in range(0, 400, 40):
            ledger.append_many({f"order:{n}": ([chronik.NewEvent("item_added", {"n": start + n})],
                                               chronik.Expect.ANY) for n in range(40)})
        ledger.append("note:1", [chronik.NewEvent(LONG_TYPE)])
    chronik_cli("--ledger", str(tmp_path / "ledger.db"), "retention", "set", "order", "--max-count", "2")
    return tmp_path


# ---------------------------------------------------------------- item 10: messages in words


def test_retention_set_speaks_in_words_and_merges(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    chronik.open_ledger(ledger).close()
    first = chronik_cli("--ledger", ledger, "retention", "set", "order", "--max-age", "90d")
    assert first.stdout == "retention order: archive events older than 90 days, never a stream's newest event\n"
    second = chronik_cli("--ledger", ledger, "retention", "set", "order", "--max-count", "2")
    assert second.stdout == ("retention order: archive events older than 90 days or beyond the newest 2 of "
                             "their stream, never a stream's newest event\n")
    for shown in (first.stdout, second.stdout):
        assert "Policy(" not in shown and "max_age_s" not in shown
    [policy] = json_lines(chronik_cli("--ledger", ledger, "retention", "show", "--json").stdout)
    assert (policy["max_age_s"], policy["max_count"]) == (90 * 86_400, 2)  # set merged: the age stayed
    assert "90d" in chronik_cli("--ledger", ledger, "retention", "show").stdout
    removed = chronik_cli("--ledger", ledger, "retention", "set", "order", "--remove")
    assert removed.stdout == "retention order: policy removed; its events stay live\n"
    assert chronik_cli("--ledger", ledger, "retention", "show", "--json").stdout == ""
    help_text = " ".join(chronik_cli("retention", "set", "--help").stdout.split())
    assert "Set merges: options you leave out keep their current value" in help_text


def test_the_copy_refusal_names_the_option(work, tmp_path):
    target = str(tmp_path / "target.db")
    with chronik.open_ledger(target) as other:
        other.append("other:1", [chronik.NewEvent("noted")])
    refused = chronik_cli("copy", str(work / "ledger.db"), target)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: --append-to: is not set, and the destination ")
    assert "append_to" not in refused.stderr  # neither the field nor `(append_to=True)`


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_a_conflict_names_the_current_version_and_how_to_retry(tmp_path, suffix):
    ledger = str(tmp_path / f"ledger{suffix}")
    for _ in range(3):
        assert chronik_cli("--ledger", ledger, "append", "order:1", "noted").exit_code == 0
    stale = chronik_cli("--ledger", ledger, "append", "order:1", "noted", "--expect", "1")
    assert stale.exit_code == 4
    assert stale.stderr == ("Error: order:1: expected version 1, but the stream is at version 3 (re-read it "
                            "and decide again, then retry expecting version 3)\n")
    missing = chronik_cli("--ledger", ledger, "append", "order:9", "noted", "--expect", "exists", "--json")
    error = json.loads(missing.stderr)
    assert missing.exit_code == 4 and (error["actual"], error["expected"]) == (None, "exists")
    assert error["message"] == ("order:9: expected the stream to exist, but the stream has no events yet "
                                "(re-read it and decide again; to create it, retry expecting no stream)")
    exists = chronik_cli("--ledger", ledger, "append", "order:1", "noted", "--expect", "no-stream")
    assert "expected no stream, but the stream is at version 3" in exists.stderr
    assert "is at no stream" not in missing.stderr + exists.stderr


# ---------------------------------------------------------------- item 12: progress bars


def long_work(work: Path) -> list[tuple[str, ...]]:
    """The five long commands, each on fresh targets (copy in batches, so the bar moves)."""
    for leftover in ("copy.db", "imported.db", "sindri.db"):
        for path in work.glob(leftover + "*"):
            path.unlink()
    ledger = str(work / "ledger.db")
    return [("copy", ledger, str(work / "copy.db"), "--batch-size", "50"),
            ("--ledger", ledger, "export", str(work / "export.jsonl")),
            ("--ledger", str(work / "imported.db"), "import", str(work / "export.jsonl")),
            ("--ledger", str(work / "sindri.db"), "ext", "import", "--sindri", str(SINDRI_LEDGER)),
            ("--ledger", ledger, "retention", "apply")]


def test_long_work_shows_a_progress_bar_on_a_terminal(work):
    for args in long_work(work):
        drawn = frames(on_terminal(*args, cwd=work))
        assert any(BAR_FRAME.fullmatch(frame.rstrip()) for frame in drawn), (args, drawn)


def test_no_progress_bar_when_piped_or_with_json(work):
    def no_bar_with_json(args: tuple[str, ...]) -> None:
        shown = on_terminal(*args, "--json", cwd=work)
        assert "━" not in shown and "\x1b[2K" not in shown, args
        json_lines(shown)  # nothing but the result line(s)

    commands = long_work(work)
    for args in commands[:-1]:
        no_bar_with_json(args)
    for args in long_work(work):  # fresh targets; retention apply last (a copy stops at its gap)
        done = piped(*args, cwd=work)
        assert done.returncode == 0, (args, done.stderr)
        assert "━" not in done.stderr and "\x1b" not in done.stderr + done.stdout, args
    no_bar_with_json(commands[-1])  # nothing is due now; without --json it would still draw a bar


# ---------------------------------------------------------------- item 11: 80 columns, no padding


def human_outputs(work: Path, run) -> dict[str, list[str]]:
    """stats, copy, verify and retention apply --dry-run: the lines each leaves."""
    ledger = str(work / "ledger.db")
    deep = work / ("a-long-folder-name-" * 3) / "copy.db"
    deep.parent.mkdir(exist_ok=True)
    for path in deep.parent.glob("copy.db*"):
        path.unlink()
    return {"stats": run("--ledger", ledger, "stats"), "copy": run("copy", ledger, str(deep)),
            "verify": run("--ledger", ledger, "verify"),
            "retention": run("--ledger", ledger, "retention", "apply", "--dry-run")}


def check_whole_lines(work: Path, shown: dict[str, list[str]]) -> None:
    deep = work / ("a-long-folder-name-" * 3) / "copy.db"
    for lines in shown.values():
        unpadded(lines)
    assert "events per type" in shown["stats"]
    assert any(line.startswith(LONG_TYPE + "  ") for line in shown["stats"])  # a wide cell, not folded
    assert f"copied {work / 'ledger.db'} -> {deep}" in shown["copy"]  # the title is one line, uncut
    assert any(line.startswith("verify: OK, 401 events checked") for line in shown["verify"])
    notes = json.loads(chronik_cli("--ledger", str(work / "ledger.db"), "verify", "--json").stdout)["notes"]
    assert [line for line in shown["verify"] if line.startswith("note: ")] == [f"note: {n}" for n in notes]
    assert shown["retention"][:2] == ["retention (dry run)", "CATEGORY  DUE"]


def test_human_output_piped_is_whole_lines_without_padding(work):
    def run(*args: str) -> list[str]:
        done = piped(*args, cwd=work)
        assert done.returncode == 0, (args, done.stderr)
        assert "\x1b" not in done.stdout + done.stderr
        return (done.stdout + done.stderr).splitlines()

    check_whole_lines(work, human_outputs(work, run))


def test_human_output_on_an_80_column_terminal_is_whole_lines_without_padding(work):
    def run(*args: str) -> list[str]:
        return screen(on_terminal(*args, cwd=work))

    shown = human_outputs(work, run)
    check_whole_lines(work, shown)
    assert not any(BAR_FRAME.match(line) for line in shown["copy"])  # the bar erased itself
