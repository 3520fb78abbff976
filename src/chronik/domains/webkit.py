"""What a domain pack offers the web interfaces, as plain data and functions.

A pack imports nothing from an interface (the interfaces sit above the packs), so it does not
write HTTP handlers or HTML. It describes, with the types below, what it offers, and the HTTP app
(`chronik.http`) mounts it: routes under `/v1/NAME/...`, pages under `/packs/NAME/...`, and its
reducers for the time-travel view of its streams. The registry entry names the objects lazily:

    Pack(name="ext", ..., http_routes="chronik.domains.extensions.web:ROUTES",
         web_pages="chronik.domains.extensions.web:PAGES")

- `ROUTES` is a `PackRoutes`: each `PackRoute` calls one service function with the ledger and
  the request's query parameters (text, as the user wrote them; the service checks them and
  raises chronik's typed errors naming the *field*, which the app reports as JSON).
- `PAGES` is a `PackPages`: each `PackPage` renders to a `PageContent` (tables of text cells,
  a `Link` where a cell should lead to a stream), and `reducers` lists the pack's reducers with
  the stream categories they fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from chronik.derive.reducer import Reducer
from chronik.ledger import Ledger

Query = Mapping[str, str]


class Binary(msgspec.Struct, frozen=True, kw_only=True):
    """A route's answer that is not JSON (a PDF, say): sent as is, with its media type."""

    content: bytes
    media_type: str
    filename: str | None = None  # offered to the browser as the download's name


class Link(msgspec.Struct, frozen=True):
    """A table cell that leads to a stream's page."""

    text: str
    stream: str


class Table(msgspec.Struct, frozen=True, kw_only=True):
    columns: list[str]
    rows: list[list[str | int | float | None | Link]]
    title: str | None = None


class PageContent(msgspec.Struct, frozen=True, kw_only=True):
    tables: list[Table]
    summary: str = ""
    notes: list[str] = msgspec.field(default_factory=list)


class PackPage(msgspec.Struct, frozen=True, kw_only=True):
    slug: str  # /packs/NAME/SLUG
    title: str
    render: Callable[[Ledger], PageContent]


class PackReducer(msgspec.Struct, frozen=True, kw_only=True):
    """A reducer the web views offer for the streams of `categories` (time travel, diff)."""

    reducer: Reducer
    categories: tuple[str, ...]
    summary: str = ""


class PackPages(msgspec.Struct, frozen=True, kw_only=True):
    pages: tuple[PackPage, ...] = ()
    reducers: tuple[PackReducer, ...] = ()


class PackRoute(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /v1/NAME/PATH` (or POST when `writes`, or `method` where an issue fixed the verb):
    `call(ledger, query)` returns JSON data."""

    path: str  # relative, no leading slash: "status"
    summary: str
    call: Callable[[Ledger, Query], Any]
    writes: bool = False
    query: tuple[str, ...] = ()  # the query parameters it reads (documented in /openapi.json)
    method: str | None = None  # "DELETE", say; None: POST when it writes, else GET
    # What it may answer with besides JSON (its `call` then returns a Binary), for /openapi.json.
    binary_types: tuple[str, ...] = ()

    @property
    def http_method(self) -> str:
        return self.method or ("POST" if self.writes else "GET")


class PackRoutes(msgspec.Struct, frozen=True, kw_only=True):
    routes: tuple[PackRoute, ...] = ()
