"""Shared by the notify and payments tests: the sandbox wired as Twilio and Clover, and worker drains."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from hub.athena import build_athena_client
from notify.services import messages_run_due
from notify.twilio import twilio_client
from payments.clover import clover_client
from payments.services import operations_run_due
from sync.services import intents_run_due
from tests.conftest import Sandbox


@pytest.fixture
def outbound(sandbox: Sandbox, settings: Any) -> Sandbox:
    """The sandbox as athena, Twilio and Clover, with short timeouts and no waits (tests run at any hour)."""
    settings.TWILIO_BASE_URL = f"{sandbox.url}/_twilio"
    settings.TWILIO_CONNECT_TIMEOUT = 1.0
    settings.TWILIO_READ_TIMEOUT = 1.0
    settings.TWILIO_STATUS_CALLBACK_URL = ""  # no live hub to call back in most tests
    settings.NOTIFY_QUIET_HOURS = ""
    settings.NOTIFY_AMBIGUOUS_SETTLE_SECONDS = 0
    settings.HUB_AMBIGUOUS_SETTLE_SECONDS = 0.05  # athena's ledger: the sandbox writes before it hangs
    settings.CLOVER_BASE_URL = f"{sandbox.url}/_clover"
    settings.CLOVER_CONNECT_TIMEOUT = 1.0
    settings.CLOVER_READ_TIMEOUT = 1.0
    return sandbox


def drain_intents() -> int:
    return intents_run_due(client=build_athena_client(), budget_seconds=20)


def drain_messages() -> int:
    return messages_run_due(client=twilio_client(), athena=build_athena_client(), budget_seconds=20)


def drain_payments() -> int:
    return operations_run_due(clover=clover_client(), budget_seconds=20)


def wait_for(condition: Callable[[], Any], timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def fault(method: str, route: str, kind: str, count: int = 1) -> dict[str, Any]:
    return {"faults": {"rules": [{"method": method, "route": route, "kind": kind, "count": count}]}}


TWILIO_MESSAGES = "/_twilio/2010-04-01/Accounts/{account_sid}/Messages.json"
CLOVER_CHARGES = "/_clover/v1/charges"


def open_slot(department_id: str = "1", skip: int = 0) -> Any:
    """An open slot in athena (the sandbox), at least a day ahead."""
    import datetime as dt

    client = build_athena_client()
    today = dt.date.today()  # noqa: DTZ011 - the sandbox schedules in local dates
    for kind in client.list_appointment_types():
        slots = client.list_open_slots(
            department_id=department_id,
            start_date=today,
            end_date=today + dt.timedelta(days=20),
            appointment_type_id=kind.appointment_type_id,
        )
        if len(slots) > skip:
            return slots[skip]
    raise AssertionError("no open slot")


def booked_appointments(sandbox: Sandbox, department_id: str = "1") -> list[dict[str, Any]]:
    """The sandbox's booked visits at a location (seeded front-desk bookings), soonest last."""
    rows = sandbox.records("appointments", status="f", departmentid=department_id)["appointments"]
    return [row for row in rows if row["patientid"]]
