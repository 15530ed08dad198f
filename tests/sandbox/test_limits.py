"""Per-second throttle per client and the daily quota."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import Athena, Control


def test_per_second_throttle_answers_429_with_retry_after(athena: Athena, control: Control) -> None:
    athena.get("/ping")  # fetch the token before the throttle is on
    control.configure(throttle={"enabled": True, "per_second": 3})

    answers = [athena.get("/ping") for _ in range(8)]
    statuses = [answer.status_code for answer in answers]

    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses
    throttled = next(answer for answer in answers if answer.status_code == 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "X-Request-Id" in throttled.headers


def test_throttle_is_per_client(athena: Athena, control: Control) -> None:
    control.configure(oauth={"clients": {"second-client": "second-secret"}})
    other = Athena(athena.base_url, "second-client", "second-secret")
    athena.get("/ping")
    other.get("/ping")
    control.configure(throttle={"enabled": True, "per_second": 2, "burst": 2})

    mine = [athena.get("/ping").status_code for _ in range(3)]
    theirs = other.get("/ping").status_code

    assert mine[-1] == 429
    assert theirs == 200


def test_daily_quota_runs_out_with_headers_counting_down(athena: Athena, control: Control) -> None:
    athena.get("/ping")
    set_remaining = requests.put(f"{athena.base_url}/_sandbox/quota", json={"remaining": 2}, timeout=5)

    answers = [athena.get("/ping") for _ in range(3)]

    assert set_remaining.json() == {"limit": 50000, "remaining": 2}
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]
    assert answers[2].headers["X-RateLimit-Limit"] == "50000"
    assert int(answers[2].headers["Retry-After"]) > 0


def test_over_quota_answer_is_configurable(athena: Athena, control: Control) -> None:
    athena.get("/ping")
    control.configure(quota={"status": 403, "body": {"error": "Over quota"}})
    requests.put(f"{athena.base_url}/_sandbox/quota", json={"remaining": 0}, timeout=5)

    response = athena.get("/ping")

    assert response.status_code == 403
    assert response.json() == {"error": "Over quota"}
