"""The golden record: deterministic merging of portal, EHR and staff changes under the field policy."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.golden import Change, Policy, fold, golden_merge
from hub.models import FieldState
from tests.factories import make_department, make_patient

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
IDENTITY = Policy("identity", authority="ehr", on_both_changed="conflict")
CONTACT = Policy("contact", authority="portal", on_both_changed="authority")


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_one_side_changing_is_taken_whatever_the_policy() -> None:
    changes = [Change(at(0), "ehr", "import", "Smith"), Change(at(5), "portal", "sub-1", "Smyth")]
    outcome = fold(changes, IDENTITY)
    assert outcome is not None
    assert (outcome.value, outcome.conflict, outcome.baseline) == ("Smyth", False, "Smith")


def test_both_sides_changing_an_identity_field_is_a_conflict_and_the_ehr_value_stands() -> None:
    changes = [
        Change(at(0), "ehr", "import", "Smith"),
        Change(at(5), "portal", "sub-1", "Smyth"),
        Change(at(6), "ehr", "evt-1", "Smithe"),
    ]
    outcome = fold(changes, IDENTITY)
    assert outcome is not None
    assert outcome.conflict and outcome.value == "Smithe" and outcome.baseline == "Smith"
    assert "staff decide" in outcome.rule


def test_both_sides_changing_a_contact_field_lets_the_portal_win_without_a_conflict() -> None:
    changes = [
        Change(at(0), "ehr", "import", "5550100001"),
        Change(at(5), "ehr", "evt-1", "5550100002"),
        Change(at(6), "portal", "sub-1", "5550100003"),
    ]
    outcome = fold(changes, CONTACT)
    assert outcome is not None
    assert (outcome.value, outcome.conflict) == ("5550100003", False)
    assert outcome.last_ehr == "5550100002"  # athena still holds the old value: the hub must write it


def test_a_staff_decision_settles_the_conflict_and_becomes_the_new_baseline() -> None:
    changes = [
        Change(at(0), "ehr", "import", "Smith"),
        Change(at(5), "portal", "sub-1", "Smyth"),
        Change(at(6), "ehr", "evt-1", "Smithe"),
        Change(at(9), "staff", "conflict-1", "Smyth"),
    ]
    outcome = fold(changes, IDENTITY)
    assert outcome is not None
    assert (outcome.value, outcome.conflict, outcome.baseline, outcome.source) == ("Smyth", False, "Smyth", "staff")


def test_when_both_sides_arrive_at_the_same_value_that_is_the_new_baseline() -> None:
    changes = [
        Change(at(0), "ehr", "import", "a@example.test"),
        Change(at(5), "portal", "sub-1", "b@example.test"),
        Change(at(7), "ehr", "evt-2", "b@example.test"),
    ]
    outcome = fold(changes, CONTACT)
    assert outcome is not None
    assert (outcome.value, outcome.baseline, outcome.conflict) == ("b@example.test", "b@example.test", False)


SOURCES = st.sampled_from(["portal", "ehr", "staff", "ocr"])
VALUES = st.sampled_from(["A", "B", "C", None])
CHANGES = st.lists(
    st.builds(
        Change,
        time=st.integers(0, 20).map(at),
        source=SOURCES,
        event_id=st.text("abcdef", min_size=1, max_size=3),
        value=VALUES,
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(changes=CHANGES, seed=st.integers(0, 10_000), policy=st.sampled_from([IDENTITY, CONTACT]))
def test_the_same_changes_in_any_order_with_duplicates_give_the_same_record(
    changes: list[Change], seed: int, policy: Policy
) -> None:
    # Two sources never report the same event id twice with different values (the DB refuses it).
    unique = list({(c.source, c.event_id): c for c in changes}.values())
    shuffled = list(unique) + random.Random(seed).choices(unique, k=len(unique))
    random.Random(seed + 1).shuffle(shuffled)
    assert fold(shuffled, policy) == fold(unique, policy)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None)
@given(changes=CHANGES, seed=st.integers(0, 10_000))
def test_golden_merge_stores_the_same_record_whatever_the_arrival_order(changes: list[Change], seed: int) -> None:
    unique = list({(c.source, c.event_id): c for c in changes}.values())
    in_order = make_patient(make_department())
    golden_merge(patient=in_order, changes=[("last_name", c) for c in unique])
    shuffled = make_patient(make_department())
    arrivals = list(unique) + list(unique[:2])
    random.Random(seed).shuffle(arrivals)
    for change in arrivals:  # one at a time, as events arrive
        golden_merge(patient=shuffled, changes=[("last_name", change)])
    # In time order, one at a time: athena repeating itself takes the merge's shortcut most often.
    timely = make_patient(make_department())
    for change in sorted(unique, key=Change.sort_key):
        golden_merge(patient=timely, changes=[("last_name", change), ("first_name", change)])

    def state(patient: object, name: str = "last_name") -> tuple[object, ...]:
        row = FieldState.objects.get(patient=patient, field=name)
        return (
            row.value,
            row.source,
            row.source_time,
            row.event_id,
            row.baseline,
            row.last_ehr,
            row.last_portal,
            row.in_conflict,
            row.rule,
        )

    assert state(in_order) == state(shuffled) == state(timely)
    assert state(timely, "first_name")[:-1] == state(in_order)[:-1]  # the rule names the field's group
    for patient in (in_order, shuffled, timely):
        patient.refresh_from_db()
    assert in_order.last_name == shuffled.last_name == timely.last_name


@pytest.mark.django_db
def test_merge_reports_conflicts_changed_fields_and_what_athena_needs() -> None:
    patient = make_patient(make_department(), last_name="Smith", mobile_phone="5550100001")
    golden_merge(
        patient=patient,
        changes=[
            ("last_name", Change(at(0), "ehr", "import", "Smith")),
            ("mobile_phone", Change(at(0), "ehr", "import", "5550100001")),
        ],
    )
    result = golden_merge(
        patient=patient,
        changes=[
            ("last_name", Change(at(5), "portal", "sub-1", "Smyth")),
            ("mobile_phone", Change(at(5), "portal", "sub-1", "5550100009")),
        ],
    )
    assert sorted(result.changed_fields) == ["last_name", "mobile_phone"]
    assert sorted(result.athena_fields) == ["last_name", "mobile_phone"]
    result = golden_merge(patient=patient, changes=[("last_name", Change(at(6), "ehr", "evt-9", "Smithe"))])
    assert list(result.conflicts) == ["last_name"]
    patient.refresh_from_db()
    assert patient.last_name == "Smithe"  # the EHR is authoritative for identity while staff decide
    again = golden_merge(patient=patient, changes=[("last_name", Change(at(6), "ehr", "evt-9", "Smithe"))])
    assert again.new_changes == 0 and not again.conflicts  # a duplicate event changes nothing


@pytest.mark.django_db
def test_athena_repeating_itself_after_a_staff_decision_still_moves_the_field() -> None:
    patient = make_patient(make_department(), last_name="Smith")
    golden_merge(patient=patient, changes=[("last_name", Change(at(0), "ehr", "evt-1", "Smith"))])
    golden_merge(patient=patient, changes=[("last_name", Change(at(1), "staff", "decision-1", "Smyth"))])
    # athena reports its old value again, after the decision: the EHR side moved away from it.
    result = golden_merge(patient=patient, changes=[("last_name", Change(at(2), "ehr", "evt-2", "Smith"))])
    patient.refresh_from_db()
    assert patient.last_name == "Smith" and result.changed_fields == ["last_name"]


@pytest.mark.django_db
def test_athena_repeating_itself_moves_nothing_but_still_asks_for_the_decided_value() -> None:
    patient = make_patient(make_department(), email="a@example.test")
    golden_merge(patient=patient, changes=[("email", Change(at(0), "ehr", "evt-1", "a@example.test"))])
    golden_merge(patient=patient, changes=[("email", Change(at(1), "portal", "sub-1", "b@example.test"))])
    golden_merge(patient=patient, changes=[("email", Change(at(2), "ehr", "evt-2", "a@example.test"))])
    # athena reports the same old value again (the write-back has not landed): nothing moves, and
    # the portal's value is still what athena must be given.
    result = golden_merge(patient=patient, changes=[("email", Change(at(3), "ehr", "evt-3", "a@example.test"))])
    patient.refresh_from_db()
    assert patient.email == "b@example.test" and result.changed_fields == []
    assert result.athena_fields == ["email"]
