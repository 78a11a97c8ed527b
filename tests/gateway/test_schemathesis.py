"""Property-based fuzzing of the live OpenAPI document (schemathesis) with the bootstrap key.

Every documented operation gets a bounded number of generated requests, valid and invalid, with a
fixed seed, against a stack of its own (the bootstrap key may delete units, take all-unit
snapshots and issue event credentials: nothing of other tests' may be in reach). No response may
be a 5xx — every status is counted and none may be ≥ 500 — and every response must match its
documented status codes, content types, headers and schemas. Path parameters name a fresh unit,
so cases reach the handlers. Only the login steps under `/v1/auth/` are left to issue 5's tests:
generated failed logins from one address would lock the address out (people's routes under
`/v1/accounts` and `/v1/audit` are fuzzed: an API key must get a documented 401 there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stack.launcher import Stack
from tests.gateway.conftest import bearer
from tests.support import fast_stack, started, unique_unit

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

FUZZ_SEED = 20_261_204
EXAMPLES_PER_MODE = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 8}
EXCLUDED_PATHS = r"^/v1/auth/"
REQUEST_TIMEOUT_SECONDS = 30
SERVER_ERROR = 500
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Routes of this and recent work that must be among the fuzzed operations.
MUST_FUZZ = {
    "POST /v1/units/{unit}/event-credentials",
    "GET /v1/units/{unit}/event-credentials",
    "DELETE /v1/units/{unit}/event-credentials/{credential_id}",
    "DELETE /v1/api-keys/{key_id}",
    "DELETE /v1/snapshots/{snapshot_id}",
    "GET /v1/accounts",
    "GET /v1/audit",
}


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = fast_stack(tmp_path_factory.mktemp("fuzz-stack"))
    with started(stack):
        yield stack


def test_every_operation_with_the_bootstrap_key_answers_no_5xx_and_keeps_its_schema(
    fuzz_stack: Stack,
) -> None:
    gateway_url = fuzz_stack.gateway_url
    headers = bearer(fuzz_stack.api_key)
    unit = unique_unit("fuzz")
    httpx.put(
        f"{gateway_url}/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}, headers=headers, timeout=30.0
    ).raise_for_status()
    config = schemathesis.Config.from_dict({"parameters": {"path.unit": unit, "path.model": unit}})
    everything = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json", config=config)
    schema = everything.exclude(path_regex=EXCLUDED_PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    every_label = {result.ok().label for result in everything.get_all_operations()}  # type: ignore[union-attr]
    labels = {operation.label for operation in operations}
    assert labels == {label for label in every_label if " /v1/auth/" not in label}
    assert labels >= MUST_FUZZ, MUST_FUZZ - labels
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    for operation in operations:
        for mode, examples in EXAMPLES_PER_MODE.items():

            @seed(FUZZ_SEED)
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                response = case.call(base_url=gateway_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
                statuses[response.status_code] += 1
                if response.status_code >= SERVER_ERROR:
                    server_errors.append(f"{case.method} {case.formatted_path} → {response.status_code}")
                case.validate_response(response, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:
                continue  # an operation without inputs has no invalid request to make
            except (
                Exception,
                BaseExceptionGroup,
            ) as error:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} [{mode.value}]: {error}")
    assert server_errors == [], server_errors
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= len(operations) * min(EXAMPLES_PER_MODE.values())
