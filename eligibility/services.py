"""Eligibility checks: asking the payer (clearinghouse 270 or athena benefitdetails), retrying, settling.

A check is claimed with a lease (as ledger intents are), asked outside any transaction, and its
outcome settled on the row. The decision after each answer is `eligibility.x12.next_step`'s: an
answer ends the check; AAA 42 waits and asks again with backoff; AAA 72/75 asks again at once with
a confusable reading of the member id (through the clearinghouse, the only route that lets us
choose the id); a refusing 999/TA1 or any other rejection needs a person. Every attempt is kept
with its raw X12 (encrypted), and every HTTP call writes its own audit row.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from eligibility import answers, inquiry
from eligibility.completeness import CHECK_ELIGIBILITY, missing_fields
from eligibility.models import EligibilityAttempt, EligibilityCheck
from eligibility.x12 import (
    EligibilityResponse,
    EnvelopeOptions,
    RequestValidationError,
    X12ParseError,
    build_270,
    next_step,
    parse_response,
)
from eligibility.x12.retry import DONE, FINAL, RETRY_LATER, RETRY_WITH_MEMBER_ID
from hub import context
from hub.integrations.athena.client import AthenaClient
from hub.integrations.athena.errors import (
    AthenaError,
    AthenaNotFoundError,
    AthenaPermanentError,
)
from hub.integrations.clearinghouse.client import ClearinghouseClient
from hub.integrations.clearinghouse.errors import ClearinghousePermanentError, ClearinghouseTransientError
from hub.models import Appointment, PatientInsurance
from hub.queue import nudge, rows_for_enqueueing

logger = logging.getLogger(__name__)

State = EligibilityCheck.State
Result = EligibilityCheck.Result
Route = EligibilityCheck.Route
Outcome = EligibilityAttempt.Outcome
LEASE = dt.timedelta(seconds=120)
# Bounds the variant retries of one run (the retry policy allows at most two other readings).
MAX_ATTEMPTS_PER_RUN = 4
INSURANCE_STATUS: dict[str, str] = {
    Result.ACTIVE: PatientInsurance.EligibilityStatus.ACTIVE,
    Result.INACTIVE: PatientInsurance.EligibilityStatus.INACTIVE,
    Result.REJECTED: PatientInsurance.EligibilityStatus.REJECTED,
    Result.ERROR: PatientInsurance.EligibilityStatus.ERROR,
}


@dataclass
class Answer:
    """What one attempt brought back: a parsed response, or why there is none."""

    attempt: EligibilityAttempt
    response: EligibilityResponse | None = None
    waiting: bool = False  # athena has not finished its check yet
    transient: str = ""  # safe summary of a failure worth retrying
    permanent: str = ""  # safe summary of a refusal


# --- asking for a check ---------------------------------------------------------------------------


@transaction.atomic
def check_request(
    *,
    insurance: PatientInsurance,
    trigger: str,
    appointment: Appointment | None = None,
    date_of_service: dt.date | None = None,
    requested_by: Any = None,
    member_id: str = "",
) -> EligibilityCheck:
    """Queue an eligibility check of one insurance; an open check of the same question is reused.

    `member_id` asks with another reading than the insurance's current value (a card's, while staff
    decide between it and athena's).
    """
    insurance = PatientInsurance.objects.select_related("patient__department", "patient__practice").get(pk=insurance.pk)
    patient = insurance.patient
    day = date_of_service or (appointment.date if appointment is not None else inquiry.local_today(patient))
    service_type = inquiry.service_type_for(appointment)
    wanted = (member_id or insurance.member_id).upper()
    for existing in EligibilityCheck.objects.open().filter(
        insurance=insurance, date_of_service=day, service_type=service_type
    ):
        if existing.member_id == wanted:  # encrypted: compared here, not in SQL
            return existing
    check = EligibilityCheck.objects.create(
        patient=patient,
        department=patient.department,
        insurance=insurance,
        appointment=appointment,
        route=inquiry.route_for(insurance),
        service_type=service_type,
        date_of_service=day,
        trigger=trigger,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        member_id=wanted,
        next_attempt_at=timezone.now(),
    )
    nudge("eligibility.tasks.run_checks")
    return check


# --- running checks -------------------------------------------------------------------------------


@transaction.atomic
def _claim(check_id: int, now: dt.datetime) -> EligibilityCheck | None:
    check = EligibilityCheck.objects.select_for_update(skip_locked=True).filter(pk=check_id).first()
    if check is None or not EligibilityCheck.objects.due(now=now).filter(pk=check_id).exists():
        return None
    check.state = State.IN_FLIGHT
    check.lease_until = now + LEASE
    check.save(update_fields=["state", "lease_until", "updated_at"])
    return check


def checks_run_due(
    *,
    clearinghouse: ClearinghouseClient,
    athena: AthenaClient,
    now: dt.datetime | None = None,
    budget_seconds: float = 50.0,
) -> int:
    """Run every check that is due (now, or at `now` when given) until none is left or the time is spent."""
    deadline = time.monotonic() + budget_seconds
    done = 0
    tried: set[int] = set()
    while time.monotonic() < deadline:
        moment = now or timezone.now()
        ids = [
            pk for pk in EligibilityCheck.objects.due(now=moment).values_list("pk", flat=True)[:20] if pk not in tried
        ]
        if not ids:
            break
        for check_id in ids:
            tried.add(check_id)
            if check_execute(check_id=check_id, clearinghouse=clearinghouse, athena=athena, now=moment):
                done += 1
    return done


def check_execute(
    *, check_id: int, clearinghouse: ClearinghouseClient, athena: AthenaClient, now: dt.datetime | None = None
) -> bool:
    """Claim one due check and carry it as far as it goes now; False when it was not claimable."""
    now = now or timezone.now()
    check = _claim(check_id, now)
    if check is None:
        return False
    with context.call_scope(object_id=check.pk, patient_ref=check.patient_id, department_ref=check.department_id):
        try:
            _run(check, clearinghouse, athena, now)
        except Exception as exc:
            # A bug or an unexpected answer: this check fails visibly; the type only (values are PHI).
            logger.error("eligibility check %s failed unexpectedly: %s", check.pk, type(exc).__name__)
            _finish(check, State.FAILED, Result.ERROR, "The check failed unexpectedly; staff can ask again.")
    return True


def _run(check: EligibilityCheck, clearinghouse: ClearinghouseClient, athena: AthenaClient, now: dt.datetime) -> None:
    insurance = PatientInsurance.objects.select_related("patient__department", "patient__practice").get(
        pk=check.insurance_id
    )
    patient = insurance.patient
    appointment = (
        Appointment.objects.select_related("provider", "department").filter(pk=check.appointment_id).first()
        if check.appointment_id
        else None
    )
    asker = inquiry.asker_for(patient, appointment)
    intake = inquiry.intake_for(
        insurance, patient=patient, appointment=appointment, date_of_service=check.date_of_service, npi=asker.npi
    )
    intake["insurance"]["member_id"] = check.member_id
    missing = missing_fields(CHECK_ELIGIBILITY, intake)
    if missing:
        labels = [item.label for item in missing]
        check.missing_fields = labels
        _finish(check, State.INCOMPLETE, Result.NONE, "Not asked; the payer needs: " + ", ".join(labels) + ".")
        return

    pending = check.attempt_rows.filter(route=Route.ATHENA, outcome=Outcome.SENT).order_by("-number").first()
    member_id = check.member_id
    route = check.route
    for _ in range(MAX_ATTEMPTS_PER_RUN):
        if pending is not None:
            answer = _read_athena(check, pending, insurance, athena)
            pending = None
        elif route == Route.ATHENA:
            answer = _ask_athena(check, insurance, athena, member_id)
        else:
            answer = _ask_clearinghouse(check, insurance, clearinghouse, member_id, asker)
        if answer.waiting:
            polls = max(0, answer.attempt.calls - 1)
            if polls > settings.ELIGIBILITY_ATHENA_MAX_POLLS:
                _settle_attempt(answer.attempt, outcome=Outcome.TRANSIENT, error="athena did not finish its check")
                _transient(check, now, "athena did not finish the check in time")
                return
            _wait(
                check,
                now + dt.timedelta(seconds=settings.ELIGIBILITY_ATHENA_POLL_SECONDS),
                "athena is running the check",
            )
            return
        if answer.permanent:
            _finish(check, State.FAILED, Result.ERROR, answer.permanent)
            return
        if answer.transient or answer.response is None:
            _transient(check, now, answer.transient or "no answer")
            return
        response = answer.response
        tried = [
            row.member_id for row in check.attempt_rows.exclude(pk=answer.attempt.pk).only("member_id") if row.member_id
        ]
        decision = next_step(
            response,
            attempt=check.attempts,
            member_id=check.member_id,
            tried_member_ids=[*tried, answer.attempt.member_id],
        )
        _settle_attempt(answer.attempt, decision=decision.action)
        if decision.action == DONE:
            check.verified_member_id = answers.confirmed_member_id(response, answer.attempt)
            check.summary = answers.summarize(response, check.service_type, check.date_of_service)
            check.rejections = answers.rejections_of(response)
            result = Result.ACTIVE if response.status == "active" else Result.INACTIVE
            _finish(check, State.DONE, result, answers.status_sentence(result, response, answer.attempt, check))
            return
        if decision.action == RETRY_WITH_MEMBER_ID:
            member_id, route = decision.member_id, Route.CLEARINGHOUSE
            continue
        if decision.action == RETRY_LATER:
            check.rejections = answers.rejections_of(response)
            at = now + dt.timedelta(seconds=decision.delay_seconds)
            _wait(check, at, f"The payer could not answer now (AAA {decision.reason_code}); asking again shortly.")
            return
        check.rejections = answers.rejections_of(response)
        if decision.action == FINAL and response.transaction == "271":
            _finish(check, State.DONE, Result.REJECTED, answers.rejection_sentence(response))
            return
        if response.transaction in ("999", "TA1") and response.accepted:
            _transient(check, now, f"the clearinghouse acknowledged ({response.transaction}) without an answer")
            return
        _finish(check, State.FAILED, Result.ERROR, answers.refusal_sentence(response))
        return
    _finish(check, State.FAILED, Result.ERROR, "Too many attempts in one run; staff can ask again.")


# --- the two routes -------------------------------------------------------------------------------


def _new_attempt(check: EligibilityCheck, route: str, member_id: str) -> EligibilityAttempt:
    with transaction.atomic():
        locked = EligibilityCheck.objects.select_for_update().get(pk=check.pk)
        locked.attempts += 1
        locked.save(update_fields=["attempts", "updated_at"])
        check.attempts = locked.attempts
        return EligibilityAttempt.objects.create(
            eligibility_check=check, number=locked.attempts, route=route, member_id=member_id
        )


def _settle_attempt(attempt: EligibilityAttempt, **values: Any) -> None:
    for name, value in values.items():
        setattr(attempt, name, value)
    attempt.save(update_fields=list(values))


def _read(attempt: EligibilityAttempt, text: str, service_type: str) -> Answer:
    """Parse an answer into the attempt's row; an unreadable answer is worth asking again."""
    now = timezone.now()
    try:
        response = parse_response(text, service_type=service_type)
    except X12ParseError as exc:
        _settle_attempt(attempt, response_x12=text, outcome=Outcome.UNREADABLE, error=str(exc)[:200], answered_at=now)
        return Answer(attempt, transient="the answer could not be read")
    _settle_attempt(
        attempt,
        response_x12=text,
        response_type=response.transaction,
        outcome=Outcome.ANSWERED,
        status=response.status,
        rejections=answers.rejections_of(response),
        answered_at=now,
    )
    return Answer(attempt, response=response)


def _ask_clearinghouse(
    check: EligibilityCheck,
    insurance: PatientInsurance,
    client: ClearinghouseClient,
    member_id: str,
    asker: inquiry.Asker,
) -> Answer:
    """Build the 270 with this member id, POST it, read the 271 / 999 / TA1."""
    attempt = _new_attempt(check, Route.CLEARINGHOUSE, member_id)
    request = inquiry.request_for(
        insurance,
        member_id=member_id,
        asker=asker,
        service_type=check.service_type,
        date_of_service=check.date_of_service,
    )
    control = attempt.pk % 999_999_999 or 1
    options = EnvelopeOptions(
        sender_id=settings.CLEARINGHOUSE_SENDER_ID,
        receiver_id=settings.CLEARINGHOUSE_RECEIVER_ID,
        control_number=control,
        trace_number=f"HUB{check.pk}-{attempt.number}",
        originator_id=settings.CLEARINGHOUSE_ORIGINATOR_ID,
        created_at=timezone.now(),
        production=settings.CLEARINGHOUSE_PRODUCTION,
        reference=f"HUBCHK{check.pk}-{attempt.number}",
        real_time=True,
    )
    try:
        built = build_270(request, options)
    except RequestValidationError as exc:
        fields = ", ".join(sorted({problem.field for problem in exc.problems}))
        _settle_attempt(attempt, outcome=Outcome.PERMANENT, error=f"270 not valid: {fields}"[:200])
        return Answer(attempt, permanent=f"The request could not be built; check these details: {fields}."[:300])
    _settle_attempt(
        attempt,
        request_x12=built.text,
        control_number=built.interchange_control_number,
        reference=built.reference,
    )
    with context.call_scope(attempt=attempt.number):
        try:
            _settle_attempt(attempt, calls=attempt.calls + 1)
            reply = client.send_270(built.text)
        except ClearinghouseTransientError as exc:
            _settle_attempt(attempt, outcome=Outcome.TRANSIENT, error=str(exc)[:200])
            return Answer(attempt, transient=str(exc))
        except ClearinghousePermanentError as exc:
            _settle_attempt(attempt, outcome=Outcome.PERMANENT, error=str(exc)[:200])
            return Answer(attempt, permanent="The clearinghouse refused the request; check the set-up.")
    return _read(attempt, reply.text, check.service_type)


def _athena_ids(insurance: PatientInsurance) -> tuple[str, str]:
    return insurance.patient.athena_patient_id or "", insurance.athena_insurance_id or ""


def _ask_athena(check: EligibilityCheck, insurance: PatientInsurance, client: AthenaClient, member_id: str) -> Answer:
    """Ask athena to run its check (POST benefitdetails), then look for the answer once."""
    attempt = _new_attempt(check, Route.ATHENA, member_id)
    patient_id, insurance_id = _athena_ids(insurance)
    if not (patient_id and insurance_id):
        _settle_attempt(attempt, outcome=Outcome.PERMANENT, error="the insurance is not in athena")
        return Answer(attempt, permanent="athena does not hold this insurance yet; it cannot check it.")
    with context.call_scope(attempt=attempt.number):
        try:
            _settle_attempt(attempt, calls=attempt.calls + 1)
            client.request_benefit_details(
                patient_id, insurance_id, service_type=check.service_type, date_of_service=check.date_of_service
            )
        except AthenaNotFoundError:
            _settle_attempt(attempt, outcome=Outcome.PERMANENT, error="athena: insurance not found")
            return Answer(attempt, permanent="athena no longer has this insurance.")
        except AthenaPermanentError as exc:
            _settle_attempt(attempt, outcome=Outcome.PERMANENT, error=str(exc)[:200])
            return Answer(attempt, permanent="athena refused the eligibility check.")
        except AthenaError as exc:
            # A benefitdetails request only starts a check: asking again is harmless.
            _settle_attempt(attempt, outcome=Outcome.TRANSIENT, error=str(exc)[:200])
            return Answer(attempt, transient=str(exc))
    return _read_athena(check, attempt, insurance, client)


def _read_athena(
    check: EligibilityCheck, attempt: EligibilityAttempt, insurance: PatientInsurance, client: AthenaClient
) -> Answer:
    """GET benefitdetails: the 271 of athena's check, once athena has it (404 until then)."""
    patient_id, insurance_id = _athena_ids(insurance)
    with context.call_scope(attempt=attempt.number):
        try:
            _settle_attempt(attempt, calls=attempt.calls + 1)
            details = client.get_benefit_details(
                patient_id, insurance_id, service_type=check.service_type, date_of_service=check.date_of_service
            )
        except AthenaNotFoundError:
            return Answer(attempt, waiting=True)
        except AthenaPermanentError as exc:
            _settle_attempt(attempt, outcome=Outcome.PERMANENT, error=str(exc)[:200])
            return Answer(attempt, permanent="athena refused to show the eligibility answer.")
        except AthenaError as exc:
            _settle_attempt(attempt, outcome=Outcome.TRANSIENT, error=str(exc)[:200])
            return Answer(attempt, transient=str(exc))
    sent_day = attempt.sent_at.astimezone(insurance.patient.department.tzinfo).date()
    if not details.ansi271 or (details.last_check_date is not None and details.last_check_date < sent_day):
        return Answer(attempt, waiting=True)  # an older check's answer: ours is not ready yet
    return _read(attempt, details.ansi271, check.service_type)


# --- settling -------------------------------------------------------------------------------------


def backoff_seconds(failures: int) -> float:
    """Transport failures: exponential backoff with jitter, 30 s base, 15 min cap."""
    return min(900.0, 30.0 * 2 ** max(0, failures - 1)) * (0.5 + random.random() / 2)  # noqa: S311 - jitter


def _transient(check: EligibilityCheck, now: dt.datetime, why: str) -> None:
    check.transport_failures += 1
    if check.transport_failures > settings.ELIGIBILITY_MAX_TRANSPORT_RETRIES:
        _finish(check, State.FAILED, Result.ERROR, "The payer could not be reached after several tries.")
        return
    at = now + dt.timedelta(seconds=backoff_seconds(check.transport_failures))
    _wait(check, at, f"No answer yet ({why[:120]}); asking again shortly.", fields=("transport_failures",))


def _wait(check: EligibilityCheck, at: dt.datetime, message: str, fields: tuple[str, ...] = ()) -> None:
    check.state = State.WAITING
    check.next_attempt_at = at
    check.lease_until = None
    check.message = message[:300]
    check.save(
        update_fields=["state", "next_attempt_at", "lease_until", "message", "rejections", *fields, "updated_at"]
    )


def _finish(check: EligibilityCheck, state: str, result: str, message: str) -> None:
    """Record the final outcome, keep the insurance's status current, and set what follows in motion."""
    from eligibility import coverage

    with transaction.atomic():
        check.state = state
        check.result = result
        check.message = message[:300]
        check.lease_until = None
        check.finished_at = timezone.now()
        check.save()
        coverage.check_settled(check=check)


# --- planning -------------------------------------------------------------------------------------


def rechecks_plan(*, now: dt.datetime | None = None) -> int:
    """Queue a check for every booked visit in the next days whose coverage answer is missing or old."""
    now = now or timezone.now()
    today = now.date()
    horizon = today + dt.timedelta(days=settings.ELIGIBILITY_RECHECK_DAYS_AHEAD)
    fresh_after = now - dt.timedelta(hours=settings.ELIGIBILITY_RECHECK_AFTER_HOURS)
    appointments = Appointment.objects.filter(
        status=Appointment.Status.FUTURE, patient__isnull=False, date__range=(today - dt.timedelta(days=1), horizon)
    ).select_related("patient__department", "department", "appointment_type")
    created = 0
    for appointment in rows_for_enqueueing(appointments):
        assert appointment.patient is not None  # filtered above
        insurance = primary_insurance(appointment.patient_id)
        if insurance is None or appointment.starts_at < now:
            continue
        recent = EligibilityCheck.objects.filter(insurance=insurance, date_of_service=appointment.date).filter(
            created_at__gte=fresh_after
        )
        if recent.exists():
            continue
        check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.SCHEDULE, appointment=appointment)
        created += 1
    return created


def primary_insurance(patient_id: int | None) -> PatientInsurance | None:
    """The patient's active primary insurance (the newest, when several are on file)."""
    if patient_id is None:
        return None
    return (
        PatientInsurance.objects.filter(
            patient_id=patient_id, sequence_number=PatientInsurance.Sequence.PRIMARY, is_cancelled=False
        )
        .order_by("-pk")
        .first()
    )


def booking_intent_settled(intent_id: int) -> None:
    """Ledger hook: a visit booked (or moved) through the portal gets its coverage checked."""
    from sync.models import WriteIntent

    intent = WriteIntent.objects.get(pk=intent_id)
    operations = (WriteIntent.Operation.BOOK_APPOINTMENT, WriteIntent.Operation.RESCHEDULE_APPOINTMENT)
    if intent.state != WriteIntent.State.SUCCEEDED or intent.operation not in operations:
        return
    appointment = Appointment.objects.filter(
        practice_id=intent.practice_id,
        athena_appointment_id=str(intent.result.get("appointmentid") or ""),
        patient_id=intent.patient_id,
    ).first()
    insurance = primary_insurance(intent.patient_id)
    if appointment is None or insurance is None:
        return
    check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.BOOKING, appointment=appointment)
