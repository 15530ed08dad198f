"""Reminders 48 h and 2 h before, per location time zone; re-checked against athena when due; quiet hours."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from hub.models import Appointment, Department
from notify.contact import quiet_until
from notify.models import MessageKind, OutboundMessage
from notify.services import appointment_messages_plan, reminders_plan
from tests.conftest import Sandbox
from tests.factories import make_appointment, make_department, make_patient, make_practice
from tests.outbound import booked_appointments, drain_messages

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def clinics(outbound: Sandbox) -> dict[str, Department]:
    practice = make_practice()
    return {
        "boston": make_department(practice, athena_department_id="1", name="Harbor Family Medicine"),
        "honolulu": make_department(
            practice, athena_department_id="236", name="Aloha Community Health", timezone="Pacific/Honolulu"
        ),
    }


def visit(department: Department, day: dt.date, at: dt.time, **fields: Any) -> Appointment:
    patient = make_patient(department, consent_to_text=True, mobile_phone=fields.pop("mobile", "5550104601"))
    return make_appointment(department, patient=patient, date=day, start_time=at, **fields)


def test_reminders_are_due_48_and_2_hours_before_in_each_location_s_own_time(clinics: dict[str, Department]) -> None:
    day = dt.date(2030, 1, 15)  # winter: Boston is UTC-5, Honolulu UTC-10 all year
    now = dt.datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
    boston = visit(clinics["boston"], day, dt.time(9, 0))
    honolulu = visit(clinics["honolulu"], day, dt.time(9, 0), mobile="5550104602")

    appointment_messages_plan(appointment=boston, confirm=False, now=now)
    appointment_messages_plan(appointment=honolulu, confirm=False, now=now)

    def due(appointment: Appointment, kind: str) -> dt.datetime:
        return OutboundMessage.objects.get(appointment=appointment, kind=kind).next_attempt_at

    assert due(boston, MessageKind.REMINDER_48H) == dt.datetime(2030, 1, 13, 14, 0, tzinfo=UTC)
    assert due(honolulu, MessageKind.REMINDER_48H) == dt.datetime(2030, 1, 13, 19, 0, tzinfo=UTC)
    assert due(boston, MessageKind.REMINDER_2H) == dt.datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    assert due(honolulu, MessageKind.REMINDER_2H) == dt.datetime(2030, 1, 15, 17, 0, tzinfo=UTC)
    # The check-in link goes on the day, three hours ahead: 06:00 local at both.
    assert due(boston, MessageKind.CHECK_IN_LINK) == dt.datetime(2030, 1, 15, 11, 0, tzinfo=UTC)
    assert due(honolulu, MessageKind.CHECK_IN_LINK) == dt.datetime(2030, 1, 15, 16, 0, tzinfo=UTC)
    # Planning again (the scheduled planner) adds nothing: one text per patient, visit and kind.
    appointment_messages_plan(appointment=boston, confirm=False, now=now)
    assert OutboundMessage.objects.filter(appointment=boston).count() == 3


def test_quiet_hours_are_each_location_s_own_night() -> None:
    moment = dt.datetime(2030, 1, 15, 16, 30, tzinfo=UTC)  # 11:30 in Boston, 06:30 in Honolulu

    assert quiet_until(ZoneInfo("America/New_York"), moment, spec="21:00-08:00") is None
    assert quiet_until(ZoneInfo("Pacific/Honolulu"), moment, spec="21:00-08:00") == dt.datetime(
        2030, 1, 15, 18, 0, tzinfo=UTC
    )
    late = dt.datetime(2030, 1, 16, 3, 0, tzinfo=UTC)  # 22:00 in Boston: quiet until 08:00 tomorrow
    assert quiet_until(ZoneInfo("America/New_York"), late, spec="21:00-08:00") == dt.datetime(
        2030, 1, 16, 13, 0, tzinfo=UTC
    )


def test_a_text_due_in_quiet_hours_waits_for_them_to_end(
    clinics: dict[str, Department], outbound: Sandbox, settings: Any
) -> None:
    local = timezone.now().astimezone(clinics["honolulu"].tzinfo)
    window = f"{(local - dt.timedelta(hours=1)):%H:%M}-{(local + dt.timedelta(hours=1)):%H:%M}"
    settings.NOTIFY_QUIET_HOURS = window  # it is night in Honolulu right now, whenever this runs
    patient = make_patient(clinics["honolulu"], consent_to_text=True, mobile_phone="5550104603")
    from notify.services import notify_needs_attention

    message = notify_needs_attention(patient=patient, reference="eligibility:1")
    drain_messages()

    assert message is not None
    message.refresh_from_db()
    assert message.state == "pending" and message.attempts == 0
    expected_end = quiet_until(clinics["honolulu"].tzinfo, timezone.now(), spec=window)
    assert expected_end is not None and abs((message.next_attempt_at - expected_end).total_seconds()) < 120
    assert outbound.requests(system="twilio") == []


def _soon_visit(clinics: dict[str, Department], row: dict[str, Any], mobile: str) -> Appointment:
    """A hub copy of a booked sandbox visit, starting in 1 h 50 min: its 2-hour reminder is due now."""
    department = clinics["boston"]
    patient = make_patient(department, athena_patient_id=row["patientid"], consent_to_text=True, mobile_phone=mobile)
    starts = (timezone.now() + dt.timedelta(minutes=110)).astimezone(department.tzinfo)
    return make_appointment(
        department,
        patient=patient,
        athena_appointment_id=row["appointmentid"],
        date=starts.date(),
        start_time=starts.time().replace(second=0, microsecond=0),
    )


def test_a_reminder_asks_athena_when_due_and_skips_a_visit_cancelled_since(
    clinics: dict[str, Department], outbound: Sandbox
) -> None:
    kept_row, cancelled_row = booked_appointments(outbound)[:2]
    kept = _soon_visit(clinics, kept_row, "5550104604")
    cancelled = _soon_visit(clinics, cancelled_row, "5550104605")
    reminders_plan()
    # Cancelled at the front desk after the reminder was planned; the hub has not heard yet.
    outbound.edit({"type": "appointment.cancel", "appointmentid": cancelled_row["appointmentid"]})

    drain_messages()

    skipped = OutboundMessage.objects.get(appointment=cancelled, kind=MessageKind.REMINDER_2H)
    assert (skipped.state, skipped.skip_reason) == ("skipped", "appointment cancelled in athena")
    assert Appointment.objects.get(pk=cancelled.pk).status == "f"  # the hub's own row still said booked
    assert OutboundMessage.objects.get(appointment=kept, kind=MessageKind.REMINDER_2H).state == "succeeded"
    sent_to = {m["to"] for m in outbound.records("messages", direction="outbound-api")["messages"]}
    assert sent_to == {"+15550104604"}


def test_a_visit_cancelled_in_the_hub_gets_no_reminder_and_no_athena_call(
    clinics: dict[str, Department], outbound: Sandbox
) -> None:
    row = booked_appointments(outbound)[0]
    appointment = _soon_visit(clinics, row, "5550104606")
    reminders_plan()
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.CANCELLED)

    drain_messages()

    message = OutboundMessage.objects.get(appointment=appointment, kind=MessageKind.REMINDER_2H)
    assert (message.state, message.skip_reason) == ("skipped", "appointment cancelled")
    assert outbound.requests(system="twilio") == [] and outbound.requests(system="athena") == []


def test_a_moved_visit_moves_its_reminder(clinics: dict[str, Department], outbound: Sandbox) -> None:
    row = booked_appointments(outbound)[0]
    appointment = _soon_visit(clinics, row, "5550104607")
    reminders_plan()
    later = (timezone.now() + dt.timedelta(days=1)).astimezone(clinics["boston"].tzinfo)
    Appointment.objects.filter(pk=appointment.pk).update(
        date=later.date(), start_time=later.time().replace(microsecond=0)
    )

    drain_messages()

    message = OutboundMessage.objects.get(appointment=appointment, kind=MessageKind.REMINDER_2H)
    appointment.refresh_from_db()
    assert message.state == "pending" and message.next_attempt_at == appointment.starts_at - dt.timedelta(hours=2)
    assert outbound.requests(system="twilio") == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("connections_closed_after_each_use")
def test_the_reminder_plan_runs_outside_a_transaction_as_the_scheduler_runs_it(clinics: dict[str, Department]) -> None:
    # Each planned text queues a send; outside a transaction django-q2's broker closes the
    # database connection as it does, which must not cut the plan short.
    # Mid-afternoon in the clinic's time, so no text waits for the end of quiet hours.
    local = clinics["boston"].tzinfo
    yesterday = timezone.localtime(timezone.now(), local).date() - dt.timedelta(days=1)
    now = dt.datetime.combine(yesterday, dt.time(15, 0), tzinfo=local)
    soon = now + dt.timedelta(minutes=90)
    visits = [visit(clinics["boston"], soon.date(), soon.time(), mobile=f"555010470{n}") for n in range(3)]
    assert reminders_plan(now=now) > 0
    planned = OutboundMessage.objects.filter(next_attempt_at__lte=now).values_list("appointment_id", flat=True)
    assert set(planned) == {v.pk for v in visits}  # a text due now for each, none cut off
