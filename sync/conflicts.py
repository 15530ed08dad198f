"""Conflicts: fields where portal and EHR both changed and the policy asks a person to decide."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub.audit import audit_record
from hub.context import Actor
from hub.golden import Change, MergeResult, field_to_json, golden_merge
from hub.models import AuditEvent, FieldState, Patient
from sync.models import Conflict


def _text(value: Any) -> str:
    return "" if value is None else (value if isinstance(value, str) else json.dumps(value))


def conflicts_sync(*, patient: Patient, result: MergeResult) -> list[Conflict]:
    """Open (or refresh) a conflict per field the merge left in conflict; close those that settled."""
    opened: list[Conflict] = []
    for name, outcome in result.conflicts.items():
        values = {
            "department": patient.department,
            "portal_value": _text(outcome.last_portal),
            "ehr_value": _text(outcome.last_ehr),
            "baseline_value": _text(outcome.baseline),
            "rule": outcome.rule[:200],
        }
        conflict = Conflict.objects.filter(patient=patient, field=name, status=Conflict.Status.OPEN).first()
        if conflict is None:
            conflict = Conflict.objects.create(patient=patient, field=name, **values)
            opened.append(conflict)
            audit_record(
                system=AuditEvent.System.HUB,
                direction=AuditEvent.Direction.INTERNAL,
                action="conflict-opened",
                patient_ref=patient.pk,
                department_ref=patient.department_id,
                object_type="conflict",
                object_id=conflict.pk,
                detail={"field": name},
            )
        else:
            for key, value in values.items():
                setattr(conflict, key, value)
            conflict.save()
    if result.cleared_conflicts:
        Conflict.objects.filter(
            patient=patient, field__in=result.cleared_conflicts, status=Conflict.Status.OPEN
        ).update(status=Conflict.Status.CONVERGED, resolved_at=timezone.now())
    return opened


@transaction.atomic
def conflict_resolve(*, conflict: Conflict, choice: str, value: Any = None, reason: str, actor: Any) -> Conflict:
    """A staff decision: apply the chosen value to the hub, athena (ledger) and the portal (event)."""
    from sync.inbound import announce_merge

    conflict = Conflict.objects.select_for_update().select_related("patient__department").get(pk=conflict.pk)
    if conflict.status != Conflict.Status.OPEN:
        raise ValueError("this conflict is already settled")
    if not reason.strip():
        raise ValueError("a reason is required")
    state = FieldState.objects.get(patient=conflict.patient, field=conflict.field)
    if choice == Conflict.Choice.PORTAL:
        chosen = json.loads(state.last_portal) if state.last_portal else None
    elif choice == Conflict.Choice.EHR:
        chosen = json.loads(state.last_ehr) if state.last_ehr else None
    elif choice == Conflict.Choice.EDITED:
        chosen = value
    else:
        raise ValueError("choose the portal value, the EHR value or an edited value")
    patient = conflict.patient
    result = golden_merge(
        patient=patient,
        changes=[(conflict.field, Change(timezone.now(), "staff", f"conflict-{conflict.pk}", chosen))],
    )
    conflict.status = Conflict.Status.RESOLVED
    conflict.resolution = choice
    conflict.resolved_value = _text(field_to_json(patient, conflict.field))
    conflict.resolved_at = timezone.now()
    conflict.resolved_by = actor if getattr(actor, "pk", None) else None
    conflict.reason = reason.strip()[:300]
    conflict.save()
    announce_merge(patient=patient, result=result, event_id=f"conflict-{conflict.pk}", force=[conflict.field])
    who = Actor(type="user", id=str(actor.pk), label=actor.get_username()) if getattr(actor, "pk", None) else None
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action="conflict-resolved",
        patient_ref=patient.pk,
        department_ref=patient.department_id,
        object_type="conflict",
        object_id=conflict.pk,
        detail={"field": conflict.field, "choice": choice},
        actor=who,
    )
    return conflict
