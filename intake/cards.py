"""Insurance cards from the portal: upload, the OCR job, staff review, and what follows.

1. `card_upload_accept` (the API's transaction): the submission, the upload, its encrypted images,
   and the OCR task (ids only).
2. `card_upload_read` (the task): Tesseract reads the card (`intake.ocr.read_card`) outside any
   transaction; one audit row (system "ocr") records that it ran, with field names, never values.
3. Fields read with high confidence and no confusable characters enter the insurance's golden
   record with source `ocr`; the rest wait in the OCR review queue, and the portal hears "needs
   confirmation". An unreadable card asks the patient (a text) for a new photo.
4. Once every field is accepted (by the reader or by staff) the coverage is checked with the
   card's member id; the payer's answer decides what is written to athena (`eligibility.coverage`),
   and the card images follow the insurance to athena through the ledger (`UPLOAD_CARD`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rapidfuzz import fuzz

from eligibility.coverage import card_signal_record, coverage_observe
from eligibility.models import EligibilityCheck
from eligibility.services import check_request
from hub.audit import audit_record
from hub.context import Actor
from hub.models import AuditEvent, InsurancePackage, Patient, PatientInsurance
from hub.queue import enqueue
from intake.card_storage import card_file_delete, card_file_read, card_file_store
from intake.models import CardImage, CardUpload, OcrReview, PortalClient, Submission
from intake.ocr import CardImageError, CardReading, OcrUnavailableError, read_card
from intake.ocr.payers import normalize_payer_name
from sync.models import WriteIntent
from sync.portal_events import portal_event_emit
from sync.services import intent_create

logger = logging.getLogger(__name__)

State = CardUpload.State
Operation = WriteIntent.Operation
LEASE = dt.timedelta(minutes=5)
MAX_READS = 3
# Fields a card must give for the insurance to be usable; missing ones go to staff.
ESSENTIAL = ("payer_name", "member_id")
# Fields staff confirm when doubtful (the others are kept as read, for staff to see).
REVIEWED = ("payer_name", "member_id", "group_number", "subscriber_name")
# Card name against the registered patient (0-1) from which the patient is taken to be the holder.
SAME_PERSON = 0.85


@dataclass(frozen=True)
class ValidImage:
    """An upload that passed the checks: its bytes and what they are."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --- accepting an upload ------------------------------------------------------------------------


@transaction.atomic
def card_upload_accept(
    *,
    client: PortalClient,
    patient: Patient,
    front: ValidImage,
    back: ValidImage | None,
    insurance: PatientInsurance | None,
    sequence_number: int,
    request_key: str,
) -> Submission:
    """Store the card (encrypted, private) with its submission and queue the OCR job."""
    submission = Submission.objects.create(
        client=client, kind=Submission.Kind.INSURANCE_CARD, patient=patient, department=patient.department
    )
    upload = CardUpload.objects.create(
        submission=submission,
        patient=patient,
        department=patient.department,
        insurance=insurance,
        sequence_number=insurance.sequence_number if insurance else sequence_number,
    )
    written: list[str] = []
    try:
        for side, image in ((CardImage.Side.FRONT, front), (CardImage.Side.BACK, back)):
            if image is None:
                continue
            file_name = card_file_store(image.data)
            written.append(file_name)
            CardImage.objects.create(
                upload=upload,
                side=side,
                file_name=file_name,
                content_type=image.content_type,
                size_bytes=len(image.data),
                width=image.width,
                height=image.height,
                sha256=image.sha256,
            )
        enqueue("intake.tasks.read_card_upload", upload.pk)
    except Exception:
        # Nothing half-stored: the rows roll back with the transaction, the files go here.
        for file_name in written:
            card_file_delete(file_name)
        raise
    return submission


# --- the OCR job --------------------------------------------------------------------------------


def _sides(upload: CardUpload) -> dict[str, bytes]:
    return {image.side: card_file_read(image.file_name) for image in upload.images.filter(purged_at__isnull=True)}


@transaction.atomic
def _claim(upload_id: int) -> CardUpload | None:
    now = timezone.now()
    upload = CardUpload.objects.select_for_update(skip_locked=True).filter(pk=upload_id).first()
    if upload is None:
        return None
    abandoned = upload.state == State.READING and upload.lease_until is not None and upload.lease_until < now
    if upload.state != State.QUEUED and not abandoned:
        return None
    upload.state = State.READING
    upload.attempts += 1
    upload.lease_until = now + LEASE
    upload.save(update_fields=["state", "attempts", "lease_until", "updated_at"])
    return upload


def _ocr_audit(upload: CardUpload, *, outcome: str, latency_ms: int, detail: str, extra: dict[str, Any]) -> None:
    audit_record(
        system=AuditEvent.System.OCR,
        direction=AuditEvent.Direction.INTERNAL,
        action="read-card",
        outcome=outcome,
        outcome_detail=detail,
        latency_ms=latency_ms,
        patient_ref=upload.patient_id,
        department_ref=upload.department_id,
        object_type="card_upload",
        object_id=upload.pk,
        attempt=upload.attempts,
        detail=extra,
    )


def card_upload_read(*, upload_id: int) -> str:
    """Read one uploaded card with OCR and settle what follows; returns the upload's new state."""
    upload = _claim(upload_id)
    if upload is None:
        return ""
    started = time.monotonic()
    try:
        sides = _sides(upload)
        reading = read_card(sides["front"], sides.get("back"))
    except (CardImageError, KeyError, FileNotFoundError) as exc:
        latency = int((time.monotonic() - started) * 1000)
        # CardImageError's message is the library's own and names the problem, never the content.
        why = str(exc) if isinstance(exc, CardImageError) else "the card images are missing"
        _ocr_audit(upload, outcome=AuditEvent.Outcome.MINOR_FAILURE, latency_ms=latency, detail="unreadable", extra={})
        card_upload_unreadable(upload=upload, why=why)
        return State.UNREADABLE
    except OcrUnavailableError:
        latency = int((time.monotonic() - started) * 1000)
        _ocr_audit(upload, outcome=AuditEvent.Outcome.SERIOUS_FAILURE, latency_ms=latency, detail="ocr down", extra={})
        return _ocr_unavailable(upload)
    latency = int((time.monotonic() - started) * 1000)
    to_confirm = fields_to_confirm(reading)
    _ocr_audit(
        upload,
        outcome=AuditEvent.Outcome.SUCCESS,
        latency_ms=latency,
        detail="read",
        extra={
            "fields_read": sorted(name for name, value in reading.fields.items() if value),
            "to_confirm": to_confirm,
            "payer_decision": reading.payer.get("decision"),
        },
    )
    return card_reading_settle(upload=upload, reading=reading, to_confirm=to_confirm)


def _ocr_unavailable(upload: CardUpload) -> str:
    with transaction.atomic():
        locked = CardUpload.objects.select_for_update().get(pk=upload.pk)
        locked.lease_until = None
        locked.error = "OCR is not available"
        if locked.attempts >= MAX_READS:
            locked.state = State.FAILED
        else:
            locked.state = State.QUEUED
            # The next read waits for the sweeper rather than spinning while Tesseract is down.
        locked.save(update_fields=["state", "lease_until", "error", "updated_at"])
        if locked.state == State.FAILED:
            _announce(locked, "submission.needs_attention", Submission.Status.NEEDS_ATTENTION)
        return locked.state


def fields_to_confirm(reading: CardReading) -> list[str]:
    """Fields staff must look at: essential ones missing, doubtful or confusable ones, an unsure payer."""
    threshold = settings.OCR_ACCEPT_CONFIDENCE
    doubtful = []
    for name in REVIEWED:
        value = reading.fields.get(name)
        if value in (None, ""):
            if name in ESSENTIAL:
                doubtful.append(name)
            continue
        if reading.needs_confirmation.get(name) or reading.confidence.get(name, 0.0) < threshold:
            doubtful.append(name)
        elif name == "member_id" and reading.alternatives.get(name):
            doubtful.append(name)  # a confusable reading exists: a person compares with the image
    if reading.payer.get("decision") != "accept" and "payer_name" not in doubtful:
        doubtful.append("payer_name")
    return [name for name in REVIEWED if name in doubtful]


def name_match(card_name: str | None, patient: Patient) -> float | None:
    """How well the card's name matches the registered patient (0-1), None when none was read."""
    if not card_name:
        return None
    registered = f"{patient.first_name} {patient.middle_name} {patient.last_name}".upper()
    return fuzz.token_set_ratio(card_name.upper(), registered) / 100


def _canonical_id(value: str) -> str:
    return "".join(value.upper().split()).translate(str.maketrans("OISBZG", "015826"))


def _payer_id(reading: CardReading) -> str:
    ids = reading.payer.get("payer_ids", {}).get(settings.CLEARINGHOUSE_NAME, {})
    return str(ids.get("270") or reading.fields.get("payer_id") or "")


def _package_for(patient: Patient, payer_id: str, payer_name: str, plan_type: str | None) -> str:
    """athena's insurance package for the card's payer (and plan type), '' when none is known."""
    packages = list(InsurancePackage.objects.filter(practice_id=patient.practice_id).order_by("pk"))
    wanted = normalize_payer_name(payer_name) if payer_name else ""
    matches = [
        p
        for p in packages
        if (payer_id and p.payer_id.upper() == payer_id.upper())
        or (wanted and normalize_payer_name(p.payer_name) == wanted)
    ]
    if plan_type:
        typed = [p for p in matches if plan_type.upper() in p.name.upper()]
        matches = typed or matches
    return matches[0].athena_insurance_package_id if matches else ""


def _insurance_for(upload: CardUpload, reading: CardReading, values: dict[str, Any]) -> PatientInsurance:
    """The insurance this card is about: the one named, the same payer or id on file, or a new one."""
    if upload.insurance_id is not None:
        return PatientInsurance.objects.get(pk=upload.insurance_id)
    payer = normalize_payer_name(values.get("payer_name") or "")
    member = _canonical_id(values.get("member_id") or "")
    on_file = PatientInsurance.objects.filter(
        patient_id=upload.patient_id, sequence_number=upload.sequence_number, is_cancelled=False
    ).order_by("-pk")
    for insurance in on_file:
        if (member and _canonical_id(insurance.member_id) == member) or (
            payer and normalize_payer_name(insurance.payer_name) == payer
        ):
            return insurance
    patient = upload.patient
    payer_id = _payer_id(reading)
    return PatientInsurance.objects.create(
        patient=patient,
        sequence_number=upload.sequence_number,
        payer_name=(values.get("payer_name") or "")[:120],
        payer_id=payer_id[:20],
        plan_type=(reading.fields.get("plan_type") or "")[:30],
        athena_insurance_package_id=_package_for(
            patient, payer_id, values.get("payer_name") or "", reading.fields.get("plan_type")
        ),
    )


def _card_values(reading: CardReading) -> dict[str, Any]:
    """The card's fields as the insurance holds them (the payer by its canonical name when matched)."""
    values: dict[str, Any] = {}
    name = reading.payer.get("name") if reading.payer.get("decision") == "accept" else None
    values["payer_name"] = name or reading.fields.get("payer_name")
    values["member_id"] = "".join((reading.fields.get("member_id") or "").upper().split()) or None
    values["group_number"] = reading.fields.get("group_number")
    values["subscriber_name"] = reading.fields.get("subscriber_name")
    return values


@transaction.atomic
def card_reading_settle(*, upload: CardUpload, reading: CardReading, to_confirm: list[str]) -> str:
    """Keep the reading; confident fields flow into the insurance (source `ocr`), doubtful ones to staff."""
    upload = CardUpload.objects.select_for_update().select_related("patient__department").get(pk=upload.pk)
    values = _card_values(reading)
    upload.reading = json.dumps({**reading.fields, **values}, default=str)
    upload.confidence = {name: round(float(value), 3) for name, value in reading.confidence.items()}
    upload.payer_match = {key: reading.payer.get(key) for key in ("name", "score", "decision", "type")}
    upload.to_confirm = to_confirm
    upload.read_at = timezone.now()
    upload.lease_until = None
    upload.error = ""
    insurance = _insurance_for(upload, reading, values)
    upload.insurance = insurance
    confident = {name: value for name, value in values.items() if name not in to_confirm and value}
    _apply(upload, insurance, confident, event_id=f"ocr-{upload.pk}")
    card_signal_record(
        insurance=insurance,
        member_id_confidence=reading.confidence.get("member_id"),
        member_id_confusable=bool(reading.alternatives.get("member_id") or reading.needs_confirmation.get("member_id")),
        card_name_match=name_match(values.get("subscriber_name"), upload.patient),
    )
    if to_confirm:
        upload.state = State.NEEDS_REVIEW
        upload.save()
        OcrReview.objects.create(upload=upload, patient=upload.patient, department=upload.department, fields=to_confirm)
        _announce(upload, "submission.needs_confirmation", Submission.Status.NEEDS_CONFIRMATION, fields=to_confirm)
        return upload.state
    upload.state = State.READ
    upload.save()
    _continue(upload, member_id=values.get("member_id") or "")
    return upload.state


def _apply(upload: CardUpload, insurance: PatientInsurance, values: dict[str, Any], *, event_id: str) -> None:
    """The card's values enter the insurance's record; what the golden record does not track is set here."""
    holder: dict[str, Any] = {}
    card_name = values.get("subscriber_name")
    match = name_match(card_name, upload.patient)
    if card_name and match is not None and match < SAME_PERSON and " " in card_name:
        # Someone else's card (a parent's, a spouse's): they are the policy holder.
        first, _, last = card_name.title().rpartition(" ")
        holder = {"holder_first_name": first.split(" ")[0][:35], "holder_last_name": last[:60]}
    tracked = {name: values[name] for name in ("payer_name", "member_id", "group_number") if values.get(name)}
    coverage_observe(insurance=insurance, values={**tracked, **holder}, source="ocr", event_id=event_id)


def _continue(upload: CardUpload, *, member_id: str) -> None:
    """Every field is accepted: check the coverage with the card's id, and send the images along."""
    insurance = upload.insurance
    if insurance is None:
        return
    check_request(insurance=insurance, trigger=EligibilityCheck.Trigger.CARD, member_id=member_id)
    card_images_plan(upload=upload)


def card_images_plan(*, upload: CardUpload) -> WriteIntent | None:
    """The card image goes to athena once the insurance is there (or its creation is on the way)."""
    insurance = upload.insurance
    if insurance is None or upload.state != State.READ:
        return None
    patient = upload.patient
    create = (
        WriteIntent.objects.filter(
            patient=patient, operation=Operation.CREATE_INSURANCE, target__insurance_id=insurance.pk
        )
        .exclude(state__in=WriteIntent.FINAL_STATES)
        .first()
    )
    if not insurance.athena_insurance_id and create is None:
        return None  # the insurance reaches athena after verification; the ledger hook calls again
    intent, created = intent_create(
        operation=Operation.UPLOAD_CARD,
        patient=patient,
        department=patient.department,
        natural_key=f"upload_card:{upload.pk}",
        target={"insurance_id": insurance.pk, "card_upload_id": upload.pk},
        depends_on=create,
    )
    if created:
        upload.submission.intents.add(intent)
    return intent


def insurance_created_then_cards(intent_id: int) -> None:
    """Ledger hook: an insurance reached athena; the accepted cards read for it follow."""
    intent = WriteIntent.objects.get(pk=intent_id)
    if intent.operation != Operation.CREATE_INSURANCE or intent.state != WriteIntent.State.SUCCEEDED:
        return
    uploads = CardUpload.objects.filter(insurance_id=intent.target.get("insurance_id"), state=State.READ)
    with transaction.atomic():  # part of the settling transaction when called from the ledger
        for upload in uploads.select_related("patient__department", "insurance", "submission"):
            card_images_plan(upload=upload)


def _announce(upload: CardUpload, event_type: str, status: str, *, fields: list[str] | None = None) -> None:
    data: dict[str, Any] = {
        "submission_id": str(upload.submission.public_id),
        "kind": Submission.Kind.INSURANCE_CARD,
        "status": status,
    }
    if fields is not None:
        data["fields_to_confirm"] = fields
    portal_event_emit(type=event_type, department=upload.department, patient=upload.patient, data=data)


@transaction.atomic
def card_upload_unreadable(*, upload: CardUpload, why: str, actor: Any = None) -> CardUpload:
    """The card cannot be read: the patient is asked (a text, the portal) for a new photo."""
    from notify.services import notify_needs_attention

    upload = CardUpload.objects.select_for_update().select_related("patient__department").get(pk=upload.pk)
    upload.state = State.UNREADABLE
    upload.error = why[:200]
    upload.lease_until = None
    upload.save(update_fields=["state", "error", "lease_until", "updated_at"])
    notify_needs_attention(patient=upload.patient, reference=f"card-unreadable:{upload.pk}")
    _announce(upload, "submission.needs_attention", Submission.Status.NEEDS_ATTENTION)
    return upload


# --- staff review -------------------------------------------------------------------------------


def _staff(actor: Any) -> Actor | None:
    return Actor(type="user", id=str(actor.pk), label=actor.get_username()) if getattr(actor, "pk", None) else None


def _review_audit(review: OcrReview, decision: str, actor: Any) -> None:
    """Who decided what on which card; the fields are named, never their values."""
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="ocr-review",
        patient_ref=review.patient_id,
        department_ref=review.department_id,
        object_type="ocr_review",
        object_id=review.pk,
        detail={"fields": review.fields, "decision": decision},
        actor=_staff(actor),
    )


@transaction.atomic
def ocr_review_accept(*, review: OcrReview, values: dict[str, str], actor: Any) -> OcrReview:
    """Staff confirmed (or corrected) the doubtful fields against the image; the card flows on."""
    review = OcrReview.objects.select_for_update().select_related("upload__patient__department").get(pk=review.pk)
    if review.status != OcrReview.Status.OPEN:
        raise ValueError("this card was already reviewed")
    missing = [name for name in review.fields if name in ESSENTIAL and not (values.get(name) or "").strip()]
    if missing:
        raise ValueError("confirm a value for: " + ", ".join(missing))
    upload = review.upload
    cleaned = {name: (values.get(name) or "").strip() for name in review.fields}
    if cleaned.get("member_id"):
        cleaned["member_id"] = "".join(cleaned["member_id"].upper().split()).replace("-", "")
    review.status = OcrReview.Status.ACCEPTED
    review.confirmed = json.dumps(cleaned)
    review.decided_by = actor if getattr(actor, "pk", None) else None
    review.decided_at = timezone.now()
    review.save()
    insurance = upload.insurance
    if insurance is not None:
        # What the card says, confirmed by a person looking at it: still the card's word (source
        # `ocr`), ranked below athena's and the payer's, never a staff decision between them.
        _apply(upload, insurance, {k: v for k, v in cleaned.items() if v}, event_id=f"ocr-review-{review.pk}")
        if cleaned.get("payer_name") and not insurance.athena_insurance_package_id:
            reading = json.loads(upload.reading or "{}")
            insurance.athena_insurance_package_id = _package_for(
                upload.patient, insurance.payer_id, cleaned["payer_name"], reading.get("plan_type")
            )
            insurance.save(update_fields=["athena_insurance_package_id", "updated_at"])
    upload.state = State.READ
    upload.save(update_fields=["state", "updated_at"])
    _review_audit(review, "accepted", actor)
    member_id = cleaned.get("member_id") or json.loads(upload.reading or "{}").get("member_id") or ""
    _continue(upload, member_id=member_id)
    return review


@transaction.atomic
def ocr_review_new_photo(*, review: OcrReview, reason: str, actor: Any) -> OcrReview:
    """Staff cannot read the card either: the patient is asked for a new photo."""
    review = OcrReview.objects.select_for_update().select_related("upload").get(pk=review.pk)
    if review.status != OcrReview.Status.OPEN:
        raise ValueError("this card was already reviewed")
    review.status = OcrReview.Status.NEW_PHOTO
    review.reason = reason.strip()[:300]
    review.decided_by = actor if getattr(actor, "pk", None) else None
    review.decided_at = timezone.now()
    review.save()
    card_upload_unreadable(upload=review.upload, why="staff could not read the card", actor=actor)
    _review_audit(review, "new_photo", actor)
    return review
