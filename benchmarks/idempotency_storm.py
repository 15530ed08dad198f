"""Idempotency storm over HTTP: many keys, each sent by 50 concurrent identical requests, one effect each.

    python benchmarks/idempotency_storm.py --json [--keys 30 --concurrency 50] [--pg]

The live-stack version of `tests/proof/test_idempotency_storm.py`. Patients for the insurance and
booking keys are registered through the portal API first, and their charts created in athena.
Then registrations, insurances and bookings are mixed across `--keys` Idempotency-Keys; every
request of every key is released at once (one barrier) and sent over its own connection to the
hub's web server (two worker processes, as `make run`, so requests of one key race across
processes too), `--concurrency` identical requests per key.

Each key passes when its answers are 202 or 409 (its first request still running), at least one
is 202, every 202 carries the same body, and exactly one 202 is not marked `Idempotent-Replayed`
(one execution). After the write-back ledger drains, the sandbox's own records must hold exactly
one chart, insurance or booking per key: `effects` counts them, `duplicates` counts charts,
insurances and slot bookings made more than once plus keys executed more than once.

Prints one JSON object: keys, concurrency, requests, answers (status → count), bad_keys, effects,
expected_effects, duplicates, lost, intents_not_succeeded, elapsed_s and meets.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import emit, live_stack, portal_token, use_hub_database
from benchmarks.writeback import letters


def registration(n: int, last_name: str) -> dict[str, Any]:
    return {
        "portal_patient_id": f"storm-{last_name.lower()}",
        "location_id": "1",
        "first_name": "Storm",
        "sex": "F",
        "last_name": last_name,
        "dob": "1985-03-04",
        "email": f"storm{n}.{last_name.lower()}@example.test",
    }


def drain(timeout: float) -> int:
    """Wait until every write intent is final or parked; return how many are not succeeded."""
    from sync.models import WriteIntent

    deadline = time.monotonic() + timeout
    while WriteIntent.objects.exclude(state__in=["succeeded", "failed", "parked"]).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return WriteIntent.objects.exclude(state="succeeded").count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=50, help="identical requests per key, all at once")
    parser.add_argument("--athena-rate", type=float, default=10.0, help="athena's per-second limit R in this run")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (2, as `make run`)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL + Redis instead of SQLite + ORM broker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    hub_env = {"ATHENA_RATE_LIMIT_PER_SECOND": str(args.athena_rate)}
    sandbox_config = {"throttle": {"per_second": args.athena_rate, "burst": args.athena_rate}}
    with live_stack(pg=args.pg, hub_env=hub_env, sandbox_config=sandbox_config, web_workers=args.web_workers) as stack:
        token = portal_token(stack, "storm-portal")
        auth = {"Authorization": f"Bearer {token}"}
        use_hub_database(stack)
        api = f"{stack.hub_url}/api/v1"
        run = uuid.uuid4().hex[:6]

        owners: list[str] = []
        for n in range(args.keys // 2):
            response = requests.post(
                f"{api}/patients",
                json=registration(n, f"Stormowner{letters(n)}{letters(int(run, 16) % 10000)}"),
                headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                timeout=60,
            )
            response.raise_for_status()
            owners.append(response.json()["patient_id"])
        drain(args.drain_timeout)
        charts_before = len(stack.sandbox("GET", "records/patients", params={"created_via": "api"})["patients"])
        first_day = (dt.date.today() + dt.timedelta(days=2)).isoformat()  # noqa: DTZ011 - the sandbox's calendar
        slots = [
            a
            for a in stack.sandbox(
                "GET", "records/appointments", params={"status": "o", "departmentid": "1", "limit": 100000}
            )["appointments"]
            if a["date"] >= first_day and a.get("api_bookable", True) and not a.get("frozen")
        ]

        plan: dict[str, tuple[str, dict[str, Any]]] = {}
        for n in range(args.keys):
            key = f"storm-{n:03d}-{uuid.uuid4()}"
            if n % 3 == 0 or n // 2 >= len(owners):
                body = registration(n, f"Stormkey{letters(n)}{letters(int(run, 16) % 10000)}")
                plan[key] = ("/patients", body)
            elif n % 3 == 1:
                insurance = {
                    "payer_name": "EXAMPLE HEALTH PLAN",
                    "member_id": f"EXS{800000 + n}",
                    "insurance_package_id": "1001",
                }
                plan[key] = (f"/patients/{owners[n // 2]}/insurances", insurance)
            else:
                slot = slots[n]
                plan[key] = (
                    "/appointments",
                    {
                        "patient_id": owners[n // 2],
                        "location_id": "1",
                        "slot_id": str(slot["appointmentid"]),
                        "appointment_type_id": str(slot["appointmenttypeid"]),
                    },
                )

        answers: dict[str, list[tuple[int, bool, Any]]] = collections.defaultdict(list)
        lock = threading.Lock()
        barrier = threading.Barrier(len(plan) * args.concurrency)

        def send(key: str, path: str, body: dict[str, Any]) -> None:
            with requests.Session() as session:  # its own connection
                barrier.wait()
                try:
                    response = session.post(
                        f"{api}{path}", json=body, headers={**auth, "Idempotency-Key": key}, timeout=180
                    )
                    status = response.status_code
                    replayed = response.headers.get("Idempotent-Replayed") == "true"
                    payload = response.json() if status == 202 else None
                except requests.RequestException:
                    status, replayed, payload = 0, False, None
            with lock:
                answers[key].append((status, replayed, payload))

        threads = [
            threading.Thread(target=send, args=(key, path, body), daemon=True)
            for key, (path, body) in plan.items()
            for _ in range(args.concurrency)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        storm_seconds = time.monotonic() - started

        bad_keys: dict[str, str] = {}
        executions = 0
        for key in plan:
            got = answers[key]
            accepted = [a for a in got if a[0] == 202]
            executed = sum(1 for a in accepted if not a[1])
            executions += executed
            if len(got) != args.concurrency:
                bad_keys[key] = f"{len(got)} answers"
            elif {a[0] for a in got} - {202, 409}:
                bad_keys[key] = f"statuses {sorted({a[0] for a in got})}"
            elif not accepted:
                bad_keys[key] = "no request accepted"
            elif any(a[2] != accepted[0][2] for a in accepted):
                bad_keys[key] = "replays differ from the first answer"
            elif executed != 1:
                bad_keys[key] = f"executed {executed} times"

        not_succeeded = drain(args.drain_timeout)
        elapsed = time.monotonic() - started
        charts = stack.sandbox("GET", "records/patients", params={"created_via": "api"})
        insured = stack.sandbox("GET", "records/insurances", params={"created_via": "api"})
        booked = stack.sandbox("GET", "records/appointments", params={"booked": "true"})
        from hub.models import Patient

        owner_charts = {
            str(p)
            for p in Patient.objects.filter(public_id__in=owners).values_list("athena_patient_id", flat=True)
            if p
        }
        owner_bookings = [b for b in booked["bookings"] if str(b.get("patientid")) in owner_charts]

    kinds = collections.Counter(
        "register" if path == "/patients" else ("insurance" if path.endswith("/insurances") else "book")
        for path, _ in plan.values()
    )
    new_charts = len(charts["patients"]) - charts_before
    effects = new_charts + len(insured["insurances"]) + len(owner_bookings)
    duplicates = (
        sum(group.get("count", 2) - 1 for group in charts["duplicates"])
        + sum(group.get("count", 2) - 1 for group in insured["duplicates"])
        + len(booked["slots_booked_more_than_once"])
        + max(0, executions - len(plan))
    )
    expected = {
        "register": (new_charts, kinds["register"]),
        "insurance": (len(insured["insurances"]), kinds["insurance"]),
        "book": (len(owner_bookings), kinds["book"]),
    }
    lost = sum(max(0, want - got) for got, want in expected.values())
    result = {
        "keys": len(plan),
        "concurrency": args.concurrency,
        "requests": sum(len(got) for got in answers.values()),
        "answers": dict(collections.Counter(str(a[0]) for got in answers.values() for a in got)),
        "kinds": dict(kinds),
        "bad_keys": len(bad_keys),
        "bad_key_reasons": dict(collections.Counter(bad_keys.values())),
        "effects": effects,
        "expected_effects": len(plan),
        "effects_by_kind": {kind: got for kind, (got, _) in expected.items()},
        "duplicates": duplicates,
        "lost": lost,
        "intents_not_succeeded": not_succeeded,
        "storm_s": round(storm_seconds, 1),
        "elapsed_s": round(elapsed, 1),
        "database": "postgresql+redis" if args.pg else "sqlite+orm",
    }
    result["meets"] = duplicates == 0 and lost == 0 and effects == len(plan) and not bad_keys and not not_succeeded
    emit(result, args.json)
    return 0 if result["meets"] else 1


if __name__ == "__main__":
    sys.exit(main())
