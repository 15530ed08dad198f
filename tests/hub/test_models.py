import datetime as dt

import pytest
from django.db import IntegrityError

from hub.models import Patient
from tests.factories import make_appointment, make_department, make_patient


@pytest.mark.django_db
def test_athena_patient_id_is_unique_per_practice_but_may_be_missing():
    clinic = make_department()
    make_patient(clinic, athena_patient_id=None)
    make_patient(clinic, athena_patient_id=None)  # two portal-only patients are fine
    make_patient(clinic, athena_patient_id="5309")
    with pytest.raises(IntegrityError):
        make_patient(clinic, athena_patient_id="5309")


@pytest.mark.django_db
def test_ssn_is_encrypted_at_rest_and_readable_through_the_model():
    from django.db import connection

    patient = make_patient(make_department(), ssn="123-45-6789")
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssn FROM hub_patient WHERE id = %s", [patient.pk])
        stored = cursor.fetchone()[0]
    assert "6789" not in stored
    assert Patient.objects.get(pk=patient.pk).ssn == "123-45-6789"


@pytest.mark.django_db
def test_appointment_start_is_local_to_its_department():
    honolulu = make_department(timezone="Pacific/Honolulu")
    appointment = make_appointment(honolulu, date=dt.date(2026, 12, 1), start_time=dt.time(9, 0))
    assert appointment.starts_at.astimezone(dt.UTC) == dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_patient_string_never_shows_the_name():
    patient = make_patient(make_department(), first_name="Canaryfirst", last_name="Canarylast")
    assert "Canary" not in str(patient)
