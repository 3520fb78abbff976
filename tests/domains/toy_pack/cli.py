"""`chronik todo`: thin commands, one service call each; nothing from chronik.cli."""

from __future__ import annotations

import click

from chronik.domains.clikit import json_option, open_ledger
from chronik.domains.textout import write_json_line, write_table
from toy_pack import service
from toy_pack.reducer import State


def show(state: State, json_output: bool) -> None:
    if json_output:
        write_json_line(state)
    else:
        write_table(("TASK", "STATE"), [(t, "open") for t in state["open"]] + [(t, "done") for t in state["done"]])


@click.group("todo")
def todo() -> None:
    """To-do lists (a toy pack)."""


@todo.command()
@click.argument("name")
@click.argument("title")
@json_option
def add(name: str, title: str, json_output: bool) -> None:
    """Add TITLE to the list NAME."""
    show(service.add(open_ledger(), name, title), json_output)


@todo.command()
@click.argument("name")
@click.argument("title")
@json_option
def done(name: str, title: str, json_output: bool) -> None:
    """Mark TITLE of the list NAME done."""
    show(service.done(open_ledger(), name, title), json_output)


@todo.command("list")
@click.argument("name")
@json_option
def list_command(name: str, json_output: bool) -> None:
    """The open and done tasks of NAME."""
    show(service.show(open_ledger(read_only=True), name), json_output)
