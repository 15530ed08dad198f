"""OAuth client credentials, the per-minute token limit, and bearer checks on API calls."""

from __future__ import annotations

import time

import requests

from tests.sandbox.conftest import SCOPE, Athena, Control


def _start_of_minute(control: Control) -> None:
    """Move the sandbox clock to a few seconds past a minute boundary, so a limit test never straddles one."""
    now = time.time()
    control.configure(clock_offset_seconds=(60 - now % 60) + 2)


def test_token_has_athena_shape_with_expires_in_as_string(athena: Athena, control: Control) -> None:
    control.configure(oauth={"tokens_per_minute": 5})
    response = athena.fetch_token()

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "3600"
    assert body["scope"] == SCOPE
    assert len(body["access_token"]) >= 20
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_bad_credentials_get_invalid_client(athena: Athena) -> None:
    response = Athena(athena.base_url, secret="wrong").fetch_token()

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "error_description" in response.json()


def test_wrong_grant_type_and_scope_are_refused(athena: Athena) -> None:
    url = f"{athena.base_url}/oauth2/v1/token"
    auth = (athena.client_id, athena.secret)

    grant = requests.post(url, auth=auth, data={"grant_type": "password", "scope": SCOPE}, timeout=5)
    scope = requests.post(url, auth=auth, data={"grant_type": "client_credentials", "scope": "admin"}, timeout=5)

    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


def test_token_limit_answers_429_for_the_rest_of_the_minute(athena: Athena, control: Control) -> None:
    _start_of_minute(control)
    control.configure(oauth={"tokens_per_minute": 3})

    answers = [athena.fetch_token() for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0", "0"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    # The next wall-clock minute opens the limit again.
    control.configure(clock_offset_seconds=control.get("/config")["clock_offset_seconds"] + 60)
    assert athena.fetch_token().status_code == 200


def test_token_limit_is_per_client(athena: Athena, control: Control) -> None:
    _start_of_minute(control)
    control.configure(oauth={"tokens_per_minute": 1, "clients": {"second-client": "second-secret"}})

    assert athena.fetch_token().status_code == 200
    assert athena.fetch_token().status_code == 429
    assert Athena(athena.base_url, "second-client", "second-secret").fetch_token().status_code == 200


def test_api_call_without_bearer_is_401_developer_inactive(athena: Athena) -> None:
    response = requests.get(athena.url("/departments"), timeout=5)

    assert response.status_code == 401
    assert response.json() == {"error": "Developer Inactive"}
    assert response.headers["X-Request-Id"].startswith("rrt-")


def test_expired_token_is_refused_and_a_new_one_works(athena: Athena, control: Control) -> None:
    control.configure(oauth={"token_lifetime_seconds": 1})
    token = athena.fetch_token().json()
    assert token["expires_in"] == "1"
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    assert requests.get(athena.url("/ping"), headers=headers, timeout=5).status_code == 200
    time.sleep(1.2)
    expired = requests.get(athena.url("/ping"), headers=headers, timeout=5)

    assert expired.status_code == 401
    assert expired.json() == {"error": "Developer Inactive"}
    fresh = athena.fetch_token().json()["access_token"]
    assert requests.get(athena.url("/ping"), headers={"Authorization": f"Bearer {fresh}"}, timeout=5).ok


def test_unauthorized_body_is_configurable_and_revoked_tokens_fail(athena: Athena, control: Control) -> None:
    control.configure(errors={"unauthorized": {"error": "Invalid Access Token"}})
    assert athena.get("/ping").status_code == 200

    revoked = requests.post(f"{athena.base_url}/_sandbox/tokens/revoke", json={}, timeout=5)
    response = athena.get("/ping")

    assert revoked.json()["revoked"] >= 1
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Access Token"}
