"""What the extensions pack offers the web interfaces (chronik.domains.webkit): the status table
as a page and as `GET /v1/ext/status`, and the status reducer for the time-travel view of
`extension:NAME` streams. One service call each; formatting only."""

from __future__ import annotations

from typing import Any

from chronik.domains import webkit
from chronik.domains.extensions import service
from chronik.domains.extensions.events import STREAM_CATEGORY, stream_of
from chronik.domains.extensions.reducer import STATUS_REDUCER
from chronik.errors import ValidationError
from chronik.ledger import Ledger

STATUS_COLUMNS = ["name", "state", "version", "since (UTC)", "duration", "error"]
TRUE_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _show_all(query: webkit.Query) -> bool:
    text = query.get("all", "false").strip().lower()
    if text not in TRUE_WORDS:
        raise ValidationError("all", f"{text!r} is not true or false", "pass all=true or all=false")
    return TRUE_WORDS[text]


def status_json(ledger: Ledger, query: webkit.Query) -> dict[str, Any]:
    """What `chronik ext status --json` prints, as one object: {"statuses": [...]}."""
    listing = service.list_statuses(service.open_backend(None, lambda: ledger), _show_all(query))
    return {"statuses": listing.statuses}


def status_page(ledger: Ledger) -> webkit.PageContent:
    listing = service.list_statuses(service.open_backend(None, lambda: ledger), show_all=True)
    rows: list[list[Any]] = [
        [webkit.Link(row["name"], stream_of(row["name"])), row["state"], row["version"],
         (row["since"] or "")[:19].replace("T", " "),
         "" if row["duration_s"] is None else f"{row['duration_s']}s", row["error"] or ""]
        for row in listing.statuses]
    return webkit.PageContent(
        summary=f"{len(rows)} extension(s) recorded on this ledger (removed ones included).",
        tables=[webkit.Table(columns=STATUS_COLUMNS, rows=rows)],
        notes=[] if rows else ["no extensions recorded: `chronik ext install NAME -- COMMAND` records one"])


ROUTES = webkit.PackRoutes(routes=(
    webkit.PackRoute(path="status", call=status_json, query=("all",),
                     summary="Every extension's status, as `chronik ext status --json` (all=true: removed too)."),
))

PAGES = webkit.PackPages(
    pages=(webkit.PackPage(slug="status", title="Extensions: status", render=status_page),),
    reducers=(webkit.PackReducer(reducer=STATUS_REDUCER, categories=(STREAM_CATEGORY,),
                                 summary="the extension's status after each event"),),
)
