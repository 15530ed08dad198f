"""Fault injection: each kind, where the write happens relative to the failure, and reproducibility."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from sandbox.server import start_in_thread
from tests.sandbox.conftest import Athena, Control

PATIENT = {
    "firstname": "Robin",
    "lastname": "Faultline",
    "dob": "09/09/1979",
    "departmentid": "1",
    "mobilephone": "6175550123",
}
ROUTE = "/v1/{practiceid}/patients"


def rule(kind: str, **extra: Any) -> dict[str, Any]:
    return {"faults": {"rules": [{"method": "POST", "route": ROUTE, "kind": kind, "count": 1, **extra}]}}


def robins(control: Control) -> list[dict[str, Any]]:
    return [
        item for item in control.records("patients", created_via="api")["patients"] if item["lastname"] == "Faultline"
    ]


def test_error_before_answers_500_and_writes_nothing(athena: Athena, control: Control) -> None:
    control.configure(**rule("error_before"))

    response = athena.post("/patients", PATIENT)

    assert response.status_code == 500
    assert robins(control) == []
    [logged] = control.requests(route=ROUTE, method="POST")
    assert logged["fault"] == "error_before" and logged["wrote"] is False


def test_error_after_answers_500_but_the_write_committed(athena: Athena, control: Control) -> None:
    control.configure(**rule("error_after"))

    failed = athena.post("/patients", PATIENT)
    retried = athena.post("/patients", PATIENT)

    assert failed.status_code == 500
    assert len(robins(control)) == 1
    # athena's silent match turns the retry into the same patient, not a duplicate.
    assert retried.status_code == 200
    assert retried.json()[0]["patientid"] == robins(control)[0]["patientid"]
    logged = control.requests(route=ROUTE, method="POST")
    assert [(item["status"], item["handler_status"], item["fault"], item["wrote"]) for item in logged] == [
        (500, 200, "error_after", True),
        (200, 200, None, False),
    ]


def test_hang_after_times_the_client_out_after_the_write(athena: Athena, control: Control) -> None:
    control.configure(**rule("hang_after", hang_seconds=1.5))

    with pytest.raises(requests.Timeout):
        athena.post("/patients", PATIENT, timeout=0.5)

    assert len(robins(control)) == 1
    assert control.requests(route=ROUTE)[0]["fault"] == "hang_after"


def test_drop_after_resets_the_connection_after_the_write(athena: Athena, control: Control) -> None:
    control.configure(**rule("drop_after"))

    with pytest.raises(requests.ConnectionError):
        athena.post("/patients", PATIENT)

    assert len(robins(control)) == 1
    [logged] = control.requests(route=ROUTE)
    assert logged["fault"] == "drop_after"
    assert logged["status"] is None and logged["handler_status"] == 200
    assert logged["patientid"] == robins(control)[0]["patientid"]
    # The server keeps serving afterwards.
    assert athena.get("/ping").status_code == 200


def test_rate_limited_answers_429_with_retry_after_and_writes_nothing(athena: Athena, control: Control) -> None:
    control.configure(faults={**rule("rate_limited")["faults"], "retry_after_seconds": 3})

    response = athena.post("/patients", PATIENT)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert robins(control) == []


def test_slow_delays_then_answers_normally(athena: Athena, control: Control) -> None:
    control.configure(**rule("slow", slow_seconds=0.4))

    started = time.perf_counter()
    response = athena.post("/patients", PATIENT)
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.4
    assert len(robins(control)) == 1


def test_rule_count_limits_how_often_it_fires(athena: Athena, control: Control) -> None:
    control.configure(
        faults={"rules": [{"method": "GET", "route": "/v1/{practiceid}/ping", "kind": "error_before", "count": 2}]}
    )

    statuses = [athena.get("/ping").status_code for _ in range(4)]

    assert statuses == [500, 500, 200, 200]


def test_faults_never_touch_the_control_surface(athena: Athena, control: Control) -> None:
    control.configure(
        faults={"rate": 1.0, "kinds": {"error_before": 1}, "rules": [{"route": "/_sandbox/*", "kind": "error_before"}]}
    )

    assert requests.get(f"{athena.base_url}/_sandbox/stats", timeout=5).status_code == 200
    assert athena.get("/ping").status_code == 500


def test_global_rate_uses_the_kind_weights(athena: Athena, control: Control) -> None:
    control.configure(faults={"rate": 0.5, "kinds": {"error_before": 1, "rate_limited": 1}})

    statuses = [athena.get("/ping").status_code for _ in range(60)]

    assert 15 <= statuses.count(200) <= 45
    assert statuses.count(500) > 5 and statuses.count(429) > 5


def _fault_sequence(seed: int) -> list[str | None]:
    running = start_in_thread(
        seed=seed,
        throttle={"enabled": False},
        faults={"rate": 0.3, "kinds": {"error_before": 1, "error_after": 1, "rate_limited": 1}},
    )
    try:
        client = Athena(running.url)
        for index in range(30):
            client.get("/ping")
            client.post("/patients", {**PATIENT, "firstname": f"Robin{index}"})
        log = requests.get(f"{running.url}/_sandbox/requests", params={"system": "athena"}, timeout=5).json()
        return [item["fault"] for item in log["requests"] if item["route"] != "/oauth2/v1/token"]
    finally:
        running.stop()


def test_same_seed_and_requests_give_the_same_faults() -> None:
    first, second, other = _fault_sequence(7), _fault_sequence(7), _fault_sequence(8)

    assert first == second
    assert any(first)
    assert first != other
