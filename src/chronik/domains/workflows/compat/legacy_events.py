"""Events in the original's format, and their HMAC-SHA256 signatures.

An original event is a JSON object with `event_id, workflow_id, action, step_id?, data,
timestamp, event_version, signature?, parent_workflow_id?`. Its `signature` is the hex
HMAC-SHA256, under the operator's legacy key, of exactly
`json.dumps(event_without_signature, sort_keys=True, default=str)` (default separators), so it
is checked over the object as read, before anything is converted. Timestamps were naive: they
are read as UTC, and the original text is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chronik.domains.workflows.events import ACTIONS, OFFSET_TIME
from chronik.errors import NotFound, ValidationError

LEGACY_KEY_ENV = "CHRONIK_WORKFLOW_LEGACY_KEY"
# Event ids are derived from the original's, so importing twice finds the same ids.
ID_NAMESPACE = uuid.UUID("8f0d5a3e-6c1b-4f7e-9a52-0c3d2b1e4a77")
REQUIRED = ("event_id", "workflow_id", "action", "timestamp")


def legacy_key(key_file: str | None = None, environ: dict[str, str] | None = None) -> bytes | None:
    """The operator's legacy signing key: from `key_file` (one line), else $CHRONIK_WORKFLOW_LEGACY_KEY."""
    if key_file is not None:
        try:
            return Path(key_file).read_text().strip().encode()
        except FileNotFoundError:
            raise NotFound(f"legacy key file {key_file} does not exist") from None
    value = (os.environ if environ is None else environ).get(LEGACY_KEY_ENV)
    return value.encode() if value else None


def signature_of(event: dict[str, Any], key: bytes) -> str:
    body = {name: value for name, value in event.items() if name != "signature"}
    return hmac.new(key, json.dumps(body, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()


def signature_status(event: dict[str, Any], key: bytes | None) -> str:
    """"verified", "unsigned", "mismatch", or "no key" (signed, but no key to check it with)."""
    given = event.get("signature")
    if not given:
        return "unsigned"
    if key is None:
        return "no key"
    return "verified" if hmac.compare_digest(str(given), signature_of(event, key)) else "mismatch"


def read_events(path: str) -> list[dict[str, Any]]:
    """The original events of a JSON file (a list) or a JSON Lines file."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    try:
        parsed = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ValidationError("source", f"{path} is not JSON or JSON Lines: {exc}",
                              "give the original's events as a JSON list or one object per line") from None
    if not all(isinstance(item, dict) for item in parsed):
        raise ValidationError("source", f"{path} holds something other than event objects")
    return parsed


def problem_of(event: dict[str, Any]) -> str | None:
    missing = [name for name in REQUIRED if not event.get(name)]
    if missing:
        return "missing " + ", ".join(missing)
    if event["action"] not in ACTIONS:
        return f"unknown action {event['action']!r}"
    return None


def occurred_at(timestamp: Any) -> str:
    """The legacy time with an offset: naive times (the original's) are UTC."""
    text = str(timestamp).strip()
    if OFFSET_TIME.fullmatch(text):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("timestamp", f"{text[:60]!r} is not an ISO time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def event_id(legacy_id: Any) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"code-chef:{legacy_id}"))


def fields_of(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The action's fields taken from the event (top-level step_id, parent and data), and what
    is left over (kept in meta, never dropped)."""
    action = event["action"]
    known = set(ACTIONS[action].__struct_fields__)
    data = dict(event.get("data") or {})
    if event.get("step_id") is not None:
        data.setdefault("gate_id" if "gate_id" in known else "step_id", event["step_id"])
    if event.get("parent_workflow_id") is not None and action == "start_workflow":
        data.setdefault("parent_workflow_id", event["parent_workflow_id"])
    if action == "start_workflow" and isinstance(data.get("steps"), list) and "definition" not in data:
        steps = data.pop("steps")
        data["definition"] = {"name": data.get("name") or event["workflow_id"],
                              "steps": [{"id": str(step)} for step in steps]}
    fields = {name: value for name, value in data.items() if name in known}
    extra = {name: value for name, value in data.items() if name not in known}
    fields["occurred_at"] = occurred_at(event["timestamp"])
    return fields, extra
