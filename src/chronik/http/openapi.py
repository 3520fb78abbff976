"""The OpenAPI 3.1 document at /openapi.json.

Schemas of what the routes send and take come from the Structs themselves
(`msgspec.json.schema_components`, JSON Schema 2020-12 as OpenAPI 3.1 uses it), so the document
cannot drift from the code; the routes, their parameters and their statuses are listed here.
The packs' routes are added from the registry (chronik.domains.webkit.PackRoute).
"""

from __future__ import annotations

from typing import Any

import msgspec

import chronik
from chronik.derive.diff import Diff
from chronik.domains import registry, webkit
from chronik.http.api_events import AppendBody, AppendManyBody
from chronik.http.api_ledger import VerifyBody
from chronik.http.reducers import OfferedReducer
from chronik.integrity.verify import IntegrityReport
from chronik.model import AppendResult, Event, Head, StreamInfo
from chronik.rules import STREAM_PATTERN

REF = "#/components/schemas/{name}"
STRUCTS = (Event, AppendResult, StreamInfo, Head, IntegrityReport, Diff, OfferedReducer,
           AppendBody, AppendManyBody, VerifyBody)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


ERROR = _object({"error": _object({
    "code": {"type": "string"}, "message": {"type": "string"},
    "field": _nullable({"type": "string"}),
}, ["code", "message", "field"])})
EVENTS = _object({"events": {"type": "array", "items": _ref("Event")}})
EVENTS_PAGE = _object({"events": {"type": "array", "items": _ref("Event")},
                       "next_cursor": _nullable({"type": "string"}),
                       "next_after": _nullable({"type": "integer"})})
REPLAY = _object({"stream": {"type": "string"}, "reducer": {"type": "string"},
                  "version": {"type": "integer"}, "position": {"type": "integer"},
                  "events_applied": {"type": "integer"}, "from_snapshot": _nullable({"type": "integer"}),
                  "snapshot_saved": _nullable({"type": "integer"}),
                  "warnings": {"type": "array", "items": {"type": "string"}}, "state": {}})
HEALTH = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _query(name: str, description: str, schema: dict[str, Any] | None = None,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


INT = {"type": "integer", "minimum": 0}
STREAM_PARAM = {"name": "stream", "in": "path", "required": True, "description": "category:id",
                "schema": {"type": "string", "pattern": f"^{STREAM_PATTERN.pattern}$", "maxLength": 200}}
FILTER_PARAMS = [
    _query("streams", "only these streams (comma-separated or repeated)"),
    _query("categories", "only these categories"),
    _query("types", "only these event types"),
]
TIME_PARAMS = [
    _query("since", "recorded at or after (RFC 3339, a date, or an age: 2h)"),
    _query("until", "recorded at or before"),
    _query("text", "case-insensitive text in type, data or meta"),
]


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {401: "no or wrong token", 403: "read-only, bad Host or Origin", 404: "not found",
               409: "the stream is not at the expected version", 413: "too large",
               422: "invalid input (the field is named)", 503: "the store is busy or unreachable"}
    return {str(status): _json(_ref("Error"), reasons[status]) for status in (401, 403, *statuses)}


def _operation(summary: str, ok: dict[str, Any], *, status: str = "200", params: list[Any] | None = None,
               body: dict[str, Any] | None = None, errors: tuple[int, ...] = (422, 503)) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": params or [],
                                 "responses": {status: ok, **_errors(*errors)}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _paths(reducer_names: list[str]) -> dict[str, Any]:
    reducer = _query("reducer", "a reducer's name (GET /v1/reducers)",
                     {"type": "string", "enum": reducer_names} if reducer_names else None, required=True)
    page = [_query("limit", "events per page (default 100, at most max_page_size)", INT)]
    return {
        "/v1/streams/{stream}/events": {
            "parameters": [STREAM_PARAM],
            "post": _operation("Append events to a stream if it meets `expect`", _json(_ref("AppendResult")),
                               status="201", body=_ref("AppendBody"), errors=(409, 413, 422, 503)),
            "get": _operation("Read a stream (forwards, or backwards)", _json(EVENTS), params=[
                _query("start", "first version (backwards: last)", INT), _query("end", "last version", INT),
                _query("backwards", "newest first", {"type": "boolean"}), *page]),
        },
        "/v1/events": {
            "get": _operation("Read or query the whole log, a page at a time", _json(EVENTS_PAGE), params=[
                _query("after", "events after this position", INT),
                _query("cursor", "next_cursor of the previous page"), *page, *FILTER_PARAMS, *TIME_PARAMS]),
            "post": _operation("Append to several streams atomically", _json(_object({"streams": {
                "type": "object", "additionalProperties": _ref("AppendResult")}})), status="201",
                body=_ref("AppendManyBody"), errors=(409, 413, 422, 503)),
        },
        "/v1/streams": {"get": _operation("Every stream with its version", _json(_object({"streams": {
            "type": "array", "items": _ref("StreamInfo")}})), params=[_query("category", "only this category")])},
        "/v1/head": {"get": _operation("The newest position and hash", _json(_ref("Head")), errors=(503,))},
        "/v1/verify": {"post": _operation("Verify the ledger (the report of `chronik verify --json`)",
                                          _json(_ref("IntegrityReport")), body=_ref("VerifyBody"),
                                          errors=(413, 422, 503))},
        "/v1/reducers": {"get": _operation("The reducers offered", _json(_object({"reducers": {
            "type": "array", "items": _ref("OfferedReducer")}})), params=[_query("stream", "for this stream")])},
        "/v1/streams/{stream}/state": {"parameters": [STREAM_PARAM], "get": _operation(
            "A stream's state now or at a version, position or time", _json(REPLAY), params=[
                reducer, _query("version", "after this version", INT),
                _query("position", "after this position", INT), _query("at", "at this time")])},
        "/v1/streams/{stream}/diff": {"parameters": [STREAM_PARAM], "get": _operation(
            "What changed between two points, and which events changed it", _json(_ref("Diff")), params=[
                reducer, _query("a", "a point: version, latest, position:N, at:TIME", required=True),
                _query("b", "a point (default latest)")])},
        "/v1/subscribe": {"get": {
            "summary": "Live events (SSE; NDJSON with format=ndjson); Last-Event-ID resumes",
            "parameters": [_query("after", "events after this position", INT),
                           _query("limit", "close after this many events", INT),
                           _query("format", "sse or ndjson", {"enum": ["sse", "ndjson"]}), *FILTER_PARAMS,
                           {"name": "Last-Event-ID", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "an endless stream", "content": {
                "text/event-stream": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}}}}, **_errors(422, 503)}}},
        "/healthz": {"get": {"summary": "The process is up", "responses": {"200": _json(HEALTH)}}},
        "/readyz": {"get": {"summary": "The store answers", "responses": {
            "200": _json(HEALTH), "503": _json(HEALTH, "the store does not answer")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **_errors()}}},
    }


def _pack_answer(route: webkit.PackRoute) -> dict[str, Any]:
    answer = _json({})
    for media_type in route.binary_types:
        answer["content"][media_type] = {"schema": {"type": "string", "format": "binary"}}
    return answer


def _pack_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for pack in registry.packs():
        if pack.http_routes is None:
            continue
        routes: webkit.PackRoutes = registry.load(pack.http_routes)
        for route in routes.routes:
            paths[f"/v1/{pack.http_prefix or pack.name}/{route.path}"] = {route.http_method.lower(): _operation(
                route.summary, _pack_answer(route), params=[_query(name, name) for name in route.query],
                errors=(404, 422, 503))}
    return paths


def document(reducer_names: list[str]) -> dict[str, Any]:
    """The document of an app offering the reducers `reducer_names`."""
    _, components = msgspec.json.schema_components(STRUCTS, ref_template=REF)
    components["Error"] = ERROR
    return {
        "openapi": "3.1.0",
        "info": {"title": "chronik", "version": chronik.__version__,
                 "description": "An append-only, hash-chained event ledger (docs/http.md)."},
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
        "paths": {**_paths(reducer_names), **_pack_paths()},
    }
