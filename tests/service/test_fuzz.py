"""The REST API fuzzed from its own OpenAPI document with schemathesis: requests generated from
each operation's parameters and body, valid ones and (where there is something to get wrong)
invalid ones, sent to the real Flask app through its WSGI interface. Every answer must be a
documented status with a body matching the document, never a 5xx; invalid requests must be
refused with a 4xx.

The app is a fresh one without a job worker, so no model runs: uploads are only queued (or,
since random bytes are never a video, refused). Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from service_support import make_app

from deepfake_detector.config import ServiceSettings
from deepfake_detector.service.openapi import openapi_document

DOCUMENT = openapi_document()
OPERATIONS = [
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
]
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 25}
LOOPBACK_CLIENT = {"REMOTE_ADDR": "127.0.0.1"}
"""The WSGI client's requests come from this address (as from a browser on this machine)."""
UPLOAD_ANSWERS = ["2xx", "400", "401", "403", "409", "413", "415", "422", "429"]
"""A schema-valid upload is any bytes, but only a video is accepted: refusing an empty file
(400), other content (415) or too much of it (413, 422) is the right answer to a valid request."""
CONFIG = {
    "operations": [
        {
            "include-path": "/api/v1/analyses",
            "include-method": "POST",
            "checks": {"positive_data_acceptance": {"expected-statuses": UPLOAD_ANSWERS}},
        }
    ]
}


def _has_inputs(method: str, path: str) -> bool:
    """Whether an operation takes anything a request could get wrong (else there is no invalid
    request to generate)."""
    item = DOCUMENT["paths"][path]
    operation = item[method.lower()]
    return bool(item.get("parameters") or operation.get("parameters") or "requestBody" in operation)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The document as the running app serves it, bound to that app."""
    # No rate limits: the fuzzer sends far more requests a minute than a person would.
    unlimited = {f.name: "" for f in fields(ServiceSettings) if f.name.startswith("rate_limit")}
    app = make_app(tmp_path_factory.mktemp("fuzz") / "data", **unlimited)
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _has_inputs(method, path)
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_generated_requests_get_documented_answers(
    api: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,  # no .hypothesis folder; a failure prints its seed to reproduce it
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        # Default checks: no 5xx, status and headers documented, body matching the schema,
        # Content-Type as documented, valid data accepted, invalid data refused.
        response = case.call_and_validate(environ_base=LOOPBACK_CLIENT)
        statuses.append(response.status_code)

    started = time.monotonic()
    run()
    assert statuses, "no request was generated"
    assert all(s < 500 for s in statuses)
    assert time.monotonic() - started < 60, "fuzzing one operation should take seconds"


def test_every_operation_is_fuzzed() -> None:
    """A new operation in the document is fuzzed without touching this file."""
    fuzzed = {(m, p) for m, p, _ in (c.values for c in CASES)}
    assert fuzzed == set(OPERATIONS)
    assert len(OPERATIONS) >= 9


def test_an_undocumented_answer_is_caught(tmp_path: Path) -> None:
    """The judge works: an app answering a status its document does not list fails the run."""
    app = make_app(tmp_path / "data")
    document = openapi_document()
    del document["paths"]["/api/v1/analyses/{id}"]["get"]["responses"]["404"]
    schema = schemathesis.openapi.from_dict(document)
    operation = schema["/api/v1/analyses/{id}"]["GET"]
    case = operation.Case(path_parameters={"id": "0" * 32})
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(app=app, environ_base=LOOPBACK_CLIENT)
