"""The extension lifecycle: 6 states, 12 event types, their fields and the catalog of types.

The payload schemas are msgspec Structs that mirror Sindri v3's serde types field for field and
in declaration order (REFERENCE.md section 1), so one definition validates the event of a Sindri
line, encodes one byte-compatible with Sindri's (compat/), and names the `data` of a chronik
event of the same type. `type` is the tag and comes first; `log_file` is omitted when None.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from chronik.errors import ValidationError

STATES = ("installed", "failed", "outdated", "installing", "removing", "removed")
State = Literal["installed", "failed", "outdated", "installing", "removing", "removed"]
# Shown by status only, never recorded: a started operation whose runner process is gone.
INTERRUPTED = "interrupted"

U32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
U64 = Annotated[int, msgspec.Meta(ge=0)]  # msgspec itself refuses integers beyond 2**64 - 1

STREAM_CATEGORY = "extension"  # an extension NAME is the stream extension:NAME
CLI_VERSION = "3.1.4"  # what a Sindri v3 CLI writes; chronik writes the same so both tools agree


class _Event(msgspec.Struct, tag_field="type", omit_defaults=True, frozen=True):
    extension_name: str


class InstallStarted(_Event, tag="install_started", frozen=True):
    version: str
    source: str
    install_method: str


class InstallCompleted(_Event, tag="install_completed", frozen=True):
    version: str
    duration_secs: U64
    components_installed: list[str]
    log_file: str | None = None


class InstallFailed(_Event, tag="install_failed", frozen=True):
    version: str
    error_message: str
    retry_count: U32
    duration_secs: U64
    log_file: str | None = None


class UpgradeStarted(_Event, tag="upgrade_started", frozen=True):
    from_version: str
    to_version: str


class UpgradeCompleted(_Event, tag="upgrade_completed", frozen=True):
    from_version: str
    to_version: str
    duration_secs: U64
    log_file: str | None = None


class UpgradeFailed(_Event, tag="upgrade_failed", frozen=True):
    from_version: str
    to_version: str
    error_message: str
    duration_secs: U64
    log_file: str | None = None


class RemoveStarted(_Event, tag="remove_started", frozen=True):
    version: str


class RemoveCompleted(_Event, tag="remove_completed", frozen=True):
    version: str
    duration_secs: U64
    log_file: str | None = None


class RemoveFailed(_Event, tag="remove_failed", frozen=True):
    version: str
    error_message: str
    duration_secs: U64
    log_file: str | None = None


class OutdatedDetected(_Event, tag="outdated_detected", frozen=True):
    current_version: str
    latest_version: str


class ValidationSucceeded(_Event, tag="validation_succeeded", frozen=True):
    version: str
    validation_type: str


class ValidationFailed(_Event, tag="validation_failed", frozen=True):
    version: str
    validation_type: str
    error_message: str


ExtensionEvent = (InstallStarted | InstallCompleted | InstallFailed | UpgradeStarted | UpgradeCompleted
                  | UpgradeFailed | RemoveStarted | RemoveCompleted | RemoveFailed | OutdatedDetected
                  | ValidationSucceeded | ValidationFailed)

EVENT_CLASSES: dict[str, type[_Event]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (InstallStarted, InstallCompleted, InstallFailed, UpgradeStarted, UpgradeCompleted,
                UpgradeFailed, RemoveStarted, RemoveCompleted, RemoveFailed, OutdatedDetected,
                ValidationSucceeded, ValidationFailed)
}
EVENT_TYPES = tuple(EVENT_CLASSES)
# `chronik ext log -t KIND`: the real tool's families of event types.
KINDS = {
    "install": ("install_started", "install_completed", "install_failed"),
    "upgrade": ("upgrade_started", "upgrade_completed", "upgrade_failed"),
    "remove": ("remove_started", "remove_completed", "remove_failed"),
    "validation": ("validation_succeeded", "validation_failed"),
    "outdated": ("outdated_detected",),
}
# `-l LEVEL`: failures are errors, an available update is a warning, the rest is information.
LEVELS = {"error": frozenset(t for t in EVENT_TYPES if t.endswith("_failed")),
          "warn": frozenset({"outdated_detected"})}
LEVELS["info"] = frozenset(EVENT_TYPES) - LEVELS["error"] - LEVELS["warn"]


def stream_of(name: str) -> str:
    return f"{STREAM_CATEGORY}:{name}"


def default_state_after(event_type: str) -> str | None:
    """The state an event leads to when a line does not say (events not written by this pack)."""
    if event_type == "remove_started":
        return "removing"
    if event_type.endswith("_started"):
        return "installing"
    if event_type in ("install_completed", "upgrade_completed", "validation_succeeded"):
        return "installed"
    if event_type == "remove_completed":
        return "removed"
    if event_type.endswith("_failed"):
        return "failed"
    return "outdated" if event_type == "outdated_detected" else None


def level_of(event_type: str) -> str:
    for level, types in LEVELS.items():
        if event_type in types:
            return level
    return "info"


def version_of(event_type: str, fields: dict[str, Any] | Any) -> str | None:
    """The version Sindri's status shows for an event: `to_version` for upgrades, the available
    `latest_version` for outdated_detected, else `version`."""
    get = fields.get if isinstance(fields, dict) else (lambda key: getattr(fields, key, None))
    if event_type.startswith("upgrade_"):
        return get("to_version")
    if event_type == "outdated_detected":
        return get("latest_version")
    return get("version")


def type_of(event: _Event) -> str:
    return str(event.__struct_config__.tag)


def event_fields(event: _Event) -> dict[str, Any]:
    """The payload without its tag, in declaration order, `log_file` omitted when None."""
    fields = msgspec.structs.asdict(event)
    if fields.get("log_file", "") is None:
        del fields["log_file"]
    return fields


def event_from_fields(event_type: str, fields: dict[str, Any]) -> ExtensionEvent:
    """Build (and validate) a payload from a dict; extra keys are ignored, as serde does.
    ValidationError (field `type` or `event`) when it is not one of the 12 types or lacks a field."""
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise ValidationError("type", f"{event_type!r} is not an extension event type",
                              f"use one of {', '.join(EVENT_TYPES)}")
    try:
        return msgspec.convert(fields, cls)  # type: ignore[return-value]  # cls is one of the union
    except msgspec.ValidationError as exc:
        raise ValidationError("event", f"{event_type}: {exc}", "give every field of the type") from None
