"""Event routes: append (one stream, several streams atomically), read a stream, read and query
the whole log, and the live stream (SSE or NDJSON). Each makes one library call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from chronik import rules
from chronik.errors import LimitExceeded, ValidationError
from chronik.http import inputs
from chronik.http.errors import error_body, http_error, json_response, renamed
from chronik.http.live import SlowConsumer, live_events
from chronik.http.routing import api
from chronik.http.state import ServerState
from chronik.model import Event, Filter, NewEvent

SSE_MEDIA_TYPE = "text/event-stream"
NDJSON_MEDIA_TYPE = "application/x-ndjson"
SSE_RETRY_MS = 1000
_encode = msgspec.json.Encoder().encode


class EventIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None


class AppendBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: list[EventIn]
    expect: str | int = "any"


class StreamAppend(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stream: str
    events: list[EventIn]
    expect: str | int = "any"


class AppendManyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    streams: list[StreamAppend]


def _new_events(events: list[EventIn]) -> list[NewEvent]:
    return [NewEvent(e.type, e.data, e.meta, e.id) for e in events]


def _page_limit(request: Request, state: ServerState, name: str = "limit") -> int:
    limit = inputs.query_int(request.query_params, name, state.config.default_page_size, minimum=1)
    assert limit is not None
    if limit > state.config.limits.max_page_size:
        raise LimitExceeded(name, "max_page_size", state.config.limits.max_page_size, limit,
                            "page through with the cursor (or after)")
    return limit


@api("/v1/streams/{stream}/events", writes=True)
async def append(request: Request, state: ServerState) -> Response:
    """Append events to one stream, atomically, if it meets `expect` (Ledger.append)."""
    stream = request.path_params["stream"]
    raw = await inputs.read_body(request, state.config.max_body_bytes)
    body = inputs.parse_body(raw, AppendBody, state.config.max_body_depth)
    expect = inputs.expectation(body.expect)
    try:
        rules.check_stream(stream, "stream", state.config.limits)
        results = await state.appends.append_many({stream: (_new_events(body.events), expect)})
    except ValidationError as error:
        raise renamed(error, {f"{stream}.events": "events", f"{stream}.expect": "expect"}) from None
    return json_response(results[stream], 201)


@api("/v1/events", writes=True)
async def append_many(request: Request, state: ServerState) -> Response:
    """Append to several streams in one atomic step (Ledger.append_many): all or nothing."""
    raw = await inputs.read_body(request, state.config.max_body_bytes)
    body = inputs.parse_body(raw, AppendManyBody, state.config.max_body_depth)
    batches = {}
    renames = {}
    for index, part in enumerate(body.streams):
        if part.stream in batches:
            raise ValidationError(f"streams[{index}].stream", f"{part.stream!r} appears twice",
                                  "put all of a stream's events in one entry")
        rules.check_stream(part.stream, f"streams[{index}].stream", state.config.limits)
        batches[part.stream] = (_new_events(part.events),
                                inputs.expectation(part.expect, f"streams[{index}].expect"))
        renames[f"{part.stream}.events"] = f"streams[{index}].events"
        renames[f"{part.stream}.expect"] = f"streams[{index}].expect"
    try:
        results = await state.appends.append_many(batches)
    except ValidationError as error:
        raise renamed(error, {**renames, "batches": "streams"}) from None
    return json_response({"streams": results}, 201)


@api("/v1/streams/{stream}/events")
async def read_stream(request: Request, state: ServerState) -> Response:
    """A stream's events in version order, or newest first (Ledger.read_stream)."""
    query = request.query_params
    stream = request.path_params["stream"]
    limit = _page_limit(request, state)
    start = inputs.query_int(query, "start", 1, minimum=1)
    end = inputs.query_int(query, "end")
    backwards = inputs.query_bool(query, "backwards")
    events = await run_in_threadpool(lambda: list(state.ledger.read_stream(
        stream, start=start or 1, end=end, backwards=backwards, limit=limit)))
    state.metrics.events_read.labels("stream").inc(len(events))
    return json_response({"events": events})


def _filter(request: Request) -> Filter:
    query = request.query_params
    return Filter(streams=inputs.query_list(request, "streams"),
                  categories=inputs.query_list(request, "categories"),
                  types=inputs.query_list(request, "types"),
                  since=inputs.query_text(query, "since"), until=inputs.query_text(query, "until"),
                  text=inputs.query_text(query, "text"))



def _filter_error(error: ValidationError) -> ValidationError:
    # The library names "filter.types"; the request's parameter is "types".
    return renamed(error, {f"filter.{name}": name for name in
                           ("streams", "categories", "types", "since", "until", "text")})


@api("/v1/events")
async def read_events(request: Request, state: ServerState) -> Response:
    """Matching events in position order, a page at a time (Ledger.query with the cursor, or
    Ledger.read_all after a position)."""
    query = request.query_params
    limit = _page_limit(request, state)
    after = inputs.query_int(query, "after")
    cursor = inputs.query_text(query, "cursor")
    event_filter = _filter(request)
    try:
        if after is not None and cursor is not None:
            raise ValidationError("after", "cannot be combined with cursor", "pass one of them")
        if after is not None:
            events = await run_in_threadpool(lambda: list(state.ledger.read_all(after, limit + 1, event_filter)))
            more = len(events) > limit
            events = events[:limit]
            body: dict[str, Any] = {"events": events, "next_cursor": None,
                    "next_after": events[-1].position if more else None}
        else:
            page = await run_in_threadpool(state.ledger.query, event_filter, limit, cursor)
            events = page.events
            body = {"events": events, "next_cursor": page.next_cursor,
                    "next_after": events[-1].position if page.has_more else None}
    except ValidationError as error:
        raise _filter_error(error) from None
    state.metrics.events_read.labels("events").inc(len(events))
    return json_response(body)


def _after_for_subscribe(request: Request) -> int:
    """`Last-Event-ID` (a reconnecting EventSource) wins over `after`."""
    last_id = request.headers.get("last-event-id")
    if last_id is not None and last_id.strip():
        text = last_id.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            raise ValidationError("Last-Event-ID", f"{text!r} is not a position", "send the id of the last event seen")
        return int(text)
    return inputs.query_int(request.query_params, "after", 0) or 0


def _sse(events: list[Event]) -> bytes:
    return b"".join(b"id: %d\nevent: %s\ndata: %s\n\n" % (event.position, event.type.encode(), _encode(event))
                    for event in events)


def _ndjson(events: list[Event]) -> bytes:
    return b"".join(_encode(event) + b"\n" for event in events)


@api("/v1/subscribe")
async def subscribe(request: Request, state: ServerState) -> Response:
    """Matching events after a position, then each new one as it is committed: server-sent
    events (id = position, event = type, data = the event), or NDJSON with format=ndjson."""
    after = _after_for_subscribe(request)
    limit = inputs.query_int(request.query_params, "limit", minimum=1)
    ndjson = (request.query_params.get("format") == "ndjson"
              or NDJSON_MEDIA_TYPE in request.headers.get("accept", ""))
    if request.query_params.get("format") not in (None, "", "sse", "ndjson"):
        raise ValidationError("format", "must be sse or ndjson", "pass format=sse or format=ndjson")
    try:
        read_filter = rules.read_filter(Filter(streams=inputs.query_list(request, "streams"),
                                               categories=inputs.query_list(request, "categories"),
                                               types=inputs.query_list(request, "types")),
                                        state.config.limits)
    except ValidationError as error:
        raise _filter_error(error) from None
    if len(state.broadcaster.subscribers) >= state.config.max_subscribers:
        return http_error(503, "TooManySubscribers", f"{state.config.max_subscribers} live clients are "
                          "connected; retry later", headers={"Retry-After": "5"})
    encode = _ndjson if ndjson else _sse
    metrics = state.metrics

    async def body() -> AsyncIterator[bytes]:
        metrics.subscriptions.inc()
        sent = 0
        try:
            if not ndjson:
                yield b"retry: %d\n\n" % SSE_RETRY_MS
            async for events in live_events(state.ledger, state.broadcaster, after, read_filter,
                                            state.config.heartbeat_s):
                if not events:
                    yield b"\n" if ndjson else b": heartbeat\n\n"
                    continue
                if limit is not None:
                    events = events[:limit - sent]
                sent += len(events)
                metrics.events_read.labels("subscribe").inc(len(events))
                yield encode(events)
                if limit is not None and sent >= limit:
                    return
        except SlowConsumer:
            metrics.disconnects.labels("slow_consumer").inc()
            error = error_body(LimitExceeded("after", "client_buffer_events", state.config.client_buffer_events,
                                             state.config.client_buffer_events + 1,
                                             "read faster, or reconnect with your last position"))
            error["error"]["code"] = "SlowConsumer"
            yield (_encode(error) + b"\n") if ndjson else b"event: error\ndata: %s\n\n" % _encode(error)
        finally:
            metrics.subscriptions.dec()

    media_type = NDJSON_MEDIA_TYPE if ndjson else SSE_MEDIA_TYPE
    return StreamingResponse(body(), media_type=media_type,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
