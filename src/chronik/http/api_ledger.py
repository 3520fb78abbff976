"""Ledger routes: streams, head, verify, derived state (replay, diff, the reducers offered), and
the operational ones (/healthz, /readyz, /metrics). Each makes one library call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chronik import codec
from chronik.errors import ChronikError, IntegrityError, ValidationError
from chronik.http import inputs
from chronik.http.errors import error_body, json_response, renamed
from chronik.http.metrics import CONTENT_TYPE
from chronik.http.routing import api, state_of
from chronik.http.state import LastVerify, ServerState


class VerifyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    anchor: dict[str, Any] | None = None
    from_position: int | None = None
    to_position: int | None = None
    require_signatures: bool = False
    include_archive: bool = False


@api("/v1/streams")
async def streams(request: Request, state: ServerState) -> Response:
    """Every stream with its version and last event (Ledger.streams), as `chronik streams --json`."""
    category = inputs.query_text(request.query_params, "category")
    infos = await run_in_threadpool(state.ledger.streams, category)
    return json_response({"streams": infos})


@api("/v1/head")
async def head(request: Request, state: ServerState) -> Response:
    """The newest position and its hash (Ledger.head), as `chronik head --json`."""
    return json_response(await run_in_threadpool(state.ledger.head))


@api("/v1/verify")
async def verify(request: Request, state: ServerState) -> Response:
    """The full verify report (chronik.integrity.verify.verify_ledger), as `chronik verify --json`;
    200 whether or not the ledger passes: read `ok` and `first_bad_position`."""
    from chronik.integrity.anchors import parse_anchor
    from chronik.integrity.verify import verify_ledger

    raw = await inputs.read_body(request, state.config.max_body_bytes)
    body = inputs.parse_body(raw, VerifyBody, state.config.max_body_depth) if raw.strip() else VerifyBody()
    anchor = None if body.anchor is None else parse_anchor(codec.encode_json(body.anchor), "anchor")
    try:
        report = await run_in_threadpool(
            lambda: verify_ledger(state.ledger, keyring=state.ledger.keyring, anchor=anchor,
                                  from_position=body.from_position, to_position=body.to_position,
                                  require_signatures=body.require_signatures,
                                  include_archive=body.include_archive))
    except IntegrityError as error:  # the anchor itself cannot be trusted (forged, other ledger)
        return json_response(error_body(error), 422)
    state.metrics.record_verify(report.ok)
    state.last_verify = LastVerify(report.ok, report.checked, report.first_bad_position,
                                   codec.format_time(datetime.now(UTC)))
    return json_response(report)


@api("/v1/reducers")
async def reducers(request: Request, state: ServerState) -> Response:
    """The reducers offered for replay, diff and time travel (the packs' and --reducer ones);
    with `stream`, those for that stream, its category's first."""
    stream = inputs.query_text(request.query_params, "stream")
    offered = state.reducers.offered() if stream is None else state.reducers.for_stream(stream)
    return json_response({"reducers": offered})


def _builtins(state: Any) -> Any:
    try:
        return msgspec.to_builtins(state)
    except TypeError:
        return repr(state)


@api("/v1/streams/{stream}/state")
async def replay(request: Request, state: ServerState) -> Response:
    """A stream's state now, or at a version, position or time (Ledger.replay), as
    `chronik replay --json`."""
    query = request.query_params
    stream = request.path_params["stream"]
    reducer = state.reducers.get(query.get("reducer", ""))
    to_version = inputs.query_int(query, "version")
    to_position = inputs.query_int(query, "position")
    at = inputs.query_text(query, "at")
    given = [name for name, value in (("version", to_version), ("position", to_position), ("at", at))
             if value is not None]
    if len(given) > 1:
        raise ValidationError(given[1], f"cannot be combined with {given[0]}", "give at most one of "
                              "version, position and at")
    try:
        result = await run_in_threadpool(lambda: state.ledger.replay(
            stream, reducer, to_version=to_version, to_position=to_position, at=at,
            include_snapshots=not state.config.read_only))
    except ValidationError as error:
        raise renamed(error, {"to_version": "version", "to_position": "position"}) from None
    return json_response({"stream": stream, "reducer": reducer.label, "version": result.version,
                          "position": result.position, "events_applied": result.events_applied,
                          "from_snapshot": result.from_snapshot, "snapshot_saved": result.snapshot_saved,
                          "warnings": result.warnings, "state": _builtins(result.state)})


@api("/v1/streams/{stream}/diff")
async def diff(request: Request, state: ServerState) -> Response:
    """What changed in a stream's state from point `a` to point `b` and which events changed it
    (Ledger.diff), as `chronik diff --json`. A point: a version, latest, position:N, at:TIME."""
    query = request.query_params
    stream = request.path_params["stream"]
    reducer = state.reducers.get(query.get("reducer", ""))
    a = query.get("a")
    if not a:
        raise ValidationError("a", "is missing", "pass a=VERSION (0 is the initial state)")
    b = query.get("b") or "latest"
    result = await run_in_threadpool(state.ledger.diff, stream, reducer, a, b)
    return json_response(result)


async def healthz(request: Request) -> Response:
    """The process is up."""
    return json_response({"ok": True})


async def readyz(request: Request) -> Response:
    """The store answers (Ledger.head)."""
    state = state_of(request)
    try:
        ledger_head = await run_in_threadpool(state.ledger.head)
    except ChronikError as error:
        state.metrics.record_error(error)
        return json_response({"ok": False, **error_body(error)}, 503, headers={"Retry-After": "1"})
    return json_response({"ok": True, "head_position": ledger_head.position})


@api("/metrics")
async def metrics(request: Request, state: ServerState) -> Response:
    """Prometheus text exposition."""
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)
