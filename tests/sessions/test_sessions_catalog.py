"""The event catalog: the real system's 29 types (and the plan's additions) in the plan's 7
categories, fields and kinds from the plan's payloads, the list_event_types shape, and a user's
own types from a JSON or TOML file."""

from __future__ import annotations

import json

import pytest

from chronik.domains.sessions import service
from chronik.domains.sessions.catalog_file import load_catalog
from chronik.domains.sessions.checks import DEFAULT_CATALOG
from chronik.domains.sessions.events import CATEGORIES
from chronik.domains.sessions.settings import Settings
from chronik.errors import ValidationError

REAL_SYSTEM_TYPES = ["instance_registered", "instance_heartbeat", "instance_stale", "epic_started", "epic_completed", "epic_failed", "test_started", "test_passed", "test_failed", "validation_passed", "validation_failed", "commit_created", "pr_created", "pr_merged", "deployment_started", "deployment_completed", "deployment_failed", "context_window_updated", "checkpoint_created", "checkpoint_loaded", "epic_planned", "feature_requested", "task_spawned", "user_message", "assistant_start", "spawn_decision", "tool_use", "tool_result", "error"]

PLAN_CATEGORIES = {
    "instance": {"instance_registered", "instance_heartbeat", "instance_stale", "instance_closed"},
    "epic": {"epic_started", "epic_completed", "epic_failed"},
    "testing": {"test_started", "test_passed", "test_failed", "validation_passed", "validation_failed"},
    "git": {"commit_created", "pr_created", "pr_merged"},
    "deployment": {"deployment_started", "deployment_completed", "deployment_failed"},
    "work_state": {"context_window_updated", "checkpoint_created", "checkpoint_loaded", "user_message",
                   "assistant_start", "tool_use", "tool_result", "error", "command_logged"},
    "planning": {"epic_planned", "feature_requested", "task_spawned", "spawn_decision", "prd_updated"},
}


def test_the_29_types_of_the_real_system_are_there_and_three_more():
    assert len(REAL_SYSTEM_TYPES) == 29
    known = set(DEFAULT_CATALOG.types)
    assert set(REAL_SYSTEM_TYPES) <= known
    assert known - set(REAL_SYSTEM_TYPES) == {"prd_updated", "command_logged", "instance_closed"}


def test_every_type_is_in_its_plan_category():
    assert set(CATEGORIES) == set(PLAN_CATEGORIES)
    for category, names in PLAN_CATEGORIES.items():
        assert {spec.type for spec in DEFAULT_CATALOG.types.values() if spec.category == category} == names


def test_fields_follow_the_plans_example_payloads():
    def kinds(name):
        spec = DEFAULT_CATALOG.types[name]
        return {field.name: field.kind for field in (*spec.required, *spec.optional)}

    assert kinds("epic_started") == {"epic_id": "string", "feature_name": "string", "estimated_hours": "number",
                                     "spawned_by": "string", "acceptance_criteria_count": "integer"}
    assert kinds("epic_completed") == {"epic_id": "string", "duration_hours": "number", "files_changed": "integer",
                                       "tests_passed": "integer", "pr_url": "string",
                                       "validation_confidence": "number", "issues_encountered": "string[]"}
    assert kinds("test_passed") == {"epic_id": "string", "test_type": "string", "passed_count": "integer",
                                    "failed_count": "integer", "coverage_percent": "number",
                                    "duration_seconds": "number"}
    assert DEFAULT_CATALOG.types["test_passed"].optional[0].choices == ("unit", "integration", "e2e")
    deployment = kinds("deployment_completed")
    assert {name: deployment[name] for name in ("service", "port", "health_status", "response_time_ms",
                                                 "git_commit", "docker_image")} == {
        "service": "string", "port": "integer", "health_status": "string", "response_time_ms": "number",
        "git_commit": "string", "docker_image": "string"}
    assert DEFAULT_CATALOG.types["deployment_completed"].aliases == ("deployment_done",)


def test_list_event_types_has_the_real_systems_shape():
    listing = service.event_types()
    assert len(listing) == 32
    for item in listing:
        assert list(item) == ["type", "description", "category", "required_fields", "optional_fields"]
        assert item["category"] in CATEGORIES and item["description"]
    epic = next(item for item in listing if item["type"] == "epic_started")
    assert epic["required_fields"] == ["epic_id", "feature_name"]
    assert epic["optional_fields"] == ["estimated_hours", "spawned_by", "acceptance_criteria_count"]


def test_command_logged_exists_and_is_off_by_default():
    assert DEFAULT_CATALOG.types["command_logged"].enabled is False
    with pytest.raises(ValidationError) as caught:
        DEFAULT_CATALOG.resolve("command_logged")
    assert caught.value.field == "event_type" and "enable" in caught.value.fix


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_user_catalog_file_adds_types_and_switches_command_logged_on(tmp_path, suffix):
    content = {"enable": ["command_logged"],
               "types": {"lint_run": {"category": "testing", "description": "A linter ran.",
                                      "required": {"epic_id": "string", "errors": "integer"},
                                      "optional": {"tool": {"kind": "string", "choices": ["ruff", "eslint"]}},
                                      "aliases": ["lint_done"]}}}
    path = tmp_path / f"catalog{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(content))
    else:
        path.write_text('enable = ["command_logged"]\n[types.lint_run]\ncategory = "testing"\n'
                        'description = "A linter ran."\naliases = ["lint_done"]\n'
                        'required = { epic_id = "string", errors = "integer" }\n'
                        'optional = { tool = { kind = "string", choices = ["ruff", "eslint"] } }\n')
    catalog = load_catalog(path)
    assert catalog.types["command_logged"].enabled
    checked = catalog.check("lint_done", {"epic_id": "e1", "errors": 0, "tool": "ruff"})
    assert checked.type == "lint_run"
    with pytest.raises(ValidationError) as caught:
        catalog.check("lint_run", {"epic_id": "e1", "errors": "none"})
    assert caught.value.field == "event_data.errors"
    with pytest.raises(ValidationError) as caught:
        catalog.check("lint_run", {"epic_id": "e1", "errors": 1, "tool": "pylint"})
    assert caught.value.field == "event_data.tool"
    listed = service.event_types(Settings(catalog_path=str(path)))
    assert {"type": "lint_run", "description": "A linter ran.", "category": "testing",
            "required_fields": ["epic_id", "errors"], "optional_fields": ["tool"]} in listed


@pytest.mark.parametrize("content, where", [
    ({"types": {"epic_started": {"category": "epic", "description": "x"}}}, "types.epic_started"),
    ({"types": {"x_run": {"category": "nope", "description": "x"}}}, "types.x_run.category"),
    ({"types": {"x_run": {"category": "epic", "description": "x", "required": {"a": "int"}}}},
     "types.x_run.required.a"),
    ({"enable": ["not_a_type"]}, "enable"),
    ({"types": {"x_run": {"category": "epic", "description": "x", "aliases": ["deployment_done"]}}},
     "types.x_run.aliases"),
    ({"surprise": 1}, "unknown keys"),
])
def test_a_bad_catalog_file_is_refused_saying_where(tmp_path, content, where):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValidationError) as caught:
        load_catalog(path)
    assert caught.value.field == "catalog" and where in caught.value.problem


def test_a_catalog_file_that_is_not_toml_is_refused(tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ValidationError) as caught:
        load_catalog(path)
    assert caught.value.field == "catalog" and "not valid TOML" in caught.value.problem
