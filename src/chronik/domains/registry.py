"""The registry of domain packs: what each interface mounts, by name, without importing it.

Every entry names its parts as lazy "module:attribute" strings, so listing the packs (for
`chronik --help`, or an HTTP index) imports none of them, and `chronik status` or `chronik head`
pays nothing for a pack. The `chronik` CLI adds one command group per pack with a `cli` entry;
the HTTP and MCP interfaces will read `http_routes`, `web_pages` and `mcp_tools` the same way.

A new pack adds one `Pack(...)` to PACKS. Tests (or a plugin) may `register` one at run time.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import msgspec

from chronik.errors import ValidationError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
NAME_FIX = "use 1-32 lowercase letters, digits and -, starting with a letter (it becomes `chronik NAME`)"
TARGET_PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
TARGET_FIX = "write module:attribute, e.g. chronik.domains.extensions.cli:ext"


class Pack(msgspec.Struct, frozen=True, kw_only=True):
    """One domain pack, as the interfaces see it."""

    name: str  # the CLI group (`chronik NAME`), URL prefix and tool prefix
    summary: str  # one line, shown in `chronik --help`
    package: str  # the pack's Python package
    cli: str | None = None  # "module:attribute" of its click group
    http_routes: str | None = None  # "module:attribute" of a webkit.PackRoutes (chronik.http mounts it)
    # The routes' URL prefix, `/v1/PREFIX/...` (default: the name), where an issue fixed the path.
    http_prefix: str | None = None
    web_pages: str | None = None  # "module:attribute" of a webkit.PackPages: pages and reducers
    mcp_tools: str | None = None  # "module:attribute" of its MCP tools (later issues)


PACKS: tuple[Pack, ...] = (
    Pack(name="ext", package="chronik.domains.extensions", cli="chronik.domains.extensions.cli:ext",
         http_routes="chronik.domains.extensions.web:ROUTES", web_pages="chronik.domains.extensions.web:PAGES",
         summary="Extensions: what is installed, what failed, why and when (also Sindri ledgers)."),
    Pack(name="channel", package="chronik.domains.channels", cli="chronik.domains.channels.cli:channel",
         summary="State channels: objectives and channels reconstructed from content-addressed events."),
    Pack(name="session", package="chronik.domains.sessions", cli="chronik.domains.sessions.cli:session",
         mcp_tools="chronik.domains.sessions.tools:mcp_tools",
         summary="Agent sessions: instances, typed events, replay and where an agent left off (MCP tools)."),
    Pack(name="workflow", package="chronik.domains.workflows", cli="chronik.domains.workflows.cli:workflow",
         http_routes="chronik.domains.workflows.web:ROUTES", http_prefix="workflows", web_pages="chronik.domains.workflows.web:PAGES",
         summary="Workflows: steps, gates, retries, children and cancellation as events; any past moment inspectable."),
)

_registered: dict[str, Pack] = {pack.name: pack for pack in PACKS}


def check(pack: Pack) -> Pack:
    """`pack` when its name and targets are well formed; else ValidationError naming the field."""
    if not isinstance(pack.name, str) or not NAME_PATTERN.fullmatch(pack.name):
        raise ValidationError("name", f"{pack.name!r} is not a pack name", NAME_FIX)
    if pack.http_prefix is not None and not NAME_PATTERN.fullmatch(pack.http_prefix):
        raise ValidationError("http_prefix", f"{pack.http_prefix!r} is not a URL prefix", NAME_FIX)
    if not pack.summary or "\n" in pack.summary:
        raise ValidationError("summary", "must be one non-empty line", "describe the pack in one line")
    targets = (("cli", pack.cli), ("http_routes", pack.http_routes), ("web_pages", pack.web_pages),
               ("mcp_tools", pack.mcp_tools))
    for field, target in targets:
        if target is not None and not TARGET_PATTERN.fullmatch(target):
            raise ValidationError(field, f"{target!r} is not module:attribute", TARGET_FIX)
    return pack


def packs() -> list[Pack]:
    """Every registered pack, by name."""
    return [_registered[name] for name in sorted(_registered)]


def find(name: str) -> Pack | None:
    return _registered.get(name)


def register(pack: Pack) -> None:
    """Add a pack at run time (a test's toy pack, a plugin). Its name must be new."""
    check(pack)
    if pack.name in _registered:
        raise ValidationError("name", f"a pack named {pack.name!r} is already registered",
                              "choose another name, or unregister the old one first")
    _registered[pack.name] = pack


def unregister(name: str) -> None:
    """Remove a pack added with `register` (the built-in ones stay)."""
    if any(pack.name == name for pack in PACKS):
        raise ValidationError("name", f"{name!r} is a built-in pack", "only packs added with register() go")
    _registered.pop(name, None)


def load(target: str) -> Any:
    """Import the object a "module:attribute" string names (the interfaces' lazy loading)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


for _pack in PACKS:
    check(_pack)
