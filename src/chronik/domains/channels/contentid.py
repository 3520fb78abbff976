"""Content-addressed event ids, byte for byte as the real project (evmts/channels) derives them:

    id = "0x" + keccak256(b"ev1|" + event_name + b"|" + canonical_json(payload))

Keccak-256 is the original Keccak padding (Ethereum's), not FIPS-202 SHA3-256
(`hashlib.sha3_256` gives a different digest); pycryptodome computes it.

`canonical_json` follows the real project's `canonicalizeJson` (src/event_store/id.zig), which
is what its ids are computed over, rather than a general JSON canonicalisation:
- object keys sorted by their UTF-8 bytes, no whitespace;
- strings as raw UTF-8 (non-ASCII is NOT escaped: "é" is the bytes C3 A9), with only `"`, `\\`,
  newline, carriage return and tab escaped (as \\" \\\\ \\n \\r \\t); any other character is
  written as it is, and object keys are written without escaping, as the real code does;
- integers in decimal (any size), booleans, null; a non-integer number with six decimals
  (the real code's `{d:.6}`), which no schema field uses.
The golden vectors (shared/testdata/channels/golden) pin the result; ids are lowercase hex.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from Crypto.Hash import keccak

from chronik.errors import ValidationError

ID_PREFIX = b"ev1|"
ID_SEPARATOR = b"|"
# The real code escapes exactly these characters in strings.
_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
MAX_DEPTH = 64
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def canonical_json(payload: dict[str, Any]) -> bytes:
    """The payload's canonical bytes (module docstring)."""
    if _flat(payload):
        try:
            encoded: bytes = _encode_sorted(payload)
        except (TypeError, OverflowError, UnicodeEncodeError, msgspec.EncodeError):
            pass
        else:
            # msgspec writes keys sorted, no whitespace, raw UTF-8: the real code's bytes, as
            # long as nothing needed escaping (escapes beyond the real code's five differ).
            if b"\\" not in encoded:
                return encoded
    return _canonical_json_slowly(payload)


def _flat(payload: Any) -> bool:
    """The schemas' shapes: values that are strings, integers, booleans, null or string lists."""
    if type(payload) is not dict:
        return False
    for value in payload.values():
        kind = type(value)
        if kind is list:
            if not all(type(item) is str for item in value):
                return False
        elif kind is not str and kind is not int and kind is not bool and value is not None:
            return False
    return True


def _canonical_json_slowly(payload: dict[str, Any]) -> bytes:
    parts: list[str] = []
    _write(payload, parts, 1)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("payload", "contains a string that is not valid Unicode (lone surrogate)",
                              "remove or replace the invalid characters") from None


def _write(value: Any, parts: list[str], depth: int) -> None:
    kind = type(value)
    if kind is str:
        parts.append('"' + value.translate(_ESCAPES) + '"')
    elif kind is bool:
        parts.append("true" if value else "false")
    elif kind is int:
        parts.append(str(value))
    elif value is None:
        parts.append("null")
    elif kind is dict:
        if depth > MAX_DEPTH:
            raise ValidationError("payload", f"is nested deeper than {MAX_DEPTH} levels", "flatten it")
        parts.append("{")
        for index, key in enumerate(sorted(value, key=_key_bytes)):
            if index:
                parts.append(",")
            parts.append(f'"{key}":')
            _write(value[key], parts, depth + 1)
        parts.append("}")
    elif kind is list:
        if depth > MAX_DEPTH:
            raise ValidationError("payload", f"is nested deeper than {MAX_DEPTH} levels", "flatten it")
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts, depth + 1)
        parts.append("]")
    elif kind is float:
        if not math.isfinite(value):
            raise ValidationError("payload", f"{value!r} is not a JSON number", "use a finite number")
        parts.append(f"{value:.6f}")
    else:
        raise ValidationError("payload", f"holds a {kind.__name__}, which is not JSON",
                              "use objects, arrays, strings, numbers, booleans and null")


def _key_bytes(key: Any) -> bytes:
    if type(key) is not str:
        raise ValidationError("payload", f"has a key {key!r} that is not a string", "use string keys")
    return key.encode("utf-8", "surrogatepass")


def event_id(event_name: str, payload: dict[str, Any]) -> str:
    """The event's content id: "0x" + 64 lowercase hex digits."""
    return id_of_bytes(event_name, canonical_json(payload))


def id_of_bytes(event_name: str, canonical: bytes) -> str:
    message = ID_PREFIX + event_name.encode("utf-8") + ID_SEPARATOR + canonical
    return "0x" + keccak.new(data=message, digest_bits=256).hexdigest()
