"""The workflow event catalog: the 15 actions of the original (code-chef, REFERENCE.md section 3),
their fields as msgspec Structs, the workflow definition, and the stream naming.

Each action's data is one Struct (`ACTIONS[action]`): it validates input, names the fields errors
refer to (`data.step_id`, ...), and refuses fields it does not know. Every action also accepts
`occurred_at`, the time the thing happened in the domain, as RFC 3339 *with* an offset: live
events leave it out (the ledger's own `time` is the moment), backfilled ones carry the legacy
time. The original stored naive times and compared ISO strings as text; here a time without an
offset is refused and times are compared as instants.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from chronik.errors import ValidationError

STREAM_CATEGORY = "workflow"
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
ID_FIX = "use 1-100 letters, digits, _ . -, starting with a letter or digit (e.g. wf-2026-001)"
OFFSET_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
STATUSES = ("initialized", "running", "completed", "failed", "rejected", "paused", "cancelled")
TERMINAL = frozenset({"completed", "rejected", "cancelled"})
DEFAULT_MAX_RETRIES = 3

StepId = str
ChildOutcome = Literal["completed", "failed", "rejected", "cancelled"]


class StepDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One step of a definition; a `gate` step is done by approve_gate, not complete_step."""

    id: StepId
    gate: bool = False
    description: str | None = None
    run: str | None = None  # what the runner executes: a shell command, or python:module:function
    kind: str | None = None  # the runner's circuit breaker group (default: the step id)


class Definition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What a workflow is made of: its steps in order. It completes when the last is done."""

    name: str
    steps: list[StepDefinition] = []


class _Data(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    occurred_at: str | None = None


class StartWorkflow(_Data, frozen=True, kw_only=True):
    definition: Definition | None = None
    name: str | None = None
    parent_workflow_id: str | None = None
    started_by: str | None = None


class CompleteStep(_Data, frozen=True, kw_only=True):
    step_id: StepId
    result: Any = None
    next_step: StepId | None = None
    final: bool = False  # this step ends the workflow (the only way without a definition)


class FailStep(_Data, frozen=True, kw_only=True):
    step_id: StepId
    error: str
    retryable: bool = True


class ApproveGate(_Data, frozen=True, kw_only=True):
    gate_id: StepId
    approver: str
    role: str | None = None
    comment: str | None = None


class RejectGate(_Data, frozen=True, kw_only=True):
    gate_id: StepId
    approver: str
    role: str | None = None
    reason: str | None = None


class PauseWorkflow(_Data, frozen=True, kw_only=True):
    reason: str | None = None
    paused_by: str | None = None


class ResumeWorkflow(_Data, frozen=True, kw_only=True):
    resumed_by: str | None = None


class RollbackStep(_Data, frozen=True, kw_only=True):
    step_id: StepId
    reason: str


class Cleanup(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What cancelling did: counts, and the children cancelled with it (depth first)."""

    steps_interrupted: int = 0
    gates_released: int = 0
    children_cancelled: int = 0
    children: list[str] = []


class CancelWorkflow(_Data, frozen=True, kw_only=True):
    reason: str
    cancelled_by: str
    cleanup: Cleanup = Cleanup()
    cascaded_from: str | None = None  # the ancestor whose cancellation reached this workflow


class RetryStep(_Data, frozen=True, kw_only=True):
    step_id: StepId
    retry_attempt: int
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_delay: float = 0.0


class StartChildWorkflow(_Data, frozen=True, kw_only=True):
    child_workflow_id: str
    name: str | None = None


class ChildWorkflowComplete(_Data, frozen=True, kw_only=True):
    child_workflow_id: str
    status: ChildOutcome
    result: Any = None


class CreateSnapshot(_Data, frozen=True, kw_only=True):
    reason: str | None = None


class Annotate(_Data, frozen=True, kw_only=True):
    text: str
    author: str | None = None
    step_id: StepId | None = None


class CaptureInsight(_Data, frozen=True, kw_only=True):
    insight: str
    category: str | None = None
    step_id: StepId | None = None
    confidence: float | None = None


ACTIONS: dict[str, type[_Data]] = {
    "start_workflow": StartWorkflow, "complete_step": CompleteStep, "fail_step": FailStep,
    "approve_gate": ApproveGate, "reject_gate": RejectGate, "pause_workflow": PauseWorkflow,
    "resume_workflow": ResumeWorkflow, "rollback_step": RollbackStep, "cancel_workflow": CancelWorkflow,
    "retry_step": RetryStep, "start_child_workflow": StartChildWorkflow,
    "child_workflow_complete": ChildWorkflowComplete, "create_snapshot": CreateSnapshot,
    "annotate": Annotate, "capture_insight": CaptureInsight,
}

_ERROR_PATH = re.compile(r"at `\$\.?([^`]*)`|missing required field `([^`]*)`")


def stream_of(workflow_id: str) -> str:
    return f"{STREAM_CATEGORY}:{workflow_id}"


def check_workflow_id(value: object, field: str = "workflow_id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        shown = repr(value)[:120] if isinstance(value, str) else f"a {type(value).__name__}"
        raise ValidationError(field, f"{shown} is not a workflow id", ID_FIX)
    return value


def check_offset_time(value: object, field: str) -> str:
    """`value` when it is RFC 3339 with an offset (Z or +hh:mm); a naive time is refused."""
    if not isinstance(value, str) or not OFFSET_TIME.fullmatch(value.strip()):
        raise ValidationError(field, f"{str(value)[:60]!r} is not a time with an offset",
                              "use RFC 3339 with Z or +hh:mm, e.g. 2026-11-22T01:15:09+02:00")
    return value.strip()


def check_data(action: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked against the action's fields, as it will be recorded (defaults left out)."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise ValidationError("action", f"{action!r} is not a workflow action", "use one of " + ", ".join(ACTIONS))
    try:
        checked = msgspec.convert(data, type=spec, strict=True)
    except msgspec.ValidationError as exc:
        found = _ERROR_PATH.search(str(exc))
        field = (found.group(1) or found.group(2)) if found else "data"
        field = field or "data"
        raise ValidationError(field, str(exc).split(" - at ")[0], f"see the fields of {action}") from None
    for name in ("step_id", "gate_id", "next_step", "child_workflow_id", "parent_workflow_id"):
        value = getattr(checked, name, None)
        if value is not None:
            check_workflow_id(value, f"{name}")
    if checked.occurred_at is not None:
        check_offset_time(checked.occurred_at, "occurred_at")
    if isinstance(checked, RetryStep):
        if checked.max_retries < 0:
            raise ValidationError("max_retries", "must be 0 or more")
        if checked.retry_attempt < 1:
            raise ValidationError("retry_attempt", "must be 1 or more", "the first retry is attempt 1")
        if checked.backoff_delay < 0:
            raise ValidationError("backoff_delay", "must be 0 or more seconds")
    if isinstance(checked, StartWorkflow) and checked.definition is not None:
        check_definition(checked.definition, "definition")
    encoded: dict[str, Any] = msgspec.to_builtins(checked)
    return encoded


def check_definition(definition: Definition, field: str = "definition") -> Definition:
    seen: set[str] = set()
    for index, step in enumerate(definition.steps):
        check_workflow_id(step.id, f"{field}.steps[{index}].id")
        if step.id in seen:
            raise ValidationError(f"{field}.steps[{index}].id", f"step {step.id!r} is listed twice",
                                  "give every step its own id")
        seen.add(step.id)
    return definition
