"""The event catalog of agent sessions: 32 types in the plan's 7 categories, their fields and
field types, the plan's aliases, and how instances and their streams are named.

The 29 types of the real system (REFERENCE.md section 2) keep their names. Three are added:
`prd_updated` (planning: the plan's own resume sentence reports it), `command_logged` (the
plan's optional high-volume command log; off unless a catalog file enables it) and
`instance_closed` (an instance's state can be closed, and something must say so). The six types
the plan left uncategorised go where their meaning puts them: `user_message`,
`assistant_start`, `tool_use`, `tool_result` and `error` are work state (what happened in the
conversation), `spawn_decision` is planning (deciding whether to hand work to a sub-agent).

Required fields are the ones without which the event says nothing: the epic an epic or test
event is about, the commit, the PR, the service, the checkpoint. Field types follow the plan's
example payloads (epic_started: epic_id, feature_name, estimated_hours, spawned_by,
acceptance_criteria_count; ...). Every event also accepts the lineage fields `parent_uuid`,
`root_uuid` and `depth`, and any further fields (kept as given).
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from chronik.errors import ValidationError

STREAM_CATEGORY = "instance"  # instance ID is the stream instance:ID
CATEGORIES = ("instance", "epic", "testing", "git", "deployment", "work_state", "planning")
Kind = Literal["string", "integer", "number", "boolean", "object", "array", "string[]"]
KINDS: tuple[str, ...] = ("string", "integer", "number", "boolean", "object", "array", "string[]")

# `<project>-PS-<6 hex>` when generated; a given id may be any name of this shape.
INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
INSTANCE_ID_FIX = "use 1-100 letters, digits, _ . -, starting with a letter or digit (e.g. odin-PS-8f4a2b)"
PROJECT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PROJECT_FIX = "use 1-64 letters, digits, _ . -, starting with a letter or digit (e.g. odin)"
GENERATED_ID = re.compile(r"(?P<project>.+)-PS-[0-9a-f]{6}")

# Types only chronik's own operations record (register, the stale sweep, close): an emit of one
# is refused and names the operation. instance_heartbeat is emitted through heartbeat().
RECORDED_BY = {"instance_registered": "register", "instance_stale": "the stale sweep",
               "instance_closed": "close"}


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One field of an event's data: its name, JSON kind and bounds."""

    name: str
    kind: Kind
    choices: tuple[str, ...] | None = None  # for strings: the allowed values
    minimum: float | None = None  # for numbers and integers
    maximum: float | None = None


class EventType(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    category: str
    description: str
    required: tuple[FieldSpec, ...] = ()
    optional: tuple[FieldSpec, ...] = ()
    aliases: tuple[str, ...] = ()  # other names of the type, recorded under `type`
    field_aliases: dict[str, str] = {}  # other names of fields, recorded under the field's name
    enabled: bool = True

    @property
    def required_fields(self) -> list[str]:
        return [field.name for field in self.required]

    @property
    def optional_fields(self) -> list[str]:
        return [field.name for field in self.optional]


def _s(name: str, *choices: str) -> FieldSpec:
    return FieldSpec(name=name, kind="string", choices=choices or None)


def _i(name: str, minimum: float | None = 0, maximum: float | None = None) -> FieldSpec:
    return FieldSpec(name=name, kind="integer", minimum=minimum, maximum=maximum)


def _n(name: str, minimum: float | None = 0, maximum: float | None = None) -> FieldSpec:
    return FieldSpec(name=name, kind="number", minimum=minimum, maximum=maximum)


def _b(name: str) -> FieldSpec:
    return FieldSpec(name=name, kind="boolean")


def _list(name: str) -> FieldSpec:
    return FieldSpec(name=name, kind="string[]")


def _obj(name: str) -> FieldSpec:
    return FieldSpec(name=name, kind="object")


LINEAGE_FIELDS = (_s("parent_uuid"), _s("root_uuid"), _i("depth", 0, 10_000))
LINEAGE_NAMES = tuple(field.name for field in LINEAGE_FIELDS)
EPIC = _s("epic_id")
TEST_TYPE = _s("test_type", "unit", "integration", "e2e")
PERCENT = {"minimum": 0, "maximum": 100}


def _type(type_: str, category: str, description: str, required: tuple[FieldSpec, ...] = (),
          optional: tuple[FieldSpec, ...] = (), **extra: object) -> EventType:
    return EventType(type=type_, category=category, description=description, required=required,
                     optional=optional, **extra)  # type: ignore[arg-type]


BUILT_IN: tuple[EventType, ...] = (
    # instance: recorded by chronik's operations
    _type("instance_registered", "instance", "An agent instance started and registered (recorded by register).",
          (_s("project"),), (_s("host"), _i("pid"), _s("model"), _s("working_directory"), _s("agent"))),
    _type("instance_heartbeat", "instance",
          "The instance is alive (recorded by heartbeat; beats within the heartbeat interval of a "
          "recorded one are coalesced).",
          (), (_n("context_percent", **PERCENT), _s("current_epic"), _s("status"))),
    _type("instance_stale", "instance",
          "No event or heartbeat for longer than the stale timeout (recorded once per silence by the sweep).",
          (_n("silent_seconds"), _s("last_activity"), _n("timeout_seconds")), ()),
    _type("instance_closed", "instance", "The instance ended its session (recorded by close).", (),
          (_s("reason"),)),
    # epic
    _type("epic_started", "epic", "Work on an epic began.", (EPIC, _s("feature_name")),
          (_n("estimated_hours"), _s("spawned_by"), _i("acceptance_criteria_count"))),
    _type("epic_completed", "epic", "An epic was finished.", (EPIC,),
          (_n("duration_hours"), _i("files_changed"), _i("tests_passed"), _s("pr_url"),
           _n("validation_confidence", 0, 1), _list("issues_encountered"))),
    _type("epic_failed", "epic", "An epic was given up or could not be finished.", (EPIC,),
          (_s("error"), _n("duration_hours"), _s("failed_step"), _b("retryable"))),
    # testing
    _type("test_started", "testing", "A test run began.", (EPIC,), (TEST_TYPE, _i("test_count"))),
    _type("test_passed", "testing", "A test run finished and passed (failed_count may report a partial pass).",
          (EPIC, _i("passed_count")),
          (TEST_TYPE, _i("failed_count"), _n("coverage_percent", **PERCENT), _n("duration_seconds")),
          field_aliases={"test_count": "passed_count", "coverage": "coverage_percent"}),
    _type("test_failed", "testing", "A test run finished with failures.", (EPIC, _i("failed_count")),
          (TEST_TYPE, _i("passed_count"), _list("failing_tests"), _s("error"), _n("duration_seconds"))),
    _type("validation_passed", "testing", "An epic passed validation against its acceptance criteria.", (EPIC,),
          (_n("validation_confidence", 0, 1), _i("checks_passed"), _s("validator"))),
    _type("validation_failed", "testing", "An epic failed validation.", (EPIC,),
          (_n("validation_confidence", 0, 1), _list("failed_checks"), _s("reason"))),
    # git
    _type("commit_created", "git", "A commit was made.", (_s("commit_sha"),),
          (_s("message"), _s("branch"), _i("files_changed"), EPIC)),
    _type("pr_created", "git", "A pull request was opened.", (_s("pr_url"),),
          (_i("pr_number", 1), _s("title"), _s("branch"), EPIC)),
    _type("pr_merged", "git", "A pull request was merged.", (_s("pr_url"),),
          (_i("pr_number", 1), _s("merge_commit"), EPIC)),
    # deployment
    _type("deployment_started", "deployment", "A deployment began.", (_s("service"),),
          (_i("port", 1, 65535), _s("environment"), _s("git_commit"), _s("docker_image"), EPIC)),
    _type("deployment_completed", "deployment", "A deployment finished, with the service's health.",
          (_s("service"), _s("health_status")),
          (_i("port", 1, 65535), _n("response_time_ms"), _s("git_commit"), _s("docker_image"), EPIC),
          aliases=("deployment_done",)),
    _type("deployment_failed", "deployment", "A deployment failed.", (_s("service"),),
          (_s("error"), _i("port", 1, 65535), _s("git_commit"), _s("docker_image"), EPIC)),
    # work_state
    _type("context_window_updated", "work_state", "How full the agent's context window is.",
          (_n("percent_used", **PERCENT),), (_i("tokens_used"), _i("tokens_max"))),
    _type("checkpoint_created", "work_state", "The agent saved a checkpoint to resume from.",
          (_s("checkpoint_id"),),
          (EPIC, _s("summary"), _list("files"), _obj("state"), _n("context_percent", **PERCENT))),
    _type("checkpoint_loaded", "work_state", "The agent resumed from a checkpoint.", (_s("checkpoint_id"),),
          (_s("from_instance_id"), EPIC)),
    _type("user_message", "work_state", "A person wrote to the agent.", (_s("content"),), (_s("session_id"),)),
    _type("assistant_start", "work_state", "The agent began a turn.", (),
          (_s("model"), _i("turn"), _s("session_id"))),
    _type("tool_use", "work_state", "The agent called a tool.", (_s("tool_name"),),
          (_s("tool_use_id"), _obj("input"), _s("task_id"))),
    _type("tool_result", "work_state", "A tool call returned (with task_id: a spawned task finished).",
          (_s("tool_name"),),
          (_s("tool_use_id"), _b("is_error"), _s("output"), _n("duration_ms"), _s("task_id"))),
    _type("error", "work_state", "Something went wrong while working.", (_s("message"),),
          (_s("error_type"), EPIC, _s("tool_name"), _b("recoverable"), _s("task_id"))),
    _type("command_logged", "work_state",
          "A command the agent ran (high volume; off unless a catalog file enables it).", (_s("command"),),
          (_i("exit_code", None), _n("duration_ms"), _s("cwd")), enabled=False),
    # planning
    _type("epic_planned", "planning", "An epic was planned.", (EPIC,),
          (_s("feature_name"), _n("estimated_hours"), _i("acceptance_criteria_count"), _s("priority"),
           _list("depends_on"))),
    _type("feature_requested", "planning", "Someone asked for a feature.", (_s("feature_name"),),
          (_s("description"), _s("requested_by"), _s("priority"))),
    _type("task_spawned", "planning",
          "Work was handed to a sub-agent (open until a tool_result or error with its task_id, or its epic ends).",
          (_s("task_id"),), (EPIC, _s("description"), _s("agent_type"), _s("model"))),
    _type("spawn_decision", "planning", "The agent decided whether to hand work to a sub-agent.",
          (_s("decision"),), (_s("task_id"), _s("reason"), _s("agent_type"), _s("model"), EPIC)),
    _type("prd_updated", "planning", "The product requirements document was updated.", (),
          (EPIC, _s("prd_version"), _s("summary"), _list("sections"))),
)


def instance_stream(instance_id: str) -> str:
    return f"{STREAM_CATEGORY}:{instance_id}"


def check_instance_id(value: object, field: str = "instance_id") -> str:
    if not isinstance(value, str) or not INSTANCE_ID_PATTERN.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
        raise ValidationError(field, f"{shown[:120]} is not an instance id", INSTANCE_ID_FIX)
    return value


def check_project(value: object, field: str = "project") -> str:
    if not isinstance(value, str) or not PROJECT_PATTERN.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
        raise ValidationError(field, f"{shown[:120]} is not a project name", PROJECT_FIX)
    return value


def project_of(instance_id: str) -> str | None:
    """The project a generated id names (`odin` of `odin-PS-8f4a2b`), else None."""
    match = GENERATED_ID.fullmatch(instance_id)
    return match.group("project") if match else None
