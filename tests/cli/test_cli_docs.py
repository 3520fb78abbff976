"""docs/cli.md is generated from the commands (`python -m chronik.cli.docgen > docs/cli.md`) and
must show the current --help of every command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from chronik.cli import docgen
from chronik.cli.main import cli

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COMMANDS = cli.list_commands(click.Context(cli))
REGENERATE = "regenerate it: python -m chronik.cli.docgen > docs/cli.md"


def test_docs_cli_md_is_up_to_date():
    assert CLI_DOC.read_text() == docgen.render(), f"docs/cli.md is stale; {REGENERATE}"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_docs_show_the_real_help_of(command):
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(cli, args, prog_name="chronik", terminal_width=docgen.HELP_WIDTH_COLUMNS)
    assert result.exit_code == 0
    assert result.stdout in CLI_DOC.read_text(), f"{command or 'chronik'} --help differs; {REGENERATE}"


def test_every_command_is_documented():
    text = CLI_DOC.read_text()
    for command in COMMANDS:
        assert f"### `chronik {command}`" in text
