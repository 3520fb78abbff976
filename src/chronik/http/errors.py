"""chronik's errors as HTTP answers: `{"error": {"code", "message", "field", ...}}`.

`code` is the error's class name, as `chronik --json` prints it (ValidationError, LimitExceeded,
ConcurrencyError, NotFound, StoreBusy, ...), and `exit_code` the CLI's exit code for it, so a
script handles both interfaces alike. The status:

    422  ValidationError (and DuplicateIdError): `field` names the request field at fault
    413  LimitExceeded of a size limit (body, event, batch, depth); other limits are 422
    409  ConcurrencyError, with the stream's current version (`actual`, `current_version`)
    404  NotFound
    503  StoreBusy (with Retry-After) and StorageError (the store cannot be reached)
    500  IntegrityError (stored data is corrupt) and anything unexpected

plus the interface's own: 401 Unauthorized, 403 Forbidden / ReadOnly / BadHost / BadOrigin,
404 NoRoute, 405 MethodNotAllowed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

from chronik.errors import (
    ChronikError,
    ConcurrencyError,
    IntegrityError,
    LimitExceeded,
    NotFound,
    StorageError,
    StoreBusy,
    ValidationError,
)

log = logging.getLogger("chronik.http")

# Limits on the size of what was sent: the request is too large, not wrong.
SIZE_LIMITS = frozenset({"max_body_bytes", "max_event_bytes", "max_batch_events", "max_depth",
                         "max_body_depth"})
RETRY_AFTER_S = 1
EXIT_USAGE = 2

_encode = msgspec.json.Encoder().encode


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_encode(value), status_code=status, media_type="application/json", headers=headers)


def status_of(error: ChronikError) -> int:
    if isinstance(error, LimitExceeded):
        return 413 if error.limit_name in SIZE_LIMITS else 422
    if isinstance(error, ValidationError):
        return 422
    if isinstance(error, ConcurrencyError):
        return 409
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, StorageError):
        return 503
    return 500


def error_body(error: ChronikError) -> dict[str, Any]:
    details = error.to_dict()
    code = details.pop("error")
    exit_code = EXIT_USAGE if isinstance(error, ValidationError) else error.exit_code
    body: dict[str, Any] = {"code": code, "message": str(error), "field": getattr(error, "field", None),
                            "exit_code": exit_code}
    if isinstance(error, ConcurrencyError):
        body["current_version"] = error.actual or 0
    if isinstance(error, LimitExceeded):
        body.update(limit_name=error.limit_name, limit=error.limit, actual=error.actual)
    for key, value in details.items():
        if key not in body and key != "message":
            body[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return {"error": body}


def error_response(error: ChronikError) -> Response:
    status = status_of(error)
    if isinstance(error, IntegrityError) or status == 500:
        log.error("request failed: %s: %s", type(error).__name__, error)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(error, StoreBusy) else None
    return json_response(error_body(error), status, headers)


def http_error(status: int, code: str, message: str, field: str | None = None,
               headers: Mapping[str, str] | None = None) -> Response:
    """An error of the interface itself (auth, host, origin, routing), in the same shape."""
    return json_response({"error": {"code": code, "message": message, "field": field}}, status, headers)


def renamed(error: ValidationError, renames: Mapping[str, str]) -> ValidationError:
    """The same error naming the request's field instead of the library's: `renames` maps a
    library field (or its prefix) to the request's, e.g. "order:1.events" -> "events"."""
    for field, request_field in renames.items():
        if error.field == field or error.field.startswith((field + ".", field + "[")):
            copy = type(error).__new__(type(error))
            copy.__dict__.update(error.__dict__)
            ValidationError.__init__(copy, request_field + error.field[len(field):], error.problem, error.fix)
            return copy
    return error
