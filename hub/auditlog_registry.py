"""django-auditlog registration of every model that holds PHI, with PHI fields fully masked.

Each model lists the few fields that are safe to show in a change history (ids, status,
timestamps); every other field is masked, so a new PHI column is masked by default.
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.apps import apps
from django.db import models

SAFE_FIELDS: dict[str, set[str]] = {
    "hub.Patient": {"id", "practice", "department", "athena_patient_id", "portal_patient_id", "status"},
    "hub.PatientInsurance": {
        "id",
        "patient",
        "athena_insurance_id",
        "athena_insurance_package_id",
        "sequence_number",
        "is_cancelled",
        "eligibility_status",
        "eligibility_checked_at",
    },
    "hub.Appointment": {
        "id",
        "practice",
        "athena_appointment_id",
        "department",
        "provider",
        "appointment_type",
        "patient",
        "status",
        "rescheduled_appointment_id",
    },
}
NEVER_TRACKED = {"created_at", "updated_at"}


def masked_fields(model: type[models.Model], safe: set[str]) -> list[str]:
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.name not in safe and field.name not in NEVER_TRACKED
    ]


def register_phi_models(extra: dict[str, set[str]] | None = None) -> None:
    """Register the core PHI models (and any `extra` ones from other apps) with full masking."""
    for label, safe in {**SAFE_FIELDS, **(extra or {})}.items():
        model = apps.get_model(label)
        if auditlog.contains(model):
            continue
        auditlog.register(model, exclude_fields=list(NEVER_TRACKED), mask_fields=masked_fields(model, safe))
