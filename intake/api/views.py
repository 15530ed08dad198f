"""Portal API views: authenticate, check scope and location, validate, call one service, shape the answer.

Every write needs an Idempotency-Key and answers 202 with the submission once it and its intents
are committed. Objects outside the client's granted locations answer 404, as if they did not exist.
Every call writes one audit row (portal, inbound) with the route template and ids, never values.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub import context
from hub.athena import athena_client
from hub.audit import audit_record, outcome_for_status
from hub.integrations.athena.errors import AthenaError, AthenaNotFoundError, AthenaPermanentError
from hub.models import Appointment, AuditEvent, Department, Patient
from intake import services
from intake.api import serializers as s
from intake.api.auth import HasPortalScope, PortalOAuth2Authentication, granted_departments
from intake.api.card_images import card_image_validate
from intake.api.idempotency import KEY_PATTERN, require_key, run_idempotent
from intake.api.problems import Problem
from intake.cards import card_upload_accept
from intake.completeness import missing_fields
from intake.models import PortalClient, Submission
from intake.slots import slots_search
from sync.models import PortalEvent
from sync.portal_events import event_payload

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=KEY_PATTERN.pattern,
    description="A unique key per write (e.g. a UUID)",
)


class PortalAPIView(APIView):
    """Base of every portal endpoint."""

    authentication_classes = [PortalOAuth2Authentication]
    permission_classes = [HasPortalScope]
    # JSON bodies only: a form encoding reads an empty value as null and cannot carry the nested
    # answers of an intake form. A view that takes a file sets its own (e.g. MultiPartParser).
    parser_classes = [JSONParser]
    scopes: dict[str, str] = {}
    # Every portal write carries an Idempotency-Key (see `intake.api.idempotency`).
    write_methods = ("POST", "PUT", "PATCH", "DELETE")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        request.audit_started = time.monotonic()  # type: ignore[attr-defined]
        super().initial(request, *args, **kwargs)
        client = self.client
        actor = context.Actor(type="portal_client", id=str(client.pk), label=client.name)
        self._actor_token = context.push_actor(actor)
        if request.method in self.write_methods and hasattr(self, (request.method or "").lower()):
            # Checked before any lookup or athena read: a write without a key is refused unseen.
            require_key(request)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        actor_token = getattr(self, "_actor_token", None)
        client: PortalClient | None = getattr(request, "portal_client", None)
        started = getattr(request, "audit_started", time.monotonic())
        match = request.resolver_match
        audit_record(
            system=AuditEvent.System.PORTAL,
            direction=AuditEvent.Direction.INBOUND,
            action="api",
            method=request.method or "",
            route="/" + (match.route if match else request.path).lstrip("/"),
            status_code=response.status_code,
            outcome=outcome_for_status(response.status_code),
            latency_ms=int((time.monotonic() - started) * 1000),
            patient_ref=getattr(request, "audit_patient_ref", None),
            department_ref=getattr(request, "audit_department_ref", None),
            object_type=getattr(request, "audit_object_type", ""),
            object_id=getattr(request, "audit_object_id", None),
            actor=context.Actor(type="portal_client", id=str(client.pk), label=client.name)
            if client
            else context.Actor(type="anonymous", id="-"),
        )
        if actor_token is not None:
            context.pop_actor(actor_token)
            del self._actor_token
        return response

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def client(self) -> PortalClient:
        return self.request.portal_client  # type: ignore[attr-defined]

    def departments(self) -> QuerySet[Department]:
        return granted_departments(self.client)

    def location(self, location_id: str) -> Department:
        department = self.departments().filter(athena_department_id=location_id).first()
        if department is None:
            raise Problem(404, "location-not-found", "No such location for this client.")
        self.request.audit_department_ref = department.pk  # type: ignore[attr-defined]
        return department

    def patient(self, public_id: Any) -> Patient:
        patient = (
            Patient.objects.select_related("department")
            .filter(public_id=public_id, department__in=self.departments())
            .first()
        )
        if patient is None:
            raise Problem(404, "patient-not-found", "No such patient for this client.")
        self.request.audit_patient_ref = patient.pk  # type: ignore[attr-defined]
        self.request.audit_department_ref = patient.department_id  # type: ignore[attr-defined]
        return patient

    def appointment(self, appointment_id: str) -> Appointment:
        appointment = (
            Appointment.objects.select_related("department", "patient")
            .filter(athena_appointment_id=appointment_id, department__in=self.departments(), patient__isnull=False)
            .first()
        ) or self.booking_on_its_way(appointment_id)
        if appointment is None:
            raise Problem(404, "appointment-not-found", "No such appointment for this client.")
        self.request.audit_patient_ref = appointment.patient_id  # type: ignore[attr-defined]
        self.request.audit_department_ref = appointment.department_id  # type: ignore[attr-defined]
        self.request.audit_object_type = "appointment"  # type: ignore[attr-defined]
        self.request.audit_object_id = appointment.athena_appointment_id  # type: ignore[attr-defined]
        return appointment

    def booking_on_its_way(self, appointment_id: str) -> Appointment | None:
        """A slot this client booked for a patient (202), whose booking has not reached athena yet.

        The appointment gets its patient once athena confirms the booking; until then its booking
        intent names the patient, so a cancellation or a move can wait on the booking's outcome.
        """
        from sync.models import WriteIntent

        intent = (
            WriteIntent.objects.filter(
                operation=WriteIntent.Operation.BOOK_APPOINTMENT,
                target__appointment_id=appointment_id,
                department__in=self.departments(),
                submissions__client=self.client,
            )
            .exclude(state__in=WriteIntent.FINAL_STATES)
            .select_related("patient")
            .order_by("-pk")
            .first()
        )
        if intent is None or intent.patient is None:
            return None
        appointment = (
            Appointment.objects.select_related("department")
            .filter(athena_appointment_id=appointment_id, department=intent.department_id, patient__isnull=True)
            .first()
        )
        if appointment is not None:
            appointment.patient = intent.patient  # in memory only: athena's answer sets it for good
        return appointment

    def open_slot(self, slot_id: str, departments: Any) -> dict[str, Any] | None:
        """Look the slot up in athena: taken or at another location is refused now; athena down still accepts.

        `departments` are where the slot may be; any other location answers 404, as if it did not exist.
        """
        try:
            slot = athena_client().get_appointment(slot_id)
        except AthenaNotFoundError as exc:
            raise Problem(404, "slot-not-found", "No such slot.") from exc
        except AthenaError:
            return None  # the ledger will find out when athena is back
        if slot.department_id not in {department.athena_department_id for department in departments}:
            raise Problem(404, "slot-not-found", "No such slot at this location.")
        if slot.status != "o":
            raise Problem(409, "slot-unavailable", "That time was just taken; choose another slot.")
        return {
            "date": slot.date,
            "start_time": slot.start_time,
            "duration_minutes": slot.duration_minutes,
            "provider_id": slot.provider_id,
            "appointment_type_id": slot.appointment_type_id,
        }

    @staticmethod
    def owner(appointment: Appointment) -> Patient:
        if appointment.patient is None:  # `appointment()` only returns booked appointments
            raise Problem(404, "appointment-not-found", "No such appointment for this client.")
        return appointment.patient

    def validated_query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """Query parameters as one value each: a repeated or empty parameter is an error, not a default."""
        params = self.request.query_params
        repeated = sorted(name for name, values in params.lists() if len(values) > 1)
        if repeated:
            raise Problem(
                400,
                "validation-error",
                "Some fields are missing or invalid; see errors.",
                errors={name: ["Give this parameter once."] for name in repeated},
            )
        # A plain dict, not the QueryDict: DRF reads an empty form value as "not given".
        return self.validated(serializer_class, params.dict(), json_types=False)

    def validated(
        self, serializer_class: type[serializers.Serializer], data: Any, *, json_types: bool = True
    ) -> dict[str, Any]:
        unstorable = text_errors(data)
        if unstorable:  # before anything reads the values, so nothing half-written can follow
            raise serializers.ValidationError(unstorable)
        serializer = serializer_class(data=data)
        # DRF coerces (0 → "0", "true" → True); the schema promises JSON types, so hold the body to them.
        wrong = json_type_errors(serializer, data) if json_types else {}
        if not serializer.is_valid() or wrong:
            raise serializers.ValidationError({**serializer.errors, **wrong})
        return dict(serializer.validated_data)

    def require_complete(self, operation: str, values: dict[str, Any]) -> None:
        missing = missing_fields(operation, values)
        if missing:
            raise Problem(
                422,
                "incomplete-submission",
                "athena needs more information for this request: " + ", ".join(label for _, label in missing) + ".",
                errors={name: ["This field is required for this request."] for name, _ in missing},
                extra={"missing_fields": [name for name, _ in missing]},
            )

    def accepted(self, payload: Any, work: Any) -> Response:
        """Run a write under the request's Idempotency-Key; answer 202 with the submission."""

        def run(key: str) -> tuple[int, dict[str, Any]]:
            submission: Submission = work(key)
            self.request.audit_object_type = "submission"  # type: ignore[attr-defined]
            self.request.audit_object_id = str(submission.public_id)  # type: ignore[attr-defined]
            self.request.audit_patient_ref = submission.patient_id  # type: ignore[attr-defined]
            return 202, dict(s.SubmissionOut(submission).data)

        response = run_idempotent(self.request, self.client, payload, run)
        if response.status_code == 202 and isinstance(response.data, dict):
            response["Location"] = f"/api/v1/submissions/{response.data.get('id')}"
        return response


JSON_TYPES: tuple[tuple[type | tuple[type, ...], type, str], ...] = (
    (serializers.BooleanField, bool, "true or false"),
    (serializers.IntegerField, int, "a whole number"),
    (serializers.DictField, dict, "an object"),
    (serializers.ListField, list, "an array"),
    (
        (serializers.CharField, serializers.DateField, serializers.DateTimeField, serializers.UUIDField),
        str,
        "a string",
    ),
)


NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Text must be valid Unicode (a lone surrogate was sent)."


def _text_problem(value: Any) -> str | None:
    """Why a value, at any depth (keys too), is text no database can store: a NUL or a lone surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
            if any("\ud800" <= char <= "\udfff" for char in item):
                return SURROGATE_MESSAGE
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def text_errors(data: Any) -> dict[str, list[str]]:
    """Fields of a body that carry text PostgreSQL cannot store (JSON allows both; jsonb and text do not)."""
    if not isinstance(data, dict):
        return {}
    errors: dict[str, list[str]] = {}
    for name in data:
        values = data.getlist(name) if isinstance(data, QueryDict) else [data[name]]
        found = _text_problem(name) or next((p for v in values if (p := _text_problem(v))), None)
        if found:
            errors[name if isinstance(name, str) and not _text_problem(name) else "body"] = [found]
    return errors


def json_type_errors(serializer: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    """Fields of a JSON body whose value is not of the type the schema gives them.

    A multipart form (a file upload) carries every value as text; its fields are checked by the
    serializer alone.
    """
    if not isinstance(data, dict) or isinstance(data, QueryDict):
        return {}
    errors: dict[str, list[str]] = {}
    for name, field in serializer.fields.items():
        value = data.get(name)
        if name not in data or value is None or field.read_only:
            continue
        wanted: type
        if isinstance(field, serializers.ChoiceField):
            kinds = {type(choice) for choice in field.choices}
            wanted, label = (int, "one of the listed numbers") if kinds == {int} else (str, "one of the listed strings")
        else:
            found = next(((kind, label) for classes, kind, label in JSON_TYPES if isinstance(field, classes)), None)
            if found is None:
                continue
            wanted, label = found
        # bool is an int in Python, never in JSON.
        if not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool)):
            errors[name] = [f"Send {label}."]
    return errors


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in values.items()}


class LocationListView(PortalAPIView):
    scopes = {"GET": "read"}

    @extend_schema(responses=s.LocationOut(many=True), summary="Locations this client may use")
    def get(self, request: Request) -> Response:
        return Response(s.LocationOut(self.departments().order_by("name"), many=True).data)


class PatientRegisterView(PortalAPIView):
    scopes = {"POST": "patients:write"}

    @extend_schema(
        request=s.RegistrationSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Register a patient (creates the athena chart exactly once)",
    )
    def post(self, request: Request) -> Response:
        values = self.validated(s.RegistrationSerializer, request.data)
        department = self.location(values.pop("location_id"))
        portal_patient_id = values.pop("portal_patient_id")
        self.require_complete("register_patient", values)
        return self.accepted(
            {**_jsonable(values), "portal_patient_id": portal_patient_id, "location": department.pk},
            lambda key: services.submission_register_patient(
                client=self.client,
                department=department,
                values=values,
                portal_patient_id=portal_patient_id,
                request_key=key,
            ),
        )


class PatientDetailView(PortalAPIView):
    scopes = {"GET": "read", "PATCH": "patients:write"}

    @extend_schema(responses=s.PatientOut, summary="The patient as the hub knows it")
    def get(self, request: Request, patient_id: Any) -> Response:
        return Response(s.PatientOut(self.patient(patient_id)).data)

    @extend_schema(
        request=s.DemographicsUpdateSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Update demographics",
    )
    def patch(self, request: Request, patient_id: Any) -> Response:
        patient = self.patient(patient_id)
        values = self.validated(s.DemographicsUpdateSerializer, request.data)
        return self.accepted(
            {**_jsonable(values), "patient": str(patient.public_id)},
            lambda key: services.submission_update_demographics(
                client=self.client, patient=patient, values=values, request_key=key
            ),
        )


class IntakeFormView(PortalAPIView):
    scopes = {"POST": "intake:write"}

    @extend_schema(
        request=s.IntakeFormSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Submit an intake form (answers and consents)",
    )
    def post(self, request: Request, patient_id: Any) -> Response:
        patient = self.patient(patient_id)
        values = self.validated(s.IntakeFormSerializer, request.data)
        return self.accepted(
            {**_jsonable(values), "patient": str(patient.public_id)},
            lambda key: services.submission_intake_form(client=self.client, patient=patient, request_key=key, **values),
        )


class InsuranceView(PortalAPIView):
    scopes = {"POST": "insurance:write"}

    @extend_schema(
        request=s.InsuranceSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Submit the patient's insurance",
    )
    def post(self, request: Request, patient_id: Any) -> Response:
        patient = self.patient(patient_id)
        values = self.validated(s.InsuranceSerializer, request.data)
        # athena needs the policy holder on every insurance; a self-insured patient is the holder.
        holder = dict(values)
        if values["relationship_to_holder"] == "self":
            holder.update(
                relationship_to_holder="self-as-holder",
                holder_first_name=values["holder_first_name"] or patient.first_name,
                holder_last_name=values["holder_last_name"] or patient.last_name,
                holder_dob=values["holder_dob"] or patient.dob,
                holder_sex=values["holder_sex"] or (patient.sex if patient.sex in ("F", "M") else ""),
            )
        self.require_complete("add_insurance", holder)
        values["athena_insurance_package_id"] = values.pop("insurance_package_id")
        return self.accepted(
            {**_jsonable(values), "patient": str(patient.public_id)},
            lambda key: services.submission_insurance(
                client=self.client, patient=patient, values=values, request_key=key
            ),
        )


class InsuranceCardView(PortalAPIView):
    """Insurance card photos: stored encrypted, read by OCR in the background."""

    scopes = {"POST": "insurance:write"}
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": s.CardUploadSerializer},
        responses={
            202: s.SubmissionOut,
            413: OpenApiResponse(description="A photo is larger than the upload limit"),
            415: OpenApiResponse(description="A file is not a JPEG or PNG photo (HEIC, PDF, anything else)"),
            422: OpenApiResponse(
                description="A photo is empty, truncated, too small to read or has too many pixels; "
                "or the Idempotency-Key was used with another request"
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        summary="Upload the patient's insurance card (front, optionally back)",
    )
    def post(self, request: Request, patient_id: Any) -> Response:
        patient = self.patient(patient_id)
        values = self.validated(s.CardUploadSerializer, request.data)
        insurance = None
        if values.get("insurance_id"):
            insurance = patient.insurances.filter(pk=values["insurance_id"], is_cancelled=False).first()
            if insurance is None:
                raise Problem(404, "insurance-not-found", "No such insurance for this patient.")
        # Every check runs before anything is stored or the Idempotency-Key is claimed.
        front = card_image_validate(values["front"], side="front")
        back = card_image_validate(values["back"], side="back") if values.get("back") else None
        payload = {
            "patient": str(patient.public_id),
            "front": front.sha256,
            "back": back.sha256 if back else None,
            "insurance_id": values.get("insurance_id"),
            "sequence_number": values["sequence_number"],
        }
        return self.accepted(
            payload,
            lambda key: card_upload_accept(
                client=self.client,
                patient=patient,
                front=front,
                back=back,
                insurance=insurance,
                sequence_number=int(values["sequence_number"]),
                request_key=key,
            ),
        )


class SlotListView(PortalAPIView):
    scopes = {"GET": "read"}

    @extend_schema(
        parameters=[s.SlotQuerySerializer],
        responses={
            200: s.SlotOut(many=True),
            422: OpenApiResponse(description="athena refused this search"),
            503: OpenApiResponse(description="athena is unavailable; retry shortly"),
        },
        summary="Open slots",
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(s.SlotQuerySerializer)
        department = self.location(query["location_id"])
        try:
            payload = slots_search(
                department=department,
                start=query["start"],
                end=query["end"],
                provider_ids=query["provider_id"].split(",") if query.get("provider_id") else None,
                reason_ids=query["reason_id"].split(",") if query.get("reason_id") else None,
                appointment_type_id=query.get("appointment_type_id") or None,
            )
        except AthenaPermanentError as exc:
            # athena refused the search itself: retrying the same request cannot help.
            raise Problem(422, "athena-rejected-search", "athena refused this slot search.") from exc
        except AthenaError as exc:
            raise Problem(
                503, "athena-unavailable", "athena could not list open slots right now; retry shortly."
            ) from exc
        return Response(s.SlotOut(payload, many=True).data)


class BookingView(PortalAPIView):
    scopes = {"POST": "appointments:write"}

    @extend_schema(
        request=s.BookingSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Book an open slot",
    )
    def post(self, request: Request) -> Response:
        values = self.validated(s.BookingSerializer, request.data)
        patient = self.patient(values["patient_id"])
        department = self.location(values["location_id"])
        slot = self.open_slot(values["slot_id"], [department])
        return self.accepted(
            _jsonable(values),
            lambda key: services.submission_book(
                client=self.client,
                patient=patient,
                department=department,
                slot_id=values["slot_id"],
                appointment_type_id=values["appointment_type_id"],
                reason_id=values["reason_id"],
                slot=slot,
            ),
        )


class AppointmentCancelView(PortalAPIView):
    scopes = {"POST": "appointments:write"}

    @extend_schema(
        request=s.CancelSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Cancel an appointment",
    )
    def post(self, request: Request, appointment_id: str) -> Response:
        appointment = self.appointment(appointment_id)
        values = self.validated(s.CancelSerializer, request.data)
        if appointment.status == Appointment.Status.CANCELLED:
            raise Problem(409, "appointment-cancelled", "This appointment is already cancelled.")
        return self.accepted(
            {**values, "appointment": appointment_id},
            lambda key: services.submission_cancel(
                client=self.client, appointment=appointment, patient=self.owner(appointment), reason=values["reason"]
            ),
        )


class AppointmentRescheduleView(PortalAPIView):
    scopes = {"POST": "appointments:write"}

    @extend_schema(
        request=s.RescheduleSerializer,
        responses={202: s.SubmissionOut},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Move an appointment to another open slot",
    )
    def post(self, request: Request, appointment_id: str) -> Response:
        appointment = self.appointment(appointment_id)
        values = self.validated(s.RescheduleSerializer, request.data)
        if appointment.status == Appointment.Status.CANCELLED:
            raise Problem(409, "appointment-cancelled", "This appointment is cancelled; book a new one.")
        # The new slot must be one this client may book: otherwise a patient could be moved into
        # a clinic the portal was never granted.
        self.open_slot(values["new_slot_id"], self.departments())
        return self.accepted(
            {**values, "appointment": appointment_id},
            lambda key: services.submission_reschedule(
                client=self.client,
                appointment=appointment,
                patient=self.owner(appointment),
                new_slot_id=values["new_slot_id"],
                reason=values["reason"],
            ),
        )


class AppointmentCheckInView(PortalAPIView):
    scopes = {"POST": "appointments:write"}

    @extend_schema(request=None, responses={202: s.SubmissionOut}, parameters=[IDEMPOTENCY_HEADER], summary="Check in")
    def post(self, request: Request, appointment_id: str) -> Response:
        appointment = self.appointment(appointment_id)
        if appointment.status not in (Appointment.Status.FUTURE, Appointment.Status.CHECKED_IN):
            raise Problem(409, "appointment-not-checkable", "Only a booked appointment can be checked in.")
        if appointment.date != timezone.localtime(timezone.now(), appointment.department.tzinfo).date():
            raise Problem(409, "appointment-not-today", "Check-in opens on the day of the appointment.")
        return self.accepted(
            {"appointment": appointment_id},
            lambda key: services.submission_check_in(
                client=self.client, appointment=appointment, patient=self.owner(appointment)
            ),
        )


class SubmissionDetailView(PortalAPIView):
    scopes = {"GET": "read"}

    @extend_schema(responses=s.SubmissionOut, summary="A submission's status with each of its intents")
    def get(self, request: Request, submission_id: Any) -> Response:
        submission = (
            Submission.objects.for_client(self.client)
            .select_related("patient", "department")
            .prefetch_related("intents")
            .filter(public_id=submission_id, department__in=self.departments())
            .first()
        )
        if submission is None:
            raise Problem(404, "submission-not-found", "No such submission for this client.")
        request.audit_patient_ref = submission.patient_id  # type: ignore[attr-defined]
        return Response(s.SubmissionOut(submission).data)


class EventListView(PortalAPIView):
    """Backfill: the portal events of granted locations after a cursor, oldest first."""

    scopes = {"GET": "read"}

    @extend_schema(
        parameters=[s.EventQuerySerializer], responses=s.EventPageOut, summary="Events since a cursor (backfill)"
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(s.EventQuerySerializer)
        limit = query["limit"]
        rows = list(
            PortalEvent.objects.for_departments(self.departments())
            .filter(pk__gt=query["after"])
            .order_by("pk")[: limit + 1]
        )
        page = rows[:limit]
        return Response(
            {
                "events": [event_payload(event) for event in page],
                "next_cursor": page[-1].pk if page else query["after"],
                "has_more": len(rows) > limit,
            }
        )
