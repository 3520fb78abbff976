"""The packs' routes, mounted from the registry: `GET /v1/NAME/PATH` (POST when the route writes)
for each `webkit.PackRoute` of a pack's `http_routes` entry. Each calls the pack's service
function with the ledger and the query parameters, in a worker thread, through the same
wrapper as chronik's own routes (write check, error JSON, metrics)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chronik.domains import registry, webkit
from chronik.http.errors import json_response
from chronik.http.routing import api
from chronik.http.state import ServerState


def _endpoint(template: str, route: webkit.PackRoute) -> Route:
    @api(template, writes=route.writes)
    async def pack_route(request: Request, state: ServerState) -> Response:
        query = dict(request.query_params)
        answer = await run_in_threadpool(route.call, state.ledger, query)
        if isinstance(answer, webkit.Binary):
            headers = {} if answer.filename is None else {
                "Content-Disposition": f'attachment; filename="{answer.filename}"'}
            return Response(answer.content, media_type=answer.media_type, headers=headers)
        return json_response(answer)

    return Route(template, pack_route, methods=[route.http_method])


def pack_routes() -> list[Route]:
    routes = []
    for pack in registry.packs():
        if pack.http_routes is None:
            continue
        offered: webkit.PackRoutes = registry.load(pack.http_routes)
        prefix = pack.http_prefix or pack.name
        routes += [_endpoint(f"/v1/{prefix}/{route.path}", route) for route in offered.routes]
    return routes
