"""Services of the notify app: scheduling patient texts, sending them exactly once, opt-outs, callbacks.

A text is an `OutboundMessage` row created in the business transaction (booking settled, reminder
planned, needs-attention raised), unique on (kind, patient, appointment or reference). A worker
claims it when due and decides again, at that moment, whether it may still go: consent, a usable
number, no STOP on that number, the appointment still booked (asked of athena itself), not too
late, not in the location's quiet hours. Twilio's create is not idempotent, so an unknown outcome
is never resent blindly: the message is looked for in Twilio by the reference code in its body
(or settled by its own status callback) first. No phone number or body is stored or logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from hub import context
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import AthenaNotFoundError, AthenaTransientError
from hub.integrations.twilio.client import TwilioClient, TwilioMessage
from hub.integrations.twilio.errors import (
    OPTED_OUT_CODE,
    TwilioAmbiguousError,
    TwilioOptedOutError,
    TwilioPermanentError,
    TwilioTransientError,
)
from hub.models import Appointment, Patient
from hub.queue import nudge, rows_for_enqueueing
from notify.contact import phone_hash, quiet_until, to_e164
from notify.models import DeliveryReport, InboundSms, MessageKind, OutboundMessage, SmsOptOut
from notify.wording import render
from sync.models import WriteIntent
from sync.outbound import (
    EffectState,
    backoff_delay,
    effect_claim,
    effect_error_values,
    effect_retry,
    effect_settle,
    effect_transition,
)

logger = logging.getLogger(__name__)

State = EffectState
Kind = MessageKind
MARKER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# A message planned a little late (the planner runs every few minutes) is still worth sending.
PLANNING_GRACE = dt.timedelta(minutes=20)
# After this, a message about a visit is pointless (the visit is too close or over).
EXPIRY_BEFORE_START: dict[str, dt.timedelta] = {
    Kind.BOOKING_CONFIRMATION: dt.timedelta(0),
    Kind.REMINDER_48H: dt.timedelta(hours=12),
    Kind.REMINDER_2H: dt.timedelta(minutes=30),
    Kind.CHECK_IN_LINK: dt.timedelta(0),
}
REMINDER_OFFSETS: dict[str, dt.timedelta] = {
    Kind.REMINDER_48H: dt.timedelta(hours=48),
    Kind.REMINDER_2H: dt.timedelta(hours=2),
}
CHECK_IN_LINK_BEFORE = dt.timedelta(hours=3)
# Kinds whose appointment status is read back from athena when they are due.
ATHENA_CHECKED = {Kind.REMINDER_48H, Kind.REMINDER_2H, Kind.CHECK_IN_LINK}
DELIVERY_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 4, "failed": 4}
STOP_WORDS = {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}


def lease_seconds() -> float:
    return float(getattr(settings, "HUB_INTENT_LEASE_SECONDS", 60))


def worker_name() -> str:
    from sync.services import worker_name as ledger_worker_name

    return ledger_worker_name()


# --- timing ---------------------------------------------------------------------------------------


def nominal_due(kind: str, starts_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When a message about a visit starting at `starts_at` is meant to go (may lie in the past)."""
    if kind in REMINDER_OFFSETS:
        return starts_at - REMINDER_OFFSETS[kind]
    if kind == Kind.CHECK_IN_LINK:
        local_midnight = starts_at.replace(hour=0, minute=0, second=0, microsecond=0)
        return max(local_midnight, starts_at - CHECK_IN_LINK_BEFORE, now)
    return now


def expires_at(kind: str, starts_at: dt.datetime) -> dt.datetime | None:
    before = EXPIRY_BEFORE_START.get(kind)
    return None if before is None else starts_at - before


def _planned_due(kind: str, starts_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The due time of a new message about this visit, or None when it is not worth creating now."""
    if starts_at <= now:
        return None
    due = nominal_due(kind, starts_at, now)
    if kind in REMINDER_OFFSETS and due < now - PLANNING_GRACE:
        return None  # booked too late for this reminder: the confirmation (or the next reminder) covers it
    expiry = expires_at(kind, starts_at)
    if expiry is not None and max(due, now) >= expiry:
        return None
    return max(due, now)


def _natural_key(kind: str, patient_id: int, appointment_id: int | None, reference: str) -> str:
    subject = f"appointment:{appointment_id}" if appointment_id is not None else f"ref:{reference}"
    return f"sms:{kind}:{patient_id}:{subject}"[:200]


def _new_marker() -> str:
    return "".join(secrets.choice(MARKER_ALPHABET) for _ in range(6))


# --- scheduling -----------------------------------------------------------------------------------


@transaction.atomic
def message_schedule(
    *,
    patient: Patient,
    kind: str,
    appointment: Appointment | None = None,
    reference: str = "",
    now: dt.datetime | None = None,
) -> tuple[OutboundMessage | None, bool]:
    """Create the outbound text for (kind, patient, appointment or reference), or return the existing one.

    None when a text about this visit is not worth creating any more (too close to it).
    """
    now = now or timezone.now()
    starts_at = appointment.starts_at if appointment is not None else None
    due = _planned_due(kind, starts_at, now) if starts_at is not None else now
    key = _natural_key(kind, patient.pk, appointment.pk if appointment else None, reference)
    existing = OutboundMessage.objects.filter(natural_key=key).first()
    if existing is not None:
        return existing, False
    if due is None:
        return None, False
    message, created = OutboundMessage.objects.get_or_create(
        natural_key=key,
        defaults={
            "patient": patient,
            "department_id": appointment.department_id if appointment else patient.department_id,
            "appointment": appointment,
            "kind": kind,
            "reference": reference[:80],
            "marker": _new_marker(),
            "planned_for": starts_at,
            "next_attempt_at": due,
        },
    )
    if created:
        message.events.create(from_state="", to_state=message.state, note="created")
        if due <= now:
            nudge("notify.tasks.send_due_messages")
    return message, created


def appointment_messages_plan(
    *, appointment: Appointment, confirm: bool, now: dt.datetime | None = None
) -> list[OutboundMessage]:
    """The texts about one booked visit: a confirmation (portal bookings), reminders, the check-in link."""
    if appointment.patient is None:
        return []
    kinds = [Kind.BOOKING_CONFIRMATION] if confirm else []
    kinds += [Kind.REMINDER_48H, Kind.REMINDER_2H, Kind.CHECK_IN_LINK]
    planned = []
    for kind in kinds:
        message, _ = message_schedule(patient=appointment.patient, kind=kind, appointment=appointment, now=now)
        if message is not None:
            planned.append(message)
    return planned


def booking_intent_settled(intent_id: int) -> None:
    """Ledger hook: a booking (or reschedule) that reached athena gets its confirmation and reminders."""
    intent = WriteIntent.objects.get(pk=intent_id)
    operations = (WriteIntent.Operation.BOOK_APPOINTMENT, WriteIntent.Operation.RESCHEDULE_APPOINTMENT)
    if intent.state != WriteIntent.State.SUCCEEDED or intent.operation not in operations:
        return
    athena_id = str(intent.result.get("appointmentid") or "")
    appointment = (
        Appointment.objects.select_related("department", "patient")
        .filter(practice_id=intent.practice_id, athena_appointment_id=athena_id, patient_id=intent.patient_id)
        .first()
    )
    if appointment is None:
        # The hub has no row for the slot (athena was down when it was booked): reminders come
        # from the planner once the appointment syncs in; the confirmation cannot name a time.
        logger.info("booking intent %s settled without a hub appointment row; no confirmation", intent_id)
        return
    with transaction.atomic():  # part of the settling transaction when called from the ledger
        appointment_messages_plan(appointment=appointment, confirm=True)


def reminders_plan(*, now: dt.datetime | None = None, horizon: dt.timedelta = dt.timedelta(hours=50)) -> int:
    """Plan reminders and check-in links for every booked visit starting soon (desk bookings included)."""
    now = now or timezone.now()
    window = (now - dt.timedelta(days=1)).date(), (now + horizon + dt.timedelta(days=1)).date()
    appointments = Appointment.objects.filter(
        status=Appointment.Status.FUTURE, patient__isnull=False, date__range=window
    ).select_related("department", "patient")
    created = 0
    for appointment in rows_for_enqueueing(appointments):
        if now < appointment.starts_at <= now + horizon:
            before = OutboundMessage.objects.filter(appointment=appointment).count()
            appointment_messages_plan(appointment=appointment, confirm=False, now=now)
            created += OutboundMessage.objects.filter(appointment=appointment).count() - before
    return created


def notify_needs_attention(
    *, patient: Patient, reference: str, appointment: Appointment | None = None
) -> OutboundMessage | None:
    """Ask a patient (one text per `reference`) to look at their portal: OCR or eligibility needs them.

    The text never says what is wrong (no insurance detail); the portal shows it after sign-in.
    `reference` names the cause, e.g. "eligibility:<check id>" or "ocr-review:<id>".
    """
    if not reference:
        raise ValueError("a needs-attention message needs a reference (what it is about)")
    message, _ = message_schedule(patient=patient, kind=Kind.NEEDS_ATTENTION, appointment=None, reference=reference)
    return message


# --- opt-outs ---------------------------------------------------------------------------------------


def is_opted_out(number_hash: str) -> bool:
    return SmsOptOut.objects.filter(phone_hash=number_hash, is_active=True).exists()


@transaction.atomic
def opt_out_record(*, number_hash: str, source: str, now: dt.datetime | None = None) -> SmsOptOut:
    """The number said STOP (or Twilio refused it): no later text goes to it until it says START."""
    now = now or timezone.now()
    opt_out, created = SmsOptOut.objects.select_for_update().get_or_create(
        phone_hash=number_hash, defaults={"source": source, "opted_out_at": now, "is_active": True}
    )
    if not created and not opt_out.is_active:
        opt_out.is_active, opt_out.source, opt_out.opted_out_at, opt_out.opted_in_at = True, source, now, None
        opt_out.save(update_fields=["is_active", "source", "opted_out_at", "opted_in_at", "updated_at"])
    patient_ids = set(OutboundMessage.objects.filter(phone_hash=number_hash).values_list("patient_id", flat=True))
    if patient_ids:
        opt_out.patients.add(*patient_ids)
    return opt_out


@transaction.atomic
def opt_in_record(*, number_hash: str, now: dt.datetime | None = None) -> None:
    """The number said START: texts may go to it again."""
    SmsOptOut.objects.filter(phone_hash=number_hash, is_active=True).update(
        is_active=False, opted_in_at=now or timezone.now(), updated_at=timezone.now()
    )


def sms_keyword(body: str, opt_out_type: str = "") -> str:
    """STOP, START, HELP or '' for an inbound text (Twilio's OptOutType wins when present)."""
    declared = opt_out_type.strip().upper()
    if declared in {"STOP", "START", "HELP"}:
        return declared
    word = " ".join(body.strip().upper().split())
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return ""


@transaction.atomic
def inbound_sms_accept(*, message_sid: str, from_number: str, body: str, opt_out_type: str = "") -> tuple[bool, str]:
    """Store a patient's text (not its body) and apply STOP/START; (new?, keyword). A repeat changes nothing."""
    number = to_e164(from_number) or from_number.strip()
    number_hash = phone_hash(number)
    keyword = sms_keyword(body, opt_out_type)
    _inbound, created = InboundSms.objects.get_or_create(
        message_sid=message_sid[:40], defaults={"phone_hash": number_hash, "keyword": keyword}
    )
    if created and keyword == "STOP":
        opt_out_record(number_hash=number_hash, source=SmsOptOut.Source.REPLY)
    elif created and keyword == "START":
        opt_in_record(number_hash=number_hash)
    return created, keyword


# --- delivery reports -----------------------------------------------------------------------------


def _apply_reports(message: OutboundMessage) -> None:
    """Fold the stored status callbacks of the message's sid into its delivery status (never backwards)."""
    if not message.message_sid:
        return
    reports = list(DeliveryReport.objects.filter(message_sid=message.message_sid).order_by("received_at", "pk"))
    current = DELIVERY_RANK.get(message.delivery_status, -1)
    best = None
    for report in reports:
        if DELIVERY_RANK.get(report.status, -1) > current:
            best, current = report, DELIVERY_RANK.get(report.status, -1)
    if best is None:
        return
    message.delivery_status = best.status
    message.delivery_error_code = best.error_code
    message.delivery_updated_at = timezone.now()
    message.save(update_fields=["delivery_status", "delivery_error_code", "delivery_updated_at", "updated_at"])
    if best.error_code == OPTED_OUT_CODE and message.phone_hash:
        opt_out_record(number_hash=message.phone_hash, source=SmsOptOut.Source.TWILIO)


@transaction.atomic
def delivery_report_record(*, message_sid: str, status: str, error_code: int | None, message_public_id: str) -> bool:
    """Store one status callback and apply it; False for a repeat. It may settle an unknown send outcome."""
    _report, created = DeliveryReport.objects.get_or_create(
        message_sid=message_sid[:40], status=status[:12], defaults={"error_code": error_code}
    )
    if not created:
        return False
    message = OutboundMessage.objects.select_for_update().filter(message_sid=message_sid).first()
    if message is None and message_public_id:
        candidate = OutboundMessage.objects.filter(public_id=message_public_id, message_sid="").first()
        if candidate is not None and candidate.state == State.AMBIGUOUS:
            # Twilio is reporting on the message whose send outcome we did not know: it was accepted.
            message = effect_settle(
                model=OutboundMessage,
                effect_id=candidate.pk,
                to=State.SUCCEEDED,
                note="found by its status callback",
                expect=(State.AMBIGUOUS,),
                message_sid=message_sid[:40],
                sent_at=timezone.now(),
                reconciled=True,
                must_reconcile=False,
            )
        # A message still in flight gets its sid from the worker, which applies stored reports then.
    if message is not None and message.message_sid:
        _apply_reports(message)
    return True


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    skip: str = ""
    defer_until: dt.datetime | None = None
    note: str = ""
    planned_for: dt.datetime | None = None


def _precheck(message: OutboundMessage, patient: Patient, number: str | None, now: dt.datetime) -> Decision:
    """May this text go now? Everything here is read from the hub's rows (no outside call)."""
    if not patient.consent_to_text:
        return Decision(skip="no consent to text messages")
    if patient.contact_preference == Patient.ContactPreference.NONE:
        return Decision(skip="patient asked not to be contacted")
    if number is None:
        return Decision(skip="no usable mobile number")
    if is_opted_out(phone_hash(number)):
        return Decision(skip="the number opted out (STOP)")
    appointment = message.appointment
    expiry: dt.datetime | None = None
    if appointment is not None:
        if appointment.status == Appointment.Status.CANCELLED:
            return Decision(skip="appointment cancelled")
        if appointment.patient_id != message.patient_id:
            return Decision(skip="appointment no longer this patient's")
        starts_at = appointment.starts_at
        if message.planned_for is not None and starts_at != message.planned_for:
            due = nominal_due(message.kind, starts_at, now)
            if due > now + dt.timedelta(minutes=1):
                return Decision(defer_until=due, note="appointment moved: new send time", planned_for=starts_at)
        expiry = expires_at(message.kind, starts_at)
        if expiry is not None and now >= expiry:
            return Decision(skip="too late: the visit is too close or over")
    quiet_end = quiet_until(message.department.tzinfo, now)
    if quiet_end is not None:
        if expiry is not None and quiet_end >= expiry:
            return Decision(skip="quiet hours last until it is too late")
        return Decision(defer_until=quiet_end, note="quiet hours at the location")
    return Decision()


def _athena_problem(message: OutboundMessage, patient: Patient, athena: AthenaClient) -> str:
    """Read the appointment back from athena now: '' when it is still this patient's booked visit."""
    appointment = message.appointment
    if appointment is None or message.kind not in ATHENA_CHECKED:
        return ""
    try:
        current = athena.get_appointment(appointment.athena_appointment_id)
    except AthenaNotFoundError:
        return "appointment no longer in athena"
    if current.status == Appointment.Status.CANCELLED:
        return "appointment cancelled in athena"
    if current.status == Appointment.Status.OPEN:
        return "appointment no longer booked in athena"
    if patient.athena_patient_id and current.patient_id and current.patient_id != patient.athena_patient_id:
        return "appointment booked for someone else in athena"
    return ""


def _template_values(message: OutboundMessage, patient: Patient) -> dict[str, str]:
    portal = settings.NOTIFY_PORTAL_URL.rstrip("/")
    values = {
        # First name only (the preferred one when the patient gave it): never a full name.
        "first_name": (patient.preferred_name or patient.first_name).split(" ")[0],
        "practice": message.department.practice.name,
    }
    appointment = message.appointment
    if appointment is not None:
        local = appointment.starts_at
        values["date"] = f"{local:%a %b} {local.day}"
        values["time"] = local.strftime("%I:%M %p").lstrip("0")
        path = "check-in" if message.kind == Kind.CHECK_IN_LINK else "visits"
        values["link"] = f"{portal}/{path}/{appointment.athena_appointment_id}"
    else:
        values["link"] = f"{portal}/account"
    return values


def status_callback_url(message: OutboundMessage) -> str:
    """Where Twilio reports on this message; the message's own id lets a callback settle an unknown outcome."""
    base = settings.TWILIO_STATUS_CALLBACK_URL
    if not base:
        return ""
    return f"{base}{'&' if '?' in base else '?'}m={message.public_id}"


def _find_sent(client: TwilioClient, number: str, marker: str) -> TwilioMessage | None:
    """The message carrying this reference code among the latest ones to the number, if Twilio has it."""
    needle = f"Ref {marker}"
    for candidate in client.list_messages(to=number):
        if candidate.direction.startswith("outbound") and candidate.body.endswith(needle):
            return candidate
    return None


def _settle_sent(message_id: int, sent: TwilioMessage, *, note: str, reconciled: bool) -> OutboundMessage:
    return effect_settle(
        model=OutboundMessage,
        effect_id=message_id,
        to=State.SUCCEEDED,
        note=note,
        after=_apply_reports,
        expect=(State.IN_FLIGHT, State.RECONCILING),
        message_sid=sent.sid,
        sent_at=sent.date_created or timezone.now(),
        delivery_status=sent.status if sent.status in DELIVERY_RANK else "",
        reconciled=reconciled,
        must_reconcile=False,
        last_error="",
        last_error_kind="",
    )


def _settle(message_id: int, to: str, note: str, **values: Any) -> OutboundMessage:
    return effect_settle(
        model=OutboundMessage,
        effect_id=message_id,
        to=to,
        note=note,
        expect=(State.IN_FLIGHT, State.RECONCILING),
        **values,
    )


def _retry_later(message: OutboundMessage, exc: Exception, *, kind: str, retry_after: float | None = None) -> None:
    delay = backoff_delay(message.attempts, retry_after)
    current = OutboundMessage.objects.get(pk=message.pk)
    # A failed look-up leaves the question open: it must be asked again before any send.
    to = State.AMBIGUOUS if current.state == State.RECONCILING else State.PENDING
    _settle(
        message.pk,
        to,
        f"{kind} failure",
        next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
        **effect_error_values(exc, kind),
    )


def _carry(message: OutboundMessage, client: TwilioClient, athena: AthenaClient) -> None:
    patient = Patient.objects.get(pk=message.patient_id)
    number = to_e164(patient.mobile_phone)
    if message.state == State.RECONCILING:
        if message.first_attempt_at is not None:
            if number is None or (message.phone_hash and phone_hash(number) != message.phone_hash):
                _settle(
                    message.pk,
                    State.PARKED,
                    "the number changed while an earlier attempt's outcome is unknown",
                    last_error="number changed while the outcome of an earlier attempt is unknown",
                    last_error_kind="needs_staff",
                )
                return
            try:
                found = _find_sent(client, number, message.marker)
            except TwilioTransientError as exc:
                _retry_later(message, exc, kind="transient", retry_after=exc.retry_after)
                return
            if found is not None:
                _settle_sent(message.pk, found, note="found in Twilio", reconciled=True)
                return
        with transaction.atomic():
            locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
            if locked.state != State.RECONCILING:
                return
            locked.must_reconcile = False
            effect_transition(
                effect=locked, to=State.IN_FLIGHT, note="not in Twilio", update_fields=("must_reconcile",)
            )
        message = locked
    now = timezone.now()
    decision = _precheck(message, patient, number, now)
    if decision.skip:
        _settle(message.pk, State.SKIPPED, decision.skip, skip_reason=decision.skip)
        return
    if decision.defer_until is not None:
        values: dict[str, Any] = {"next_attempt_at": decision.defer_until, "attempts": max(0, message.attempts - 1)}
        if decision.planned_for is not None:
            values["planned_for"] = decision.planned_for
        _settle(message.pk, State.PENDING, decision.note, **values)
        return
    try:
        problem = _athena_problem(message, patient, athena)
    except AthenaTransientError as exc:
        _retry_later(message, exc, kind="transient", retry_after=exc.retry_after)
        return
    if problem:
        _settle(message.pk, State.SKIPPED, problem, skip_reason=problem)
        return
    assert number is not None  # _precheck skipped messages without a number
    body = render(message.kind, values=_template_values(message, patient), marker=message.marker)
    # Remember where this attempt goes before it leaves, so a crash mid-call is looked for at that number.
    OutboundMessage.objects.filter(pk=message.pk).update(
        phone_hash=phone_hash(number), first_attempt_at=message.first_attempt_at or timezone.now()
    )
    try:
        sent = client.send_message(to=number, body=body, status_callback=status_callback_url(message))
    except TwilioOptedOutError as exc:
        opt_out_record(number_hash=phone_hash(number), source=SmsOptOut.Source.TWILIO)
        reason = "the number opted out (Twilio 21610)"
        _settle(message.pk, State.SKIPPED, reason, skip_reason=reason, **effect_error_values(exc, "permanent"))
    except TwilioAmbiguousError as exc:
        settle_seconds = float(settings.NOTIFY_AMBIGUOUS_SETTLE_SECONDS)
        delay = max(backoff_delay(1), settle_seconds) if settle_seconds > 0 else 0.0
        _settle(
            message.pk,
            State.AMBIGUOUS,
            "outcome unknown",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            must_reconcile=True,
            **effect_error_values(exc, "ambiguous"),
        )
    except TwilioTransientError as exc:
        _retry_later(message, exc, kind="transient", retry_after=exc.retry_after)
    except TwilioPermanentError as exc:
        _settle(message.pk, State.FAILED, "Twilio refused", **effect_error_values(exc, "permanent"))
    else:
        _settle_sent(message.pk, sent, note="accepted by Twilio", reconciled=False)


def message_execute(*, message_id: int, client: TwilioClient, athena: AthenaClient, worker: str | None = None) -> bool:
    """Claim one due text and carry it as far as it goes now; False if it was not claimable."""
    message = effect_claim(
        model=OutboundMessage, effect_id=message_id, worker=worker or worker_name(), lease_seconds=lease_seconds()
    )
    if message is None:
        return False
    message = OutboundMessage.objects.select_related("department__practice", "appointment__department").get(
        pk=message.pk
    )
    scope = {
        "object_id": str(message.public_id),
        "attempt": message.attempts,
        "patient_ref": message.patient_id,
        "department_ref": message.department_id,
    }
    with context.call_scope(**scope):
        try:
            _carry(message, client, athena)
        except Exception as exc:
            # A bug or an unexpected answer: park this text for staff, keep the others going.
            logger.exception("text message %s failed unexpectedly", message.pk)
            note = f"unexpected error: {type(exc).__name__}"
            _settle(message.pk, State.PARKED, note, last_error=note, last_error_kind="bug")
    return True


def messages_run_due(
    *, client: TwilioClient, athena: AthenaClient, budget_seconds: float = 50.0, batch: int = 20
) -> int:
    """Work through due texts until none are due soon or the time budget is spent."""
    worker = worker_name()
    deadline = time.monotonic() + budget_seconds
    done = 0
    while time.monotonic() < deadline:
        now = timezone.now()
        ids = list(OutboundMessage.objects.due(now=now).values_list("pk", flat=True)[:batch])
        if not ids:
            upcoming = (
                OutboundMessage.objects.filter(state__in=[State.PENDING, State.AMBIGUOUS], next_attempt_at__gt=now)
                .order_by("next_attempt_at")
                .values_list("next_attempt_at", flat=True)
                .first()
            )
            wait = (upcoming - now).total_seconds() if upcoming else None
            if wait is None or wait > 5.0 or time.monotonic() + wait > deadline:
                break
            time.sleep(max(0.05, wait))
            continue
        progressed = False
        for message_id in ids:
            if message_execute(message_id=message_id, client=client, athena=athena, worker=worker):
                progressed = True
                done += 1
        if not progressed:
            time.sleep(0.05)
    return done


def message_retry(*, message: OutboundMessage, actor: str, reason: str) -> OutboundMessage:
    """Staff send a parked or failed text back to the queue; it is looked for in Twilio before any resend."""
    retried = effect_retry(model=OutboundMessage, effect=message, actor=actor, reason=reason)
    nudge("notify.tasks.send_due_messages")
    return retried


def messages_needing_staff() -> models.QuerySet[OutboundMessage]:
    """Parked and failed texts, and accepted ones Twilio could not deliver."""
    return OutboundMessage.objects.filter(
        models.Q(state__in=[State.PARKED, State.FAILED])
        | models.Q(state=State.SUCCEEDED, delivery_status__in=["undelivered", "failed"])
    )
