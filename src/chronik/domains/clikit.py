"""What a domain pack's click group gets from the `chronik` command it is mounted under.

A pack imports nothing from `chronik.cli` (the interfaces sit above the packs). The `chronik`
group puts its invocation state on click's context object (`ctx.obj`); a pack reaches it
through `pack_context()`, typed by the `PackContext` protocol below, never by its class:

    @click.command()
    @clikit.json_option
    def status(json_output: bool) -> None:
        ledger = clikit.open_ledger(read_only=True)      # from --ledger / $CHRONIK_URL
        ...

- `open_ledger()` opens the ledger `--ledger` names (closed when the command ends);
  `ledger_opener()` defers it, for a service that may not need one.
- `json_option` is the shared `--json` flag: it also makes errors print as JSON.
- Errors: raise chronik's typed errors naming library *fields*; the `chronik` group prints
  them, maps each field to the option of the same parameter name (name the click parameter
  after the field: `--since` -> `since`, `-t/--type` -> `kinds` for the field `kinds`) and picks
  the exit code.
- Output: chronik.domains.textout (escaped, unpadded lines; JSON Lines with `--json`).

Run alone (a pack group invoked without `chronik`, e.g. in a test), a default context opens
`$CHRONIK_URL` or the default ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import click

from chronik.ledger import Ledger

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class PackContext(Protocol):
    """What the `chronik` group offers every command (chronik.cli.state.CliState has it)."""

    json_output: bool

    def open_ledger(self, read_only: bool = False) -> Ledger: ...


class StandaloneContext:
    """The context of a pack group run without the `chronik` group."""

    def __init__(self) -> None:
        self.json_output = False

    def open_ledger(self, read_only: bool = False) -> Ledger:
        from chronik.ledger import open_ledger

        return open_ledger(None, read_only=read_only)


def pack_context() -> PackContext:
    """The running invocation's context (made by the `chronik` group, or a default one)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, PackContext):
        root.obj = StandaloneContext()
    return root.obj


def open_ledger(read_only: bool = False) -> Ledger:
    """The ledger `--ledger` names, closed when the command ends. Read-only opens create
    nothing (a missing ledger is NotFound) and write nothing."""
    ctx = click.get_current_context()
    ledger: Ledger = ctx.with_resource(pack_context().open_ledger(read_only=read_only))
    return ledger


def ledger_opener(read_only: bool = False) -> Callable[[], Ledger]:
    """`open_ledger` for later: a service calls it only if it needs the chronik ledger."""
    return lambda: open_ledger(read_only)


def _remember_json(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    pack_context().json_output = value
    return value


def json_option(command: F) -> F:
    """--json: JSON Lines on stdout, and errors as JSON on stderr."""
    return click.option("--json", "json_output", is_flag=True, callback=_remember_json,
                        help="Print JSON Lines for scripts: one JSON object per line.")(command)
