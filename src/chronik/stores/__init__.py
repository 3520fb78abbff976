"""Stores, opened by URL. See docs/architecture.md for what each one guarantees."""

from __future__ import annotations

import os

from chronik.errors import ValidationError
from chronik.stores.base import Store

DEFAULT_URL = "sqlite:///~/.chronik/ledger.db"
SCHEMES = ("memory:", "sqlite:", "jsonl:", "postgresql:", "postgres:")


def resolve_url(url: str | None) -> str:
    """The URL to open: the argument, else $CHRONIK_URL, else the default SQLite file.
    A bare file path ending in .db/.sqlite/.jsonl is accepted and given its scheme."""
    url = url or os.environ.get("CHRONIK_URL") or DEFAULT_URL
    if url.startswith(SCHEMES):
        return url
    if url.endswith((".db", ".sqlite", ".sqlite3")):
        return "sqlite:///" + os.path.abspath(os.path.expanduser(url)).lstrip("/")
    if url.endswith(".jsonl"):
        return "jsonl:///" + os.path.abspath(os.path.expanduser(url)).lstrip("/")
    raise ValidationError("url", f"{url!r} is not a ledger URL",
                          "use memory:, sqlite:///path/ledger.db, jsonl:///path/ledger.jsonl "
                          "or postgresql://host/db")


def file_path(url: str, scheme: str) -> tuple[str, dict[str, str]]:
    """Path and options of sqlite:///abs/path?opt=v (three slashes: absolute; /~ expands)."""
    rest = url[len(scheme):]
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
    if rest.startswith("/~"):
        rest = rest[1:]
    elif rest.startswith("//"):  # sqlite:////abs/path: one root, not a POSIX "//" path
        rest = "/" + rest.lstrip("/")
    if not rest:
        raise ValidationError("url", f"{url!r} names no file", f"use {scheme}///path/to/file")
    if not query:
        return os.path.expanduser(rest), {}
    from urllib.parse import parse_qsl  # only here: urllib.parse loads ipaddress, 2 ms of a start

    return os.path.expanduser(rest), dict(parse_qsl(query))


def open_store(url: str, read_only: bool = False) -> Store:
    """Open the store at `url`. With `read_only`, nothing is created or modified: a ledger that
    does not exist raises NotFound ("no ledger at ...; append creates one"), files are opened
    read-only (so a ledger on a read-only mount, a backup or an evidence copy can be read and
    verified), and every write raises StorageError."""
    if url == "memory:" or url.startswith("memory:"):
        from chronik.stores.memory import MemoryStore

        return MemoryStore(url)
    if url.startswith("sqlite:"):
        from chronik.stores.sqlite import SQLiteStore

        path, options = file_path(url, "sqlite:")
        return SQLiteStore(url, path, durability=options.pop("durability", "full"),
                           busy_timeout_ms=int(options.pop("busy_timeout_ms", 30_000)),
                           read_only=read_only, **_no_more(options, url))
    if url.startswith("jsonl:"):
        from chronik.stores.jsonl import JsonlStore

        path, options = file_path(url, "jsonl:")
        return JsonlStore(url, path, durability=options.pop("durability", "full"), read_only=read_only,
                          **_no_more(options, url))
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from chronik.stores.postgres import PostgresStore
        except ImportError as exc:
            raise ValidationError("url", f"PostgreSQL support is not installed ({exc.name})",
                                  "pip install 'chronik[postgres]'") from None
        return PostgresStore(url, read_only=read_only)
    raise ValidationError("url", f"no store for {url!r}",
                          "use memory:, sqlite:///path or jsonl:///path")


def _no_more(options: dict[str, str], url: str) -> dict:
    if options:
        raise ValidationError("url", f"unknown option(s) {sorted(options)} in {url!r}",
                              "supported: durability=full|relaxed, busy_timeout_ms=N (sqlite)")
    return {}
