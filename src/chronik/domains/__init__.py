"""Domain packs: the four seed systems built on the ledger (DESIGN section 4).

Each pack is a folder with events.py (its event types), reducer.py (pure state), service.py (its
operations on a Ledger), cli.py (its click group) and, where it has one, a compatibility module
for the real system's data format. Nothing here is imported by `import chronik`.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """A click group registered by name: its module is imported only when the group is used,
    so `chronik --help` and other commands do not pay for it."""

    def __init__(self, name: str, import_path: str, short_help: str) -> None:
        super().__init__(name=name, short_help=short_help)
        self.import_path = import_path
        self._group: click.Group | None = None

    def load(self) -> click.Group:
        if self._group is None:
            module, _, attribute = self.import_path.partition(":")
            self._group = getattr(importlib.import_module(module), attribute)
            self.help = self._group.help
        return self._group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.load().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.load().get_command(ctx, name)

    def get_help(self, ctx: click.Context) -> str:
        self.load()
        return super().get_help(ctx)
