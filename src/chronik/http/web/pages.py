"""The web UI's pages, rendered on the server; the live parts (log, time travel, verify) are
small scripts in ../static that call the JSON API.

    /                  overview: head, events per minute, streams and categories, last verify
    /log               live log over SSE: filters, pause/resume, click through to the event
    /streams/{stream}  every event (JSON trees, prev -> hash links) and time travel
    /verify            run verify (with an anchor file) and see each check
    /packs/{name}/{slug}  the packs' pages (chronik.domains.webkit)
    /login             set the token cookie, for servers that need a token
"""

from __future__ import annotations

import hmac
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from chronik import codec, rules
from chronik.domains import registry, webkit
from chronik.errors import ChronikError, ValidationError
from chronik.http.errors import status_of
from chronik.http.routing import state_of
from chronik.http.security import TOKEN_COOKIE
from chronik.http.state import ServerState
from chronik.http.web.layout import (
    SECURITY_HEADERS,
    bar_chart,
    escape,
    fields,
    json_tree,
    page,
    short_hash,
    stream_url,
    table,
)
from chronik.model import Event, Head, StreamInfo

CHART_MINUTES = 60
CHART_EVENTS = 10_000  # the overview reads at most the newest this many events for its chart
STREAM_PAGE_EVENTS = 500
LIVE_LOG_BACKLOG = 50


def html_response(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


def error_page(error: ChronikError) -> HTMLResponse:
    return html_response(page("Error", f'<p class="bad">{escape(error)}</p>'), status_of(error))


def _per_minute(events: list[Event], now: datetime) -> tuple[list[int], list[str]]:
    start = (now - timedelta(minutes=CHART_MINUTES - 1)).replace(second=0, microsecond=0)
    counts: Counter[int] = Counter()
    for event in events:
        try:
            when = codec.parse_time(event.time)
        except ValidationError:
            continue
        minute = int((when - start).total_seconds() // 60)
        if 0 <= minute < CHART_MINUTES:
            counts[minute] += 1
    labels = [(start + timedelta(minutes=i)).strftime("%H:%M") for i in range(CHART_MINUTES)]
    return [counts[i] for i in range(CHART_MINUTES)], labels


def _overview_data(state: ServerState) -> tuple[Head, list[StreamInfo], list[Event]]:
    ledger = state.ledger
    head = ledger.head()
    return head, ledger.streams(), list(ledger.read_all(after=max(0, head.position - CHART_EVENTS)))


async def overview(request: Request) -> Response:
    state = state_of(request)
    try:
        head, infos, recent = await run_in_threadpool(_overview_data, state)
    except ChronikError as error:
        return error_page(error)
    counts, labels = _per_minute(recent, datetime.now(UTC))
    categories: Counter[str] = Counter()
    category_events: Counter[str] = Counter()
    for info in infos:
        category = info.stream.partition(":")[0]
        categories[category] += 1
        category_events[category] += info.version
    verified = state.last_verify
    verify_text = ("not run since the server started" if verified is None else
                   f'<span class="{"good" if verified.ok else "bad"}">{"OK" if verified.ok else "FAILED"}</span>'
                   f" at {escape(verified.ran_at)}, {verified.checked} events checked"
                   + ("" if verified.first_bad_position is None else
                      f", first bad position {verified.first_bad_position}"))
    summary = fields([("head position", f'<span id="head-position">{head.position}</span>'),
                      ("head hash", f'<code>{escape(head.hash)}</code>'),
                      ("streams", str(len(infos))), ("verify", verify_text + ' · <a href="/verify">run</a>'),
                      ("ledger", escape(state.ledger.url))])
    streams_table = table(("stream", "version", "last position", "last type", "last time (UTC)"), (
        (webkit.Link(i.stream, i.stream), i.version, i.last_position, i.last_type, i.last_time[:19].replace("T", " "))
        for i in sorted(infos, key=lambda i: -i.last_position)[:200]))
    categories_table = table(("category", "streams", "events"),
                             ((c, categories[c], category_events[c]) for c in sorted(categories)))
    body = (summary + bar_chart(counts, labels, title=f"events per minute, last {CHART_MINUTES} minutes")
            + "<h2>Categories</h2>" + categories_table + "<h2>Streams</h2>" + streams_table)
    return html_response(page("Overview", body))


async def live_log(request: Request) -> Response:
    state = state_of(request)
    try:
        head = await run_in_threadpool(state.ledger.head)
    except ChronikError as error:
        return error_page(error)
    controls = (
        '<form id="filters" class="filters">'
        '<label>streams <input name="streams" placeholder="order:1,order:2"></label>'
        '<label>categories <input name="categories" placeholder="order"></label>'
        '<label>types <input name="types" placeholder="created"></label>'
        '<button type="submit">Apply</button>'
        '<button type="button" id="pause">Pause</button>'
        '<span id="live-status" class="muted">connecting…</span></form>')
    columns = "".join(f"<th>{c}</th>" for c in ("position", "time (UTC)", "stream", "version", "type", "data"))
    body = (controls + f'<table id="live-log"><thead><tr>{columns}</tr></thead><tbody></tbody></table>')
    return html_response(page("Live log", body, scripts=["live.js"],
                              data={"after": max(0, head.position - LIVE_LOG_BACKLOG)}))


def _event_row(event: Event) -> str:
    return (f'<article class="event" id="v{event.version}" data-version="{event.version}" '
            f'data-position="{event.position}">'
            f'<header><span class="ver">v{event.version}</span> <span class="type">{escape(event.type)}</span>'
            f' <span class="muted">position {event.position} · {escape(event.time)} · id {escape(event.id)}</span>'
            f'</header><div class="chain">prev <a href="#h-{escape(short_hash(event.prev))}">'
            f'<code>{escape(short_hash(event.prev))}</code></a> → hash <code id="h-{escape(short_hash(event.hash))}">'
            f'{escape(short_hash(event.hash))}</code>{"" if not event.sig else " · signed"}</div>'
            f'<div class="payload"><div><h4>data</h4>{json_tree(event.data)}</div>'
            f'<div><h4>meta</h4>{json_tree(event.meta)}</div></div></article>')


async def stream_view(request: Request) -> Response:
    state = state_of(request)
    stream = request.path_params["stream"]
    start_text = request.query_params.get("start", "1")
    try:
        rules.check_stream(stream, "stream", state.config.limits)
        start = rules.check_count(int(start_text) if start_text.isdigit() else start_text, "start", minimum=1)
        events = await run_in_threadpool(
            lambda: list(state.ledger.read_stream(stream, start=start, limit=STREAM_PAGE_EVENTS)))
        infos = await run_in_threadpool(state.ledger.streams, stream.partition(":")[0])
    except ChronikError as error:
        return error_page(error)
    version = next((info.version for info in infos if info.stream == stream), 0)
    offered = state.reducers.for_stream(stream)
    if offered:
        options = "".join(f'<option value="{escape(o.name)}">{escape(o.name)}@{escape(o.version)}'
                          f'{" (" + escape(o.source) + ")" if o.categories is None else ""}</option>'
                          for o in offered)
        travel = (
            '<section id="time-travel"><h2>Time travel</h2><form class="filters">'
            f'<label>reducer <select id="reducer">{options}</select></label>'
            f'<label>version <input id="slider" type="range" min="0" max="{version}" value="{version}" '
            f'step="1"></label><output id="slider-version">{version}</output>'
            '<label>at <input id="at" type="datetime-local" step="1"></label>'
            '<span class="muted">(UTC)</span></form>'
            '<div class="travel"><div><h3>State at <span id="state-version"></span></h3>'
            '<pre id="state"></pre></div><div><h3>Changes from the previous version</h3>'
            '<ul id="diff"></ul></div></div></section>')
    else:
        travel = ('<p class="muted">No reducer is offered for this stream\'s category: time travel needs '
                  'one (a pack\'s, or <code>chronik serve --reducer MODULE:NAME</code>).</p>')
    more = ""
    if len(events) == STREAM_PAGE_EVENTS:
        more = f'<p><a href="{escape(stream_url(stream))}?start={events[-1].version + 1}">next events</a></p>'
    body = (fields([("stream", escape(stream)), ("version", str(version)), ("events shown",
                    f"{len(events)} from version {start}")])
            + travel + "<h2>Events</h2>" + "".join(_event_row(e) for e in events)
            + (more or ("" if events else '<p class="muted">no events in this range</p>')))
    return html_response(page(stream, body, scripts=["stream.js"], data={"stream": stream, "version": version}))


async def verify_view(request: Request) -> Response:
    body = ('<form id="verify-form" class="filters">'
            '<label>anchor file <input type="file" id="anchor" accept=".json,application/json"></label>'
            '<label><input type="checkbox" id="require-signatures"> require signatures</label>'
            '<button type="submit" id="run-verify">Run verify</button></form>'
            '<div id="verify-result" class="muted">not run yet</div>')
    return html_response(page("Verify", body, scripts=["verify.js"]))


async def pack_page(request: Request) -> Response:
    state = state_of(request)
    name, slug = request.path_params["name"], request.path_params["slug"]
    pack = registry.find(name)
    pages: webkit.PackPages | None = None if pack is None or pack.web_pages is None else registry.load(pack.web_pages)
    found = None if pages is None else next((p for p in pages.pages if p.slug == slug), None)
    if found is None:
        return html_response(page("Not found", f'<p class="bad">no page {escape(name)}/{escape(slug)}</p>'), 404)
    try:
        content = await run_in_threadpool(found.render, state.ledger)
    except ChronikError as error:
        return error_page(error)
    body = (f"<p>{escape(content.summary)}</p>" if content.summary else "") + "".join(
        (f"<h2>{escape(t.title)}</h2>" if t.title else "") + table(t.columns, t.rows) for t in content.tables
    ) + "".join(f'<p class="muted">{escape(note)}</p>' for note in content.notes)
    return html_response(page(found.title, body))


async def login(request: Request) -> Response:
    """GET: a form for the token; POST: check it (constant time) and set an HttpOnly cookie."""
    state = state_of(request)
    if request.method == "POST":
        raw = (await request.body())[:4096]
        given = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0]
        tokens = [t for t in (state.config.token, state.config.read_only_token) if t]
        matched = False
        for token in tokens:
            matched |= hmac.compare_digest(given.encode(), token.encode())
        if matched:
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict", path="/")
            return response
        return html_response(page("Sign in", '<p class="bad">wrong token</p>' + _login_form()), 401)
    return html_response(page("Sign in", _login_form()))


def _login_form() -> str:
    return ('<form method="post" action="/login" class="filters"><label>token '
            '<input type="password" name="token" autocomplete="current-password"></label>'
            '<button type="submit">Sign in</button></form>')
