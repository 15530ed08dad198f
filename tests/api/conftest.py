"""Fixtures for the portal API: clinics, portal clients with tokens, patients of each clinic."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from intake.portal_clients import ALL_SCOPES, portal_client_create
from tests.factories import make_department, make_patient, make_practice


@dataclass
class Portal:
    """A portal client as the portal sees it: an HTTP client carrying its bearer token."""

    http: Client
    client_id: str
    secret: str
    token: str
    pk: int

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        headers.update(extra)
        return headers

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(path, params, **self.headers())

    def post(self, path: str, body: Any = None, *, key: str | None = "auto", **extra: str) -> Any:
        key = str(uuid.uuid4()) if key == "auto" else key
        return self.http.post(path, body or {}, content_type="application/json", **self.headers(key, **extra))

    def patch(self, path: str, body: Any, *, key: str | None = "auto") -> Any:
        key = str(uuid.uuid4()) if key == "auto" else key
        return self.http.patch(path, body, content_type="application/json", **self.headers(key))


def fetch_token(client_id: str, secret: str, scope: str | None = None) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return Client().post("/o/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")


def make_portal(name: str, *, locations: list[str] | None, scopes: list[str] | tuple[str, ...] = ALL_SCOPES) -> Portal:
    client, client_id, secret = portal_client_create(name=name, department_ids=locations, scopes=list(scopes))
    response = fetch_token(client_id, secret, " ".join(scopes))
    assert response.status_code == 200, response.content
    return Portal(Client(), client_id, secret, response.json()["access_token"], client.pk)


@pytest.fixture
def clinics(db: Any) -> dict[str, Any]:
    practice = make_practice()
    return {
        "boston": make_department(practice, athena_department_id="1", name="Harbor Family Medicine"),
        "austin": make_department(
            practice, athena_department_id="157", name="Lone Star Clinic", timezone="America/Chicago"
        ),
    }


@pytest.fixture
def portal(clinics: dict[str, Any]) -> Portal:
    """A portal granted only the Boston clinic, with every scope."""
    return make_portal("boston-portal", locations=["1"])


@pytest.fixture
def boston_patient(clinics: dict[str, Any]) -> Any:
    return make_patient(clinics["boston"])


@pytest.fixture
def austin_patient(clinics: dict[str, Any]) -> Any:
    return make_patient(clinics["austin"])


def registration(**overrides: Any) -> dict[str, Any]:
    body = {
        "portal_patient_id": f"portal-{uuid.uuid4().hex[:12]}",
        "location_id": "1",
        "first_name": "Avery",
        "last_name": "Testwood",
        "dob": "1985-04-12",
        "sex": "F",
        "email": "avery.testwood@example.test",
        "mobile_phone": "(555) 010-1234",
        "zip_code": "02110",
    }
    body.update(overrides)
    return body
