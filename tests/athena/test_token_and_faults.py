"""OAuth token sharing, the token endpoint's limit, and how the client names each injected fault."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection

from hub.athena import build_athena_client
from hub.integrations.athena.errors import (
    AthenaAmbiguousError,
    AthenaAuthError,
    AthenaError,
    AthenaPermanentError,
    AthenaTransientError,
)
from hub.integrations.athena.types import PatientWrite
from hub.models import AthenaToken, AuditEvent
from tests.conftest import Sandbox

TOKEN_ROUTE = "/oauth2/v1/token"


def token_requests(sandbox: Sandbox) -> int:
    return len(sandbox.requests(route=TOKEN_ROUTE))


@pytest.mark.django_db(transaction=True)
def test_eight_workers_with_an_expired_token_make_one_token_request(sandbox: Sandbox) -> None:
    build_athena_client().ping()
    assert token_requests(sandbox) == 1
    AthenaToken.objects.update(expires_at=time.time() - 1)  # the shared token has run out
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            client = build_athena_client()  # each worker process has its own client and memory
            barrier.wait()
            client.ping()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert token_requests(sandbox) == 2  # the first token, then exactly one refresh for all eight


@pytest.mark.django_db
def test_token_endpoint_limit_is_respected_without_a_retry_storm(sandbox: Sandbox) -> None:
    sandbox.configure(oauth={"tokens_per_minute": 1})
    # The limit is per wall-clock minute: start well inside one so the test's calls share it.
    second = dt.datetime.now(dt.UTC).second
    if second > 45:
        time.sleep(61 - second)
    build_athena_client().ping()
    AthenaToken.objects.update(expires_at=time.time() - 1)
    with pytest.raises(AthenaTransientError) as limited:
        build_athena_client().ping()
    assert limited.value.retry_after and limited.value.retry_after > 0
    for _ in range(5):  # callers keep coming; none of them may hit the token endpoint again
        client = build_athena_client()
        client.config = dataclasses.replace(client.config, max_retry_wait=0)
        with pytest.raises(AthenaTransientError):
            client.ping()
    assert token_requests(sandbox) == 2
    # The minute passes (the block the endpoint imposed lifts): the next call recovers.
    sandbox.configure(oauth={"tokens_per_minute": 100})
    AthenaToken.objects.update(blocked_until=0)
    assert build_athena_client().ping() is True
    assert token_requests(sandbox) == 3


@pytest.mark.django_db
def test_refused_credentials_are_permanent(sandbox: Sandbox, settings: Any) -> None:
    settings.ATHENA_CLIENT_SECRET = "wrong"
    with pytest.raises(AthenaAuthError):
        build_athena_client().ping()


@pytest.mark.django_db
def test_a_revoked_token_is_refreshed_once_and_the_call_goes_through(sandbox: Sandbox) -> None:
    client = build_athena_client()
    client.ping()
    sandbox.control("POST", "tokens/revoke", json={})
    assert client.ping() is True
    assert token_requests(sandbox) == 2


WRITE = {"method": "POST", "route": "/v1/{practiceid}/patients"}


def eventually(read: Any, timeout: float = 5.0) -> Any:
    """The sandbox logs a request when it finishes, which for a hang is after the client gave up."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _dob() -> dt.date:
    return dt.date(1970, 1, 2)


def create_patient(n: int) -> Any:
    return build_athena_client().create_patient(
        PatientWrite(
            first_name="Faulty", last_name=f"Writecheck{'abcdefgh'[n]}", dob=_dob(), zip_code="02110", department_id="1"
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "expected", "wrote"),
    [
        ("error_before", AthenaAmbiguousError, False),  # a 5xx to a write says nothing about the write
        ("error_after", AthenaAmbiguousError, True),
        ("hang_after", AthenaAmbiguousError, True),
        ("drop_after", AthenaAmbiguousError, True),
        ("rate_limited", AthenaTransientError, False),
        ("slow", AthenaAmbiguousError, True),
    ],
)
def test_each_fault_on_a_write_gets_the_right_outcome_and_an_audit_row(
    sandbox: Sandbox, kind: str, expected: type[AthenaError], wrote: bool
) -> None:
    sandbox.configure(faults={"rules": [{**WRITE, "kind": kind, "count": 1}]})
    with pytest.raises(expected) as raised:
        create_patient(0)
    assert type(raised.value) is expected
    log = eventually(lambda: sandbox.requests(route=WRITE["route"], method="POST"))
    assert len(log) == 1 and log[0]["fault"] == kind and bool(log[0]["wrote"]) is wrote
    rows = AuditEvent.objects.filter(system="athena", route=WRITE["route"], method="POST")
    assert rows.count() == 1 and rows.get().outcome != AuditEvent.Outcome.SUCCESS


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["error_before", "error_after", "drop_after", "rate_limited"])
def test_faults_on_reads_are_transient_and_retried(sandbox: Sandbox, kind: str) -> None:
    route = "/v1/{practiceid}/departments"
    sandbox.configure(faults={"rules": [{"method": "GET", "route": route, "kind": kind, "count": 1}]})
    departments = build_athena_client().list_departments()  # the client retries a failed read itself
    assert len(departments) == 15
    log = sandbox.requests(route=route)
    assert [entry["fault"] for entry in log] == [kind, None]
    assert AuditEvent.objects.filter(system="athena", route=route).count() == len(log) == 2


@pytest.mark.django_db
def test_a_refused_write_is_permanent_and_names_the_missing_fields(sandbox: Sandbox) -> None:
    with pytest.raises(AthenaPermanentError) as refused:
        build_athena_client().create_patient(PatientWrite(first_name="Nolast", department_id="1"))
    assert refused.value.status_code == 400
    assert set(refused.value.missing_fields) >= {"lastname", "dob"}
    assert "lastname" in str(refused.value) and "Nolast" not in str(refused.value)


@pytest.mark.django_db
def test_every_attempt_is_audited_under_random_faults(sandbox: Sandbox) -> None:
    sandbox.configure(faults={"rate": 0.4, "hang_seconds": 1.1})
    client = build_athena_client()
    for n in range(8):
        with contextlib.suppress(AthenaError):
            client.create_patient(
                PatientWrite(
                    first_name="Audit",
                    last_name=f"Countcheck{'abcdefgh'[n]}",
                    dob=_dob(),
                    zip_code="02110",
                    department_id="1",
                )
            )
        with contextlib.suppress(AthenaError):
            client.list_departments()
    log = sandbox.requests(system="athena")
    assert any(entry["fault"] for entry in log)
    assert AuditEvent.objects.filter(system="athena").count() == len(log)
