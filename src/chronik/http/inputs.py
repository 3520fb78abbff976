"""Request input, checked before anything is parsed or written.

Bodies: the declared Content-Length is checked against `max_body_bytes` before a byte is read,
and the read stops as soon as the body passes it (a chunked body has no length to trust); the
nesting depth is counted on the raw bytes before the JSON parser sees them, so no input can make
the parser recurse deeply or build a huge tree. Then the JSON is parsed by chronik's own strict
parser (`codec.parse_json_text`: UTF-8, no duplicate keys, no NaN), the one the CLI uses, and its
shape is checked against a Struct whose field names are the body's.

Query parameters are text; they become library values here, each error naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from chronik import codec
from chronik.errors import LimitExceeded, ValidationError
from chronik.model import Expect, Expectation

T = TypeVar("T")

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_MSGSPEC_PATH = re.compile(r" - at `\$(.*)`$")
EXPECT_WORDS = {member.value: member for member in Expect}
TRUE_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
MAX_QUERY_VALUES = 100


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValidationError("Content-Length", f"{declared!r} is not a length", "send a valid request")
        if int(declared) > max_bytes:
            raise LimitExceeded("body", "max_body_bytes", max_bytes, int(declared),
                                "send fewer or smaller events per request")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise LimitExceeded("body", "max_body_bytes", max_bytes, size,
                                "send fewer or smaller events per request")
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of objects and arrays in JSON text (strings skipped), without parsing."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_body(raw: bytes, shape: type[T], max_depth: int) -> T:
    """The JSON body as a `shape` Struct; errors name the body field (`events[0].type`)."""
    if not raw.strip():
        raise ValidationError("body", "is empty", "send a JSON object")
    depth = json_depth(raw)
    if depth > max_depth:
        raise LimitExceeded("body", "max_body_depth", max_depth, depth, "flatten the event data")
    value = codec.parse_json_text(raw, "body", max_depth + 1)
    if not isinstance(value, dict):
        raise ValidationError("body", "must be a JSON object", "send a JSON object")
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _MSGSPEC_PATH.search(text)
        field = found.group(1).lstrip(".") if found else "body"
        problem = _MSGSPEC_PATH.sub("", text)
        raise ValidationError(field or "body", problem, "see the request schema in /openapi.json") from None


def expectation(value: Any, field: str = "expect") -> Expectation:
    """"any" | "no-stream" | "exists" | a version (0 = no stream), from JSON or a query."""
    if isinstance(value, bool):
        raise ValidationError(field, f"{value!r} is not an expectation", "use any, no-stream, exists or a version")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in EXPECT_WORDS:
            return EXPECT_WORDS[word]
        if word.isascii() and word.isdigit():
            return int(word)
    raise ValidationError(field, f"{value!r} is not an expectation", "use any, no-stream, exists or a version")


def query_int(query: Mapping[str, str], name: str, default: int | None = None,
              minimum: int = 0) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) < minimum:
        raise ValidationError(name, f"{text!r} is not a whole number >= {minimum}", f"pass {name}=N")
    return int(text)


def query_bool(query: Mapping[str, str], name: str) -> bool:
    text = query.get(name, "false").strip().lower()
    if text not in TRUE_WORDS:
        raise ValidationError(name, f"{text!r} is not true or false", f"pass {name}=true or {name}=false")
    return TRUE_WORDS[text]


def query_list(request: Request, name: str) -> list[str] | None:
    """A list parameter, repeated (`types=a&types=b`) or comma-separated (`types=a,b`)."""
    values = [part for value in request.query_params.getlist(name) for part in value.split(",") if part]
    if len(values) > MAX_QUERY_VALUES:
        raise LimitExceeded(name, "max_filter_values", MAX_QUERY_VALUES, len(values), "ask for fewer values")
    return values or None


def query_text(query: Mapping[str, str], name: str) -> str | None:
    text = query.get(name)
    return text if text else None
