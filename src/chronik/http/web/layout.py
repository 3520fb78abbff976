"""HTML building blocks of the web UI: the page shell, tables, JSON trees and the chart.

Everything from the ledger is escaped (`html.escape`, quotes included) before it is written; the
page's JavaScript lives in static files (the Content-Security-Policy allows no inline script) and
reads what it needs from data- attributes. No template engine, no build step, no CDN.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

import msgspec

from chronik.domains import registry, webkit

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
MAX_TREE_ITEMS = 200  # per object or array level; the rest is summarised
MAX_TREE_DEPTH = 12


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def stream_url(stream: str) -> str:
    return "/streams/" + quote(stream, safe=":@+=~")


def nav_links() -> list[tuple[str, str]]:
    links = [("/", "Overview"), ("/log", "Live log"), ("/verify", "Verify")]
    for pack in registry.packs():
        if pack.web_pages is not None:
            pages: webkit.PackPages = registry.load(pack.web_pages)
            links += [(f"/packs/{pack.name}/{page.slug}", page.title) for page in pages.pages]
    return links


def page(title: str, body: str, *, scripts: Sequence[str] = (), data: dict[str, Any] | None = None) -> str:
    """A whole page: `body` is HTML already escaped; `data` becomes data- attributes of <main>."""
    nav = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in nav_links())
    attributes = "".join(f' data-{escape(key)}="{escape(value)}"' for key, value in (data or {}).items())
    tags = "".join(f'<script src="/static/{escape(name)}" defer></script>' for name in scripts)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · chronik</title><link rel="stylesheet" href="/static/chronik.css">'
            f'{tags}</head><body><header><span class="brand">chronik</span><nav>{nav}</nav></header>'
            f'<main{attributes}><h1>{escape(title)}</h1>{body}</main></body></html>')


def cell(value: Any) -> str:
    if isinstance(value, webkit.Link):
        return f'<a href="{escape(stream_url(value.stream))}">{escape(value.text)}</a>'
    return escape(value)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, css: str = "") -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(value)}</td>" for value in row) + "</tr>" for row in rows)
    return f'<table class="{escape(css)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def fields(pairs: Sequence[tuple[str, Any]], css: str = "fields") -> str:
    rows = "".join(f"<dt>{escape(name)}</dt><dd>{value}</dd>" for name, value in pairs)
    return f'<dl class="{escape(css)}">{rows}</dl>'


def json_tree(value: Any, depth: int = 0) -> str:
    """A collapsible tree of a JSON value: objects and arrays as <details>, open near the top."""
    value = value if isinstance(value, (dict, list, str, int, float, bool, type(None))) else _builtins(value)
    if isinstance(value, (dict, list)):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        if not items:
            return '<span class="j-empty">{}</span>' if isinstance(value, dict) else '<span class="j-empty">[]</span>'
        if depth >= MAX_TREE_DEPTH:
            return f'<span class="j-more">… {len(items)} item(s)</span>'
        shown = items[:MAX_TREE_ITEMS]
        inner = "".join(f'<li><span class="j-key">{escape(key)}</span>: {json_tree(item, depth + 1)}</li>'
                        for key, item in shown)
        if len(items) > len(shown):
            inner += f'<li class="j-more">… {len(items) - len(shown)} more</li>'
        label = f"{{{len(items)}}}" if isinstance(value, dict) else f"[{len(items)}]"
        opened = " open" if depth < 2 else ""
        return f'<details class="j"{opened}><summary>{label}</summary><ul>{inner}</ul></details>'
    if isinstance(value, str):
        return f'<span class="j-str">"{escape(value)}"</span>'
    if value is None or isinstance(value, bool):
        return f'<span class="j-lit">{escape(msgspec.json.encode(value).decode())}</span>'
    return f'<span class="j-num">{escape(value)}</span>'


def _builtins(value: Any) -> Any:
    try:
        return msgspec.to_builtins(value)
    except TypeError:
        return repr(value)


def bar_chart(counts: Sequence[int], labels: Sequence[str], *, title: str) -> str:
    """Bars as inline SVG (attributes only: the CSP allows no inline style)."""
    width, height, gap = 600, 120, 1
    peak = max(counts, default=0) or 1
    bar = width / max(len(counts), 1)
    bars = []
    for index, (count, label) in enumerate(zip(counts, labels, strict=True)):
        tall = round(count / peak * (height - 20))
        bars.append(f'<rect x="{index * bar:.1f}" y="{height - tall}" width="{max(bar - gap, 1):.1f}" '
                    f'height="{tall}"><title>{escape(label)}: {count}</title></rect>')
    return (f'<figure class="chart"><figcaption>{escape(title)} (peak {peak})</figcaption>'
            f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="{escape(title)}">'
            f'{"".join(bars)}</svg></figure>')


def short_hash(value: str | None) -> str:
    return (value or "")[:12]
