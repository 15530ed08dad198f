"""The portal API fuzzed from its own OpenAPI schema (schemathesis, every check, a fixed seed).

The schema is read from `/api/schema/` through the hub's WSGI application in this process, and
every operation it lists is exercised with generated valid and invalid requests (examples,
coverage, fuzzing and stateful phases) by a portal client granted every scope, with a real
OAuth token from `/o/token/`. New endpoints are covered as soon as they are in the schema.

Pass: no server error and no answer that contradicts the schema. The one allowance is
`positive_data_acceptance` (schema-valid data must be accepted): the API has rules OpenAPI 3.0
cannot state per field — one of two fields required, an end after a start, dates relative to
today, athena's own refusal of ids it does not know. A rejection is excused only when it is a
problem+json 400/422 whose every error is one of the `STATED_ELSEWHERE` rules below, or a
refusal of an uploaded file whose bytes are not a readable photo (`PHOTO_REFUSALS`): the schema
can call a file only "binary". And `ensure_resource_availability` takes any 404 after a create
for a lost resource; a 404 about an object named in the body (`BODY_REFERENCE_NOT_FOUND`) is not.

CI runs a fixed budget (`PROOF_FUZZ_EXAMPLES`, default 25 per operation, seed `PROOF_FUZZ_SEED`);
the `slow` run goes deeper.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from hub.models import Appointment
from intake.api.idempotency import KEY_PATTERN
from tests.api.conftest import Portal, make_portal
from tests.conftest import Sandbox
from tests.factories import make_appointment, make_department, make_patient, make_practice

SEED = int(os.environ.get("PROOF_FUZZ_SEED", "20261124"))
CI_EXAMPLES = int(os.environ.get("PROOF_FUZZ_EXAMPLES", "25"))

KEY_COUNTER = itertools.count(1)
# Rules the schema cannot state per field, each with the message the API gives for it.
STATED_ELSEWHERE = {
    "Give a reason_id or an appointment_type_id.": "one of two optional fields is required",
    "The end is before the start.": "a range's end must follow its start",
    "Ask for at most 31 days at a time.": "a range is at most 31 days",
    "A reason other than -1 needs a provider_id.": "a field required only with another's value",
    "The date cannot be in the future.": "relative to today",
    "The date is too far in the past.": "before 1900",
    "The start is too far in the past.": "before 1900",
    "This field is required for this request.": "athena needs one of several contact fields",
    "Send at least one field to change.": "an update must change something",
    "Null characters are not allowed.": "no NUL in any text (PostgreSQL cannot store it)",
    "Text must be valid Unicode (a lone surrogate was sent).": "no lone surrogate in any text (nor can it)",
    "This field may not be blank.": "text is trimmed, so whitespace alone is blank",
    "A copay names its appointment.": "the payment's kind decides which fields it needs",
    "A copay's amount comes from athena; omit it.": "the payment's kind decides which fields it needs",
    "Required for a balance payment.": "the payment's kind decides which fields it needs",
    "Send Clover's card token, never a card number.": "a token that looks like a card number is refused unseen",
}
# Problem codes that report athena's own refusal of ids the schema cannot know.
ATHENA_REFUSALS = {"athena-rejected-search"}
# A file the schema can only call "binary" must also be a readable photo: refusals of its content.
PHOTO_REFUSALS = {
    "card-image-unsupported",
    "card-image-empty",
    "card-image-corrupt",
    "card-image-too-small",
    "card-image-too-many-pixels",
    "card-image-too-large",
}


@dataclass
class FuzzReport:
    """What the run did and what it found, grouped for a readable failure message."""

    operations: set[str] = field(default_factory=set)
    checks_run: set[str] = field(default_factory=set)
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    excused: int = 0
    errors: list[str] = field(default_factory=list)


def _problem(interaction: Any) -> dict[str, Any]:
    response = interaction.response if interaction is not None else None
    if response is None or not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return {}
    try:
        return dict(json.loads(response.content))
    except ValueError:
        return {}


# 404s about an object named in the body, not the path: the path's resource was there all along.
BODY_REFERENCE_NOT_FOUND = {"insurance-not-found"}


def stated_elsewhere(check: str, interaction: Any) -> bool:
    """A schema-valid request refused for a rule the schema cannot state (and said so clearly)."""
    problem = _problem(interaction)
    if check == "ensure_resource_availability":
        # The check reads any 404 after a create as "the created resource is gone"; a card upload
        # naming an insurance of another patient (or none) is refused for that body field alone.
        return problem.get("status") == 404 and problem.get("code") in BODY_REFERENCE_NOT_FOUND
    if check != "positive_data_acceptance":
        return False
    if problem.get("code") in PHOTO_REFUSALS and problem.get("status") in (413, 415, 422):
        return True
    if problem.get("status") not in (400, 422):
        return False
    if problem.get("code") in ATHENA_REFUSALS:
        return True
    messages = [message for messages in (problem.get("errors") or {}).values() for message in messages]
    return bool(messages) and all(message in STATED_ELSEWHERE for message in messages)


def describe(interaction: Any, label: str) -> str:
    """The request and the answer of a finding, enough to reproduce it by hand."""
    if interaction is None:
        return f"    {label}"
    request, response = interaction.request, interaction.response
    sent = (request.body or b"")[:1000]
    answer = (response.content or b"")[:500] if response is not None else b"(no response)"
    status = response.status_code if response is not None else None
    return f"    {request.method} {request.uri}\n    sent {sent!r}\n    got {status} {answer!r}"


def run_fuzz(schema: Any) -> FuzzReport:
    report = FuzzReport()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(f"{getattr(event, 'label', '')} {getattr(event, 'value', event)!r}"[:500])
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        report.requests += len(recorder.interactions)
        for case_id, checks in recorder.checks.items():
            node = recorder.cases.get(case_id)
            if node is not None:
                report.operations.add(f"{node.value.operation.method.upper()} {node.value.operation.path}")
            for check in checks:
                report.checks_run.add(check.name)
                if check.failure_info is None:
                    continue
                interaction = recorder.interactions.get(case_id)
                if stated_elsewhere(check.name, interaction):
                    report.excused += 1
                    continue
                summary = str(check.failure_info.failure).strip().splitlines()[0]
                report.failures.append(f"{check.name}: {summary}\n{describe(interaction, recorder.label)}")
    return report


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Django's handler closes the database connection around each request; a test's must stay open."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(sandbox: Sandbox, wsgi_in_test_transaction: None) -> dict[str, Any]:
    """Two clinics; a portal granted one of them with every scope; a patient with a visit today."""
    practice = make_practice()
    boston = make_department(practice, athena_department_id="1", name="Harbor Family Medicine")
    austin = make_department(practice, athena_department_id="157", name="Lone Star Clinic", timezone="America/Chicago")
    portal: Portal = make_portal("fuzz-portal", locations=["1"])
    patient = make_patient(boston)
    import datetime as dt

    from django.utils import timezone

    today = timezone.localtime(timezone.now(), boston.tzinfo).date()
    visit = make_appointment(boston, patient=patient, date=today, status=Appointment.Status.FUTURE)
    elsewhere = make_patient(austin)
    make_appointment(austin, patient=elsewhere, date=today + dt.timedelta(days=3))
    return {
        "portal": portal,
        "known": {"patient_id": [str(patient.public_id)], "appointment_id": [visit.athena_appointment_id]},
    }


def load_schema(world: dict[str, Any], *, examples: int) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "generation": {"max-examples": examples},
            # No cache of earlier runs: the same seed must give the same run on every machine.
            "cache": {"enabled": False},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=config)
    token = world["portal"].token

    @schema.auth(refresh_interval=None)
    class PortalToken:
        """The bearer token a real client-credentials grant gave the fuzzing portal (every scope)."""

        def get(self, case: Any, ctx: Any) -> str:
            return str(token)

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    known = world["known"]

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        # Random ids almost never exist; mixing in real ones reaches the code behind the lookup.
        if not path_parameters:
            return st.just(path_parameters)
        options = [path_parameters]
        options += [{**path_parameters, name: value} for name in path_parameters for value in known.get(name, [])]
        return st.sampled_from(options)

    return schema


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A valid Idempotency-Key is made unique just before sending.

    The generator repeats valid keys across different bodies, which the API rightly refuses
    (422, key reused; `test_idempotency_storm.py` covers that); the request itself is what the
    fuzzing is for. Invalid keys are left alone, so their rejection is still tested.
    """
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and KEY_PATTERN.match(key):
        case.headers["Idempotency-Key"] = f"{key[:200]}-{next(KEY_COUNTER)}"


def assert_clean(report: FuzzReport) -> None:
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, f"{len(report.failures)} findings:\n" + "\n".join(sorted(set(report.failures)))


@pytest.mark.django_db(transaction=True)
def test_every_operation_in_the_schema_survives_fuzzing(fuzz_world: dict[str, Any]) -> None:
    schema = load_schema(fuzz_world, examples=CI_EXAMPLES)
    listed = {f"{method.upper()} {path}" for path, ops in schema.raw_schema["paths"].items() for method in ops}
    report = run_fuzz(schema)

    assert_clean(report)
    assert listed <= report.operations, f"not exercised: {sorted(listed - report.operations)}"
    # The checks the issue names really ran (use_after_free needs a DELETE, which the API has not).
    assert {"not_a_server_error", "response_schema_conformance", "status_code_conformance"} <= report.checks_run
    assert {"ignored_auth", "negative_data_rejection", "positive_data_acceptance"} <= report.checks_run
    assert report.requests > 10 * len(listed)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_long_fuzzing_run_finds_nothing(fuzz_world: dict[str, Any]) -> None:
    report = run_fuzz(load_schema(fuzz_world, examples=int(os.environ.get("PROOF_FUZZ_LONG_EXAMPLES", "300"))))
    assert_clean(report)
