"""The golden record: one deterministic answer to "what is this patient's phone number?".

Every synced field keeps the log of changes reported by each source (portal, EHR, OCR,
eligibility, staff). `fold` replays a field's changes in a fixed order (source time, then source
rank, then event id) under the field group's policy, so the same set of changes — in any order,
with any duplicates — always gives the same value, baseline and conflict. `golden_merge` stores
new changes, re-folds the touched fields and says what follows: which fields changed, which the
hub must write to athena, which conflicts opened or closed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub.models import ChangeSet, FieldPolicy, FieldState, Patient, PatientInsurance

# Higher wins a tie at the same instant; also the order of authority for insurance fields.
SOURCE_RANK = {"portal": 1, "ocr": 2, "ehr": 3, "eligibility": 4, "staff": 5}
# Which side of the sync a source speaks for.
SIDE = {"portal": "portal", "ocr": "portal", "ehr": "ehr", "eligibility": "verified", "staff": "decision"}

DEFAULT_POLICIES: tuple[dict[str, Any], ...] = (
    {
        "field_group": "identity",
        "fields": ["first_name", "middle_name", "last_name", "dob", "sex", "ssn"],
        "authority": "ehr",
        "on_both_changed": "conflict",
        "description": "Identity was verified at the desk: the EHR is authoritative and staff settle disagreements.",
    },
    {
        "field_group": "contact",
        "fields": [
            "email",
            "home_phone",
            "mobile_phone",
            "work_phone",
            "address1",
            "address2",
            "city",
            "state",
            "zip_code",
            "preferred_language",
            "preferred_name",
            "consent_to_text",
            "consent_to_call",
        ],
        "authority": "portal",
        "on_both_changed": "authority",
        "description": "Contact details are the patient's own word: the portal wins, and the EHR is updated.",
    },
    {
        "field_group": "emergency",
        "fields": [
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
            "guarantor_first_name",
            "guarantor_last_name",
            "guarantor_dob",
            "guarantor_relationship",
        ],
        "authority": "portal",
        "on_both_changed": "authority",
        "description": "Emergency contact and guarantor: the portal wins, recorded.",
    },
    {
        # Each insurance keeps its own record: a field is stored as "insurance.<hub id>.<name>".
        "field_group": "insurance",
        "fields": [
            "insurance.payer_name",
            "insurance.member_id",
            "insurance.group_number",
            "insurance.holder_first_name",
            "insurance.holder_last_name",
            "insurance.holder_dob",
            "insurance.relationship_to_holder",
        ],
        "authority": "ehr",
        "on_both_changed": "conflict",
        "description": (
            "Insurance: a payer-verified value beats the EHR, the EHR beats the card (OCR), the card beats "
            "what was typed; staff decide when portal and EHR disagree, unless the payer verified one side."
        ),
    },
)
INSURANCE_PREFIX = "insurance."

UNSET = object()


@dataclass(frozen=True, order=True)
class Change:
    """One source's report of a field's value at a time (values are JSON-able: dates as ISO text)."""

    time: dt.datetime
    source: str
    event_id: str
    value: Any = field(compare=False)

    def sort_key(self) -> tuple[dt.datetime, int, str, str]:
        return (self.time, SOURCE_RANK.get(self.source, 0), self.event_id, _encode(self.value))


@dataclass(frozen=True)
class Outcome:
    value: Any
    source: str
    time: dt.datetime | None
    event_id: str
    baseline: Any
    last_ehr: Any
    last_portal: Any
    conflict: bool
    rule: str


@dataclass(frozen=True)
class Policy:
    group: str
    authority: str
    on_both_changed: str  # "conflict" | "authority"


def _encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def fold(changes: Iterable[Change], policy: Policy) -> Outcome | None:
    """Replay a field's changes in their fixed order under `policy`; None when there are none."""
    ordered = sorted(set(changes), key=Change.sort_key)
    if not ordered:
        return None
    sides: dict[str, Any] = {"portal": UNSET, "ehr": UNSET}
    last_ehr: Any = UNSET
    last_portal: Any = UNSET
    baseline: Any = UNSET
    value: Any = UNSET
    winner: Change = ordered[0]
    conflict = False
    rule = ""
    for change in ordered:
        side = SIDE.get(change.source, "portal")
        # What each side last reported, even when it moves nothing below: after a verified value or
        # a staff decision, athena echoing it back means athena holds it and needs no further write.
        if change.source == "ehr":
            last_ehr = change.value
        if side == "portal":
            last_portal = change.value
        if baseline is not UNSET and side in sides and sides[side] == change.value:
            # The same side saying the same thing again (athena reports every field on every
            # change) moves nothing: skipping it keeps provenance on the report that set the value.
            continue
        if baseline is UNSET or side in ("decision", "verified"):
            # The first value anyone reports, a staff decision and a payer-verified value are
            # agreed facts: every side starts again from them.
            baseline = value = change.value
            sides = {"portal": change.value, "ehr": change.value}
            winner, conflict, rule = change, False, "" if side not in ("decision", "verified") else f"{side} value"
            continue
        sides[side] = change.value
        portal_moved = sides["portal"] is not UNSET and sides["portal"] != baseline
        ehr_moved = sides["ehr"] is not UNSET and sides["ehr"] != baseline
        if portal_moved and ehr_moved and sides["portal"] != sides["ehr"]:
            authority_side = "ehr" if policy.authority == "ehr" else "portal"
            value = sides[authority_side]
            conflict = policy.on_both_changed == "conflict"
            rule = f"{policy.group}: portal and EHR both changed since they last agreed; " + (
                "staff decide" if conflict else f"the {authority_side} wins"
            )
            if value == change.value:
                winner = change
            continue
        conflict, rule = False, ""
        if sides["portal"] == sides["ehr"]:
            baseline = sides["portal"]  # both sides agree again: a new baseline
        value = change.value if (portal_moved or ehr_moved) else baseline
        if value == change.value:
            winner = change
    return Outcome(
        value=value,
        source=winner.source,
        time=winner.time,
        event_id=winner.event_id,
        baseline=baseline,
        last_ehr=None if last_ehr is UNSET else last_ehr,
        last_portal=None if last_portal is UNSET else last_portal,
        conflict=conflict,
        rule=rule,
    )


# --- storage --------------------------------------------------------------------------------------


def policies() -> dict[str, Policy]:
    """Field name → policy, from the (admin-editable) FieldPolicy table."""
    table: dict[str, Policy] = {}
    for row in FieldPolicy.objects.all():
        for name in row.fields:
            table[name] = Policy(row.field_group, row.authority, row.on_both_changed)
    return table


def insurance_field(insurance_id: int, name: str) -> str:
    """The golden-record name of one insurance's field: "insurance.<hub id>.<field>"."""
    return f"{INSURANCE_PREFIX}{insurance_id}.{name}"


def split_insurance_field(name: str) -> tuple[int, str] | None:
    """(insurance id, field) of an insurance field name, None for a patient field."""
    if not name.startswith(INSURANCE_PREFIX):
        return None
    insurance_id, _, field_name = name[len(INSURANCE_PREFIX) :].partition(".")
    return (int(insurance_id), field_name) if insurance_id.isdigit() and field_name else None


def policy_for(table: dict[str, Policy], name: str) -> Policy | None:
    """The policy of a field: patient fields by name, each insurance's fields by their group entry."""
    if name in table:
        return table[name]
    parsed = split_insurance_field(name)
    return table.get(f"{INSURANCE_PREFIX}{parsed[1]}") if parsed else None


def _owner_field(name: str) -> tuple[type[Any], str]:
    parsed = split_insurance_field(name)
    return (PatientInsurance, parsed[1]) if parsed else (Patient, name)


def field_to_json(patient: Patient | PatientInsurance, name: str) -> Any:
    """A field's current value as the golden record stores it (an insurance field is read from its row)."""
    parsed = split_insurance_field(name)
    owner: Any = patient
    if parsed and isinstance(patient, Patient):
        owner = PatientInsurance.objects.get(pk=parsed[0], patient=patient)
    value = getattr(owner, _owner_field(name)[1])
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def json_to_field(name: str, value: Any) -> Any:
    model, attribute = _owner_field(name)
    model_field = model._meta.get_field(attribute)
    if value is None:
        return None if model_field.null else ("" if model_field.get_internal_type() != "BooleanField" else False)
    if model_field.get_internal_type() == "DateField" and isinstance(value, str):
        return dt.date.fromisoformat(value) if value else None
    return value


@dataclass
class MergeResult:
    changed_fields: list[str] = field(default_factory=list)
    athena_fields: list[str] = field(default_factory=list)
    conflicts: dict[str, Outcome] = field(default_factory=dict)
    cleared_conflicts: list[str] = field(default_factory=list)
    new_changes: int = 0


def _load(value: str | None) -> Any:
    return json.loads(value) if value not in (None, "") else None


def _store_change_sets(
    patient: Patient, changes: list[tuple[str, Change]], table: dict[str, Policy]
) -> list[ChangeSet]:
    """Group the changes by report (source + event) and insert the reports not seen before."""
    reports: dict[tuple[str, str], tuple[Change, dict[str, Any]]] = {}
    for name, change in changes:
        if policy_for(table, name) is None:
            continue
        key = (change.source, change.event_id[:100])
        _first, values = reports.setdefault(key, (change, {}))
        values[name] = change.value
    if not reports:
        return []
    existing = set(
        ChangeSet.objects.filter(
            patient=patient, source__in={key[0] for key in reports}, event_id__in={key[1] for key in reports}
        ).values_list("source", "event_id")
    )
    fresh = [
        ChangeSet(patient=patient, source=source, source_time=change.time, event_id=event_id, values=_encode(values))
        for (source, event_id), (change, values) in reports.items()
        if (source, event_id) not in existing
    ]
    # A duplicate racing in between is refused by the unique constraint and simply not inserted.
    ChangeSet.objects.bulk_create(fresh, ignore_conflicts=True)
    return fresh


def _ehr_repeats(patient: Patient, report: ChangeSet, log: list[ChangeSet]) -> dict[str, str]:
    """Fields of a new athena report that repeat athena's previous report and so move nothing.

    Replaying the log, the same side saying the same thing again is skipped, so for such a field
    the fold's outcome is the one already stored and need not be computed again. That holds when
    the report sorts after every earlier change of the patient and athena's previous report came
    after every change from any other source (no portal edit, staff decision or payer answer
    since), and the field is not in conflict. athena reports every field on every change, so
    this spares the fold (and its decryption) of all but the fields that did change.

    `log` is the patient's whole log, the report included. Returns field → the source of its
    stored value.
    """
    if report.source != "ehr":
        return {}
    earlier = [row for row in log if (row.source, row.event_id) != (report.source, report.event_id)]
    reports = [row for row in earlier if row.source == "ehr"]
    if not reports or any(row.source_time >= report.source_time for row in earlier):
        return {}
    previous = max(reports, key=lambda row: (row.source_time, row.event_id))
    if any(row.source != "ehr" and row.source_time >= previous.source_time for row in earlier):
        return {}
    before, now = _load(previous.values), _load(report.values)
    repeats = {name for name, value in now.items() if name in before and _encode(before[name]) == _encode(value)}
    settled = FieldState.objects.filter(patient=patient, field__in=repeats, in_conflict=False)
    return dict(settled.values_list("field", "source"))


@transaction.atomic
def golden_merge(*, patient: Patient, changes: list[tuple[str, Change]]) -> MergeResult:
    """Record a patient's `(field, change)` pairs and bring its golden record up to date.

    Cost is a handful of queries whatever the number of fields: one insert for the new report,
    one read of the patient's log and states, one bulk write of the states that moved.
    """
    table = policies()
    result = MergeResult()
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    fresh = _store_change_sets(locked, changes, table)
    if not fresh:
        return result
    result.new_changes = sum(len(_load(row.values)) for row in fresh)
    touched = {name for row in fresh for name in _load(row.values)}
    rows = list(ChangeSet.objects.filter(patient=locked).only("source", "source_time", "event_id", "values"))
    unmoved = _ehr_repeats(locked, fresh[0], rows) if len(fresh) == 1 else {}
    if unmoved:
        touched -= set(unmoved)
        # What the full fold would have listed again for them: decided values athena still lacks.
        decided = [name for name, source in unmoved.items() if source != "ehr"]
        if decided:
            pending = FieldState.objects.filter(patient=locked, field__in=decided)
            for name, stored, athena_has in pending.values_list("field", "value", "last_ehr"):
                if stored != athena_has:
                    result.athena_fields.append(name)
    log: dict[str, list[Change]] = {name: [] for name in touched}
    for row in rows:
        for name, value in _load(row.values).items():
            if name in log:
                log[name].append(Change(row.source_time, row.source, row.event_id, value))
    states = {state.field: state for state in FieldState.objects.filter(patient=locked, field__in=touched)}
    insurance_ids = {parsed[0] for name in touched if (parsed := split_insurance_field(name))}
    insurances = {
        row.pk: row for row in PatientInsurance.objects.select_for_update().filter(patient=locked, pk__in=insurance_ids)
    }
    insurance_updates: dict[int, list[str]] = {}
    created: list[FieldState] = []
    updated: list[FieldState] = []
    patient_updates: list[str] = []
    for name in sorted(touched):
        policy = policy_for(table, name)
        outcome = fold(log[name], policy) if policy is not None else None
        if outcome is None:
            continue
        values = {
            "value": _encode(outcome.value),
            "source": outcome.source,
            "source_time": outcome.time,
            "event_id": outcome.event_id[:100],
            "baseline": _encode(outcome.baseline),
            "last_ehr": _encode(outcome.last_ehr),
            "last_portal": _encode(outcome.last_portal),
            "in_conflict": outcome.conflict,
            "rule": outcome.rule[:200],
        }
        previous = states.get(name)
        was_in_conflict = previous.in_conflict if previous else False
        if previous is None:
            created.append(FieldState(patient=locked, field=name, **values))
        elif any(getattr(previous, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(previous, key, value)
            previous.updated_at = timezone.now()  # bulk_update skips auto_now
            updated.append(previous)
        new_value = json_to_field(name, outcome.value)
        parsed = split_insurance_field(name)
        owner: Patient | PatientInsurance | None = insurances.get(parsed[0]) if parsed else locked
        attribute = parsed[1] if parsed else name
        if owner is not None and getattr(owner, attribute) != new_value:
            setattr(owner, attribute, new_value)
            if parsed:
                insurance_updates.setdefault(parsed[0], []).append(attribute)
            else:
                patient_updates.append(name)
            result.changed_fields.append(name)
        if outcome.conflict:
            result.conflicts[name] = outcome
        elif was_in_conflict:
            result.cleared_conflicts.append(name)
        ehr_unknown = not any(change.source == "ehr" for change in log[name])
        if (
            not outcome.conflict
            and outcome.source != "ehr"
            and outcome.value != outcome.last_ehr
            # With no report from athena yet, only a value that just changed needs writing.
            and (not ehr_unknown or name in result.changed_fields)
        ):
            result.athena_fields.append(name)
    FieldState.objects.bulk_create(created)
    for state in updated:  # usually one or two fields: plain UPDATEs beat bulk_update's CASE chains
        state.save(update_fields=[*FIELD_STATE_COLUMNS, "updated_at"])
    if patient_updates:
        locked.save(update_fields=[*patient_updates, "updated_at"])
        for name in patient_updates:
            setattr(patient, name, getattr(locked, name))
    for insurance_id, attributes in insurance_updates.items():
        insurances[insurance_id].save(update_fields=[*attributes, "updated_at"])
    return result


FIELD_STATE_COLUMNS = (
    "value",
    "source",
    "source_time",
    "event_id",
    "baseline",
    "last_ehr",
    "last_portal",
    "in_conflict",
    "rule",
)


def ensure_default_policies() -> None:
    """Seed the field policy table from DEFAULT_POLICIES (rows staff edited are left alone)."""
    for row in DEFAULT_POLICIES:
        FieldPolicy.objects.get_or_create(field_group=row["field_group"], defaults=row)
