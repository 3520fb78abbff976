"""The wrapper every API route goes through: the write check, errors as JSON, metrics.

A route is `async def name(request, state) -> Response` making one library call. `api(route,
writes=...)` turns it into a Starlette endpoint that refuses writes on a read-only server or with
a read-only token (403), turns chronik's typed errors into the error JSON (chronik.http.errors),
and counts the request by route template and status.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from chronik.errors import ChronikError
from chronik.http.errors import error_response, http_error
from chronik.http.security import READ, ROLE_KEY
from chronik.http.state import ServerState

Handler = Callable[[Request, ServerState], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.chronik
    return state


def write_refusal(request: Request, state: ServerState) -> Response | None:
    if state.config.read_only:
        return http_error(403, "ReadOnly", "this server is read-only (chronik serve --read-only)")
    if request.scope.get(ROLE_KEY) == READ:
        return http_error(403, "Forbidden", "this token may only read; appending needs the full token",
                          "Authorization")
    return None


def api(route: str, *, writes: bool = False) -> Callable[[Handler], Endpoint]:
    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            state = state_of(request)
            started = time.perf_counter()
            refusal = write_refusal(request, state) if writes else None
            if refusal is not None:
                response = refusal
            else:
                try:
                    response = await handler(request, state)
                except ChronikError as error:
                    state.metrics.record_error(error)
                    response = error_response(error)
            state.metrics.requests.labels(route, str(response.status_code)).inc()
            state.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
