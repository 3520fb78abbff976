"""`create_app`: the ASGI app behind `chronik serve`, for embedding in any ASGI server.

    from chronik.http import create_app
    app = create_app("sqlite:///var/lib/app/ledger.db", token="...")   # uvicorn, hypercorn, ...

One app serves the JSON API (/v1/...), the live stream (/v1/subscribe), /metrics, /healthz,
/readyz, /openapi.json and the web UI. Every request passes the guard (chronik.http.security)
first. The ledger is opened when the app is built (bad URLs fail at once) and closed when the
ASGI lifespan ends; the live broadcaster runs while the app is up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chronik.derive.reducer import Reducer
from chronik.http import api_events, api_ledger, openapi
from chronik.http.config import ServerConfig, check_config
from chronik.http.errors import http_error, json_response
from chronik.http.packs import pack_routes
from chronik.http.reducers import ReducerCatalog
from chronik.http.security import Guard
from chronik.http.state import ServerState
from chronik.http.web import pages
from chronik.ledger import Ledger, open_ledger

STATIC_DIR = Path(__file__).parent / "static"


def _routes() -> list[Any]:
    return [
        Route("/v1/streams/{stream}/events", api_events.append, methods=["POST"]),
        Route("/v1/streams/{stream}/events", api_events.read_stream, methods=["GET"]),
        Route("/v1/events", api_events.append_many, methods=["POST"]),
        Route("/v1/events", api_events.read_events, methods=["GET"]),
        Route("/v1/subscribe", api_events.subscribe, methods=["GET"]),
        Route("/v1/streams", api_ledger.streams, methods=["GET"]),
        Route("/v1/head", api_ledger.head, methods=["GET"]),
        Route("/v1/verify", api_ledger.verify, methods=["POST"]),
        Route("/v1/reducers", api_ledger.reducers, methods=["GET"]),
        Route("/v1/streams/{stream}/state", api_ledger.replay, methods=["GET"]),
        Route("/v1/streams/{stream}/diff", api_ledger.diff, methods=["GET"]),
        *pack_routes(),
        Route("/healthz", api_ledger.healthz, methods=["GET"]),
        Route("/readyz", api_ledger.readyz, methods=["GET"]),
        Route("/metrics", api_ledger.metrics, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/", pages.overview, methods=["GET"]),
        Route("/log", pages.live_log, methods=["GET"]),
        Route("/streams/{stream}", pages.stream_view, methods=["GET"]),
        Route("/verify", pages.verify_view, methods=["GET"]),
        Route("/packs/{name}/{slug}", pages.pack_page, methods=["GET"]),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]


async def _openapi(request: Request) -> Response:
    state: ServerState = request.app.state.chronik
    if state.openapi is None:  # built once per app: it lists the app's reducers
        state.openapi = msgspec.json.encode(openapi.document([r.name for r in state.reducers.offered()]))
    return Response(state.openapi, media_type="application/json")


async def _not_found(request: Request, exc: Exception) -> Response:
    return http_error(404, "NoRoute", f"no route {request.method} {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return http_error(405, "MethodNotAllowed", f"{request.url.path} does not take {request.method}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return json_response({"error": {"code": "InternalError", "message": f"{type(exc).__name__}: {exc}",
                                    "field": None}}, 500)


def create_app(ledger_url: str | None = None, *, config: ServerConfig | None = None,
               ledger: Ledger | None = None, reducers: Sequence[Reducer] = (), **options: Any) -> Starlette:
    """The ASGI app for the ledger at `ledger_url` (or an open `ledger`). `options` are
    ServerConfig fields (token, read_only_token, read_only, allowed_hosts, allowed_origins,
    cors_origins, reducer_specs, limits, max_body_bytes, heartbeat_s, ...), checked first:
    a ValidationError names the field. `reducers` adds Reducer objects to those offered."""
    config = check_config(config or ServerConfig(ledger_url=ledger_url, **options))
    catalog = ReducerCatalog(config.reducer_specs, tuple(reducers))
    owns_ledger = ledger is None  # a ledger passed in is the caller's to close
    if ledger is None:
        ledger = open_ledger(config.ledger_url, limits=config.limits, read_only=config.read_only)
    state = ServerState(ledger, config, catalog)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.broadcaster.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            state.broadcaster.stop()
            if owns_ledger:
                state.ledger.close()

    app = Starlette(routes=_routes(), middleware=[Middleware(Guard, config=config)], lifespan=lifespan,
                    exception_handlers={404: _not_found, 405: _not_allowed, Exception: _unexpected})
    app.state.chronik = state
    return app
