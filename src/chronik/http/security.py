"""The guard in front of every route, the UI and the static files included.

In order, for every HTTP request:

1. Host: the Host header must name this server (its bound address, a loopback name, or one of
   `allowed_hosts`), so a DNS-rebinding page (evil.example resolving to 127.0.0.1) is refused
   with 403 even though the browser sends the request to us.
2. Origin: a request that carries an Origin (browsers send it on cross-site requests and on
   every POST) must come from this server's own origin or one of `allowed_origins`; anything
   else (another site, `null`) is refused with 403. A request without Origin (curl, a script)
   passes this check.
3. Token: with a token configured, every route but /healthz, /readyz, /login and /static/
   needs `Authorization: Bearer TOKEN` (or the `chronik_token` cookie that signing in at
   /login sets, HttpOnly and SameSite=Strict); tokens are compared in constant time (hmac.compare_digest), and the role
   (`write` or `read`) is put on the request scope for the write check of each route.

Only then does the request reach the app. CORS headers are added only for `cors_origins`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

from chronik.http.config import LOOPBACK_NAMES, ServerConfig
from chronik.http.errors import http_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ROLE_KEY = "chronik.role"
WRITE, READ = "write", "read"
TOKEN_COOKIE = "chronik_token"
# Open without a token: liveness, readiness, the sign-in form and the static assets (no data).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login"})
OPEN_PREFIX = "/static/"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, Last-Event-ID"


def host_name(host_header: str) -> str:
    """The name in a Host header, without the port (`[::1]:8470` -> `::1`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.hosts = {name.lower() for name in (*LOOPBACK_NAMES, config.host, *config.allowed_hosts)}
        own = [f"http://{name}:{config.port}" for name in self.hosts]
        own += [f"http://[{name}]:{config.port}" for name in self.hosts if ":" in name]
        self.origins = {origin.lower().rstrip("/") for origin in (*own, *config.allowed_origins)}
        self.cors = {origin.lower().rstrip("/") for origin in config.cors_origins}
        self.tokens = [(token.encode(), role) for token, role in
                       ((config.token, WRITE), (config.read_only_token, READ)) if token]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        origin = headers.get("origin", "").lower().rstrip("/")
        if origin and origin in self.cors:
            if scope["method"] == "OPTIONS":
                await Response(status_code=204, headers=self.cors_headers(origin))(scope, receive, send)
                return
            send = self.with_cors(send, origin)
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> Any:
        if host_name(headers.get("host", "")) not in self.hosts:
            return http_error(403, "BadHost", "the Host header does not name this server (DNS rebinding "
                              "protection)", "Host")
        origin = headers.get("origin")
        if origin is not None:
            normal = origin.lower().rstrip("/")
            if normal not in self.origins and normal not in self.cors:
                return http_error(403, "BadOrigin", f"requests from the origin {origin!r} are not allowed",
                                  "Origin")
        role = self.role(headers)
        path = scope["path"]
        if role is None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIX):
            return http_error(401, "Unauthorized", "this server needs a bearer token: send "
                              "Authorization: Bearer TOKEN", "Authorization",
                              headers={"WWW-Authenticate": 'Bearer realm="chronik"'})
        scope[ROLE_KEY] = role or READ
        return None

    def role(self, headers: dict[str, str]) -> str | None:
        """WRITE or READ for a valid token (or no token configured: WRITE); None otherwise."""
        if not self.tokens:
            return WRITE
        given = _bearer(headers.get("authorization", "")) or _cookie(headers.get("cookie", ""), TOKEN_COOKIE)
        if not given:
            return None
        found = None
        for token, role in self.tokens:  # compare with every token: time does not tell which matched
            if hmac.compare_digest(given.encode(), token):
                found = role
        return found

    def cors_headers(self, origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS, "Vary": "Origin"}

    def with_cors(self, send: Send, origin: str) -> Send:
        extra = [(key.lower().encode(), value.encode()) for key, value in self.cors_headers(origin).items()]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return send_with_cors


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
