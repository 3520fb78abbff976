"""`chronik mcp --http`: the same tools over MCP streamable HTTP, at http://HOST:PORT/mcp.

Binds 127.0.0.1 by default. Bound anywhere else it requires a bearer token (`--token` or
$CHRONIK_MCP_TOKEN), compared in constant time on every request; a request without it gets 401.
Host and Origin headers are checked against the addresses the server answers to (DNS
rebinding): a page on another site cannot drive a local server through the browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.mcp.server import build_server

PATH = "/mcp"
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """A token is required off loopback, and must be long enough to guess at no useful rate."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ValidationError("token", f"is shorter than {MIN_TOKEN_CHARS} characters",
                              "use a random token, e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`")
    if token is None and not is_loopback(host):
        raise ValidationError("token", f"is required to serve on {host} (not a loopback address)",
                              "pass --token or set CHRONIK_MCP_TOKEN, and give clients the same bearer token")


class BearerToken:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "Unauthorized", "message": "a valid bearer token is required"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="chronik"')]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(ledger: Ledger, host: str, port: int, token: str | None,
             allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()) -> Any:
    """The ASGI app: the MCP endpoint with Host/Origin checks, behind the bearer token."""
    from mcp.server.transport_security import TransportSecuritySettings

    check_binding(host, token)
    names = [*LOOPBACK_NAMES] if is_loopback(host) else [host if ":" not in host else f"[{host}]"]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*(f"{name}:{port}" for name in names), *(f"{name}:*" for name in names),
                       *allowed_hosts],
        allowed_origins=[*(f"http://{name}:*" for name in LOOPBACK_NAMES), *allowed_origins])
    app = build_server(ledger).streamable_http_app(streamable_http_path=PATH, transport_security=security,
                                                   host=host)
    return app if token is None else BearerToken(app, token)


def serve_http(ledger: Ledger, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
               allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()) -> None:
    """Serve until interrupted. The bound address is printed to stderr (port 0 picks a free one)."""
    import uvicorn

    check_binding(host, token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValidationError("port", f"cannot listen on {host}:{port}: {exc.strerror}",
                              "choose another port (0 picks a free one)") from None
    bound_port = sock.getsockname()[1]
    app = http_app(ledger, host, bound_port, token, allowed_hosts, allowed_origins)
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"chronik mcp: streamable HTTP on http://{shown}:{bound_port}{PATH}\n")
    sys.stderr.flush()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
