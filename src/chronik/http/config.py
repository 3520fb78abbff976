"""How the HTTP app is configured, and the checks made before it serves anything.

Secure by default (docs/http.md, "Security"): it binds 127.0.0.1; binding any other address
needs a bearer token; a token file must not be readable by others (mode 0600); the Host header
must name this server (DNS rebinding) and a browser's Origin must be this server's, unless
listed; no CORS header is sent unless origins are configured.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import msgspec

from chronik.errors import ValidationError
from chronik.limits import DEFAULT_LIMITS, MIB, Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
TOKEN_ENV = "CHRONIK_HTTP_TOKEN"
READ_ONLY_TOKEN_ENV = "CHRONIK_HTTP_READ_TOKEN"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_FILE_BYTES = 4096
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True):
    ledger_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Bearer tokens: `token` may do everything, `read_only_token` only what reads.
    token: str | None = None
    read_only_token: str | None = None
    read_only: bool = False  # refuse every write, whatever the token
    # Host header names accepted (besides the bound host and the loopback names).
    allowed_hosts: tuple[str, ...] = ()
    # Browser origins accepted besides this server's own (http://HOST:PORT).
    allowed_origins: tuple[str, ...] = ()
    # Origins that get CORS headers (none by default: no CORS at all).
    cors_origins: tuple[str, ...] = ()
    # Reducers named MODULE:NAME, offered besides the packs' own.
    reducer_specs: tuple[str, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    # A request body larger than this is refused (413) before it is read.
    max_body_bytes: int = 8 * MIB
    # JSON nesting of a request body (the event's data/meta sit three levels down).
    max_body_depth: int = DEFAULT_LIMITS.max_depth + 4
    default_page_size: int = 100
    # Events buffered for one live client; a client that falls this far behind is disconnected.
    client_buffer_events: int = 10_000
    heartbeat_s: float = 15.0
    # Live clients at once; one more gets 503 with Retry-After.
    max_subscribers: int = 1_000

    @property
    def auth_required(self) -> bool:
        return self.token is not None or self.read_only_token is not None


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_config(config: ServerConfig) -> ServerConfig:
    """The config, or ValidationError naming the field: a non-loopback bind needs a token."""
    if not is_loopback(config.host) and config.token is None and config.read_only_token is None:
        raise ValidationError("host", f"binding {config.host} exposes the ledger to the network, and "
                              "no token is set", f"pass token_file (mode 0600) or set ${TOKEN_ENV}, "
                              "or bind 127.0.0.1")
    for field, token in (("token", config.token), ("read_only_token", config.read_only_token)):
        if token is not None and (len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token):
            raise ValidationError(field, f"must be at least {MIN_TOKEN_CHARS} printable characters "
                                  "without spaces", "generate one: python -c 'import secrets; "
                                  "print(secrets.token_urlsafe(32))'")
    if config.token is not None and config.token == config.read_only_token:
        raise ValidationError("read_only_token", "is the same as the token", "use two different tokens")
    if not 1 <= config.port <= 65535:
        raise ValidationError("port", f"{config.port} is not a TCP port", "use 1-65535")
    for field in ("client_buffer_events", "max_subscribers", "heartbeat_s", "max_body_bytes", "max_body_depth",
                  "default_page_size"):
        if getattr(config, field) <= 0:
            raise ValidationError(field, f"{getattr(config, field)} is not above 0", "pass a positive value")
    return config


def read_token_file(path: str | os.PathLike[str], field: str = "token_file") -> str:
    """The token in `path`: its first line. Refused when others may read the file (mode 0600)."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValidationError(field, f"{path} is readable by group or others "
                                  f"(mode {stat.S_IMODE(info.st_mode):04o})", f"chmod 600 {path}")
        with path.open("rb") as file:
            raw = file.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise ValidationError(field, f"cannot read {path}: {exc.strerror}", "pass a readable token file") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ValidationError(field, f"{path} is larger than {MAX_TOKEN_FILE_BYTES} bytes",
                              "put only the token in the file")
    lines = raw.decode("utf-8", "replace").splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise ValidationError(field, f"{path} is empty", "write the token on its first line")
    return token


def token_from_environment(name: str = TOKEN_ENV) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None
