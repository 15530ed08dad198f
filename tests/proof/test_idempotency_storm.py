"""Idempotency storm: many keys, each sent by 50 concurrent identical requests, make one effect each.

Registrations, insurances and bookings are mixed across the keys. Each key's requests start
together (threads released by one barrier; on SQLite every key's at once); each key's answers
must be its first answer again (`Idempotent-Replayed`) or a 409 while that first request runs.
After the ledger drains, the sandbox's own records must hold exactly one chart, insurance or
booking per key.

`PROOF_STORM_KEYS` / `PROOF_STORM_CONCURRENCY` change the size (CI: 12 keys, 50 each); the live-stack
version is `benchmarks/idempotency_storm.py`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import defaultdict
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from hub.models import Patient, PatientInsurance
from intake.models import Submission
from sync.models import WriteIntent
from tests.api.conftest import Portal, make_portal, registration
from tests.conftest import Sandbox
from tests.factories import letters, make_department, make_practice
from tests.proof.helpers import drain_intents, open_slots

KEYS = int(os.environ.get("PROOF_STORM_KEYS", "12"))
CONCURRENCY = int(os.environ.get("PROOF_STORM_CONCURRENCY", "50"))


def storm(portal: Portal, requests: dict[str, tuple[str, dict[str, Any]]], concurrency: int) -> dict[str, list[Any]]:
    """Send every (key → path, body) `concurrency` times at once; answers grouped by key.

    Each request holds a database connection. SQLite takes every key's requests at once; on
    PostgreSQL keys go in batches that fit its connection limit (100 by default), each key's
    `concurrency` copies still released together.
    """
    answers: dict[str, list[Any]] = defaultdict(list)
    lock = threading.Lock()
    items = list(requests.items())
    per_batch = len(items) if connection.vendor == "sqlite" else max(1, 60 // concurrency)

    def send(barrier: threading.Barrier, key: str, path: str, body: dict[str, Any]) -> None:
        client = Portal(Client(), portal.client_id, portal.secret, portal.token, portal.pk)
        barrier.wait()
        try:
            response = client.post(path, body, key=key)
            with lock:
                answers[key].append(response)
        finally:
            connection.close()  # each thread's own connection

    for start in range(0, len(items), per_batch):
        batch = items[start : start + per_batch]
        barrier = threading.Barrier(len(batch) * concurrency)
        threads = [
            threading.Thread(target=send, args=(barrier, key, path, body))
            for key, (path, body) in batch
            for _ in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a request never came back"
    return answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_per_key_make_one_effect_each(sandbox: Sandbox) -> None:
    make_department(make_practice(), athena_department_id="1", name="Harbor Family Medicine")
    portal = make_portal("storm-portal", locations=["1"])
    # Patients for the insurance and booking keys, registered (and charted in athena) beforehand.
    owners = []
    for n in range(KEYS // 2):
        body = registration(last_name=f"Stormowner{letters(n)}", email=f"owner{n}@example.test")
        owners.append(portal.post("/api/v1/patients", body).json()["patient_id"])
    drain_intents()
    before = {"charts": len(sandbox.records("patients", created_via="api")["patients"])}
    slots = open_slots(sandbox, "1", KEYS, days_ahead=2)  # athena books at least 24 h ahead

    requests: dict[str, tuple[str, dict[str, Any]]] = {}
    for n in range(KEYS):
        key = f"storm-{n:03d}-{uuid.uuid4()}"
        if n % 3 == 0 or n // 2 >= len(owners):
            body = registration(last_name=f"Stormkey{letters(n)}", email=f"storm{n}@example.test")
            requests[key] = ("/api/v1/patients", body)
        elif n % 3 == 1:
            insurance = {
                "payer_name": "EXAMPLE HEALTH PLAN",
                "member_id": f"EXS{800000 + n}",
                "insurance_package_id": "1001",
            }
            requests[key] = (f"/api/v1/patients/{owners[n // 2]}/insurances", insurance)
        else:
            slot = slots[n]
            booking = {"patient_id": owners[n // 2], "location_id": "1", "slot_id": slot["appointmentid"]}
            requests[key] = ("/api/v1/appointments", {**booking, "appointment_type_id": slot["appointmenttypeid"]})
    submissions_before = Submission.objects.count()

    answers = storm(portal, requests, CONCURRENCY)

    for key, responses in answers.items():
        assert len(responses) == CONCURRENCY, f"{key}: {len(responses)} answers"
        accepted = [r for r in responses if r.status_code == 202]
        assert {r.status_code for r in responses} <= {202, 409}, (key, sorted({r.status_code for r in responses}))
        assert accepted, f"{key}: no request was accepted"
        first = accepted[0].json()
        assert all(r.json() == first for r in accepted), f"{key}: replays differ from the first answer"
        assert sum(1 for r in accepted if "Idempotent-Replayed" not in r) == 1, f"{key}: executed more than once"
    assert Submission.objects.count() - submissions_before == KEYS

    drain_intents()
    kinds = [path for path, _ in requests.values()]
    registrations = sum(1 for p in kinds if p == "/api/v1/patients")
    insurances = sum(1 for p in kinds if p.endswith("/insurances"))
    bookings = sum(1 for p in kinds if p == "/api/v1/appointments")
    charts = sandbox.records("patients", created_via="api")
    insured = sandbox.records("insurances", created_via="api")
    booked = sandbox.records("appointments", booked="true")
    assert charts["duplicates"] == [] and insured["duplicates"] == []
    assert booked["slots_booked_more_than_once"] == []
    assert len(charts["patients"]) - before["charts"] == registrations
    assert len(insured["insurances"]) == insurances
    assert len(booked["bookings"]) == bookings
    assert Patient.objects.count() == len(owners) + registrations
    assert PatientInsurance.objects.count() == insurances
    assert not WriteIntent.objects.exclude(state="succeeded").exists()
