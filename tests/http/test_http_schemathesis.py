"""Schemathesis against /openapi.json of a real `chronik serve`: generated requests (valid and
invalid, bounded examples per operation) never get a 5xx, and every response matches the
document (status documented, content type, body schema). The endless live stream is left out
(tests/http/test_http_live.py covers it)."""

from __future__ import annotations

import os
import random

import pytest
import schemathesis
from http_server import Server
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("schemathesis")
    server = Server(f"sqlite:///{folder / 'ledger.db'}", "--reducer", "http_reducers:Tally").wait_ready()
    with server.client() as client:  # some data, so reads and replays have something to return
        for stream in ("order:1", "order:2", "extension:python"):
            client.post(f"/v1/streams/{stream}/events", json={"events": [{"type": "created", "data": {"amount": 1}}]})
    yield server
    server.stop()


def operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path != "/v1/subscribe":
            yield operation


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_openapi_document(api_server, mode):
    run_seed = int(os.environ.get("CHRONIK_TEST_SEED") or random.randrange(2**32))
    print(f"hypothesis seed: {run_seed} (CHRONIK_TEST_SEED={run_seed} replays it)")
    schema = schemathesis.openapi.from_url(api_server.base_url + "/openapi.json")
    tested = []
    for operation in operations(schema):

        @seed(run_seed)
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_to_the_document(case):
            case.call_and_validate(base_url=api_server.base_url, checks=CHECKS)

        try:
            keeps_to_the_document()
        except Unsatisfiable:
            # Nothing to make invalid: an operation that takes no input has no negative case.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tested.append(operation.label)
    assert len(tested) >= (13 if mode is GenerationMode.POSITIVE else 8), tested
