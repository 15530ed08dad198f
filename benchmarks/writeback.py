"""Write-back under fire: N portal submissions through a live hub to the sandbox at athena's rate limit.

    python benchmarks/writeback.py --ops 10000 --fault-rate 0.2 --json

Submissions (registrations, insurances, bookings) go through the portal API over HTTP; the hub's
task workers carry them to the sandbox, whose throttle is the rate limit R and whose faults are
drawn from every kind. Duplicates and lost writes are counted from the sandbox's own records.
Prints one JSON object: ops, duplicates, lost, parked, failed, throughput_per_s (athena calls the hub
made per second while draining: writes, the reads that reconcile them and the booking checks),
rate_limit_per_s (R), ratio (throughput ÷ R: how much of athena's budget the hub puts to use),
ops_per_s (submissions settled per second), faults_injected, reconciled, elapsed_s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import emit, live_stack, portal_token, use_hub_database

FAULT_KINDS = {"error_before": 1, "error_after": 1, "hang_after": 1, "drop_after": 1, "rate_limited": 1, "slow": 1}


def letters(n: int) -> str:
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[rest] + out
        if n == 0:
            return out


def plan(ops: int, slots: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Half registrations, then insurances and bookings for registered patients (bounded by open slots)."""
    registrations = max(1, ops // 2)
    bookings = min(ops // 5, len(slots), registrations)
    insurances = min(ops - registrations - bookings, registrations)
    steps = [("register", n) for n in range(registrations)]
    steps += [("insurance", n) for n in range(insurances)]
    steps += [("book", n) for n in range(bookings)]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=10.0, help="athena's per-second limit R (the sandbox throttle)")
    parser.add_argument("--workers", type=int, default=8, help="task worker processes")
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL + Redis instead of SQLite + ORM broker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    hub_env = {
        "ATHENA_RATE_LIMIT_PER_SECOND": str(args.rate),
        "ATHENA_READ_TIMEOUT": str(args.read_timeout),
        "HUB_AMBIGUOUS_SETTLE_SECONDS": str(2 * args.read_timeout),
        "HUB_INTENT_BACKOFF_SECONDS": "1",
        "HUB_INTENT_LEASE_SECONDS": str(10 * args.read_timeout + 10),
    }
    with live_stack(pg=args.pg, workers=args.workers, hub_env=hub_env) as stack:
        token = portal_token(stack)
        headers = {"Authorization": f"Bearer {token}"}
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()  # noqa: DTZ011 - the sandbox's calendar
        open_slots = [
            a
            for a in stack.sandbox("GET", "records/appointments", params={"status": "o", "limit": 100000})[
                "appointments"
            ]
            if a["date"] >= tomorrow and a.get("api_bookable", True) and not a.get("frozen")
        ]
        stack.sandbox(
            "PUT",
            "config",
            json={
                "throttle": {"per_second": args.rate, "burst": args.rate},
                "faults": {
                    "rate": args.fault_rate,
                    "kinds": FAULT_KINDS,
                    "hang_seconds": args.read_timeout + 0.5,
                    "slow_seconds": args.read_timeout + 0.5,
                    "retry_after_seconds": 1,
                },
            },
        )
        before = stack.sandbox("GET", "requests", params={"limit": 1_000_000})["requests"]
        first_seq = max((entry["seq"] for entry in before), default=0)
        steps = plan(args.ops, open_slots)
        patients: dict[int, str] = {}
        session = requests.Session()

        def submit(step: tuple[str, int]) -> int:
            kind, n = step
            key = {"Idempotency-Key": str(uuid.uuid4()), **headers}
            if kind == "register":
                body = {
                    "portal_patient_id": f"bench-{n}",
                    "location_id": "1",
                    "first_name": "Bench",
                    "sex": "F",
                    "last_name": f"Writeback{letters(n)}",
                    "dob": "1980-01-01",
                    "email": f"bench{n}@example.test",
                }
                response = session.post(f"{stack.hub_url}/api/v1/patients", json=body, headers=key, timeout=60)
                if response.status_code == 202:
                    patients[n] = response.json()["patient_id"]
            elif kind == "insurance":
                body = {
                    "payer_name": "EXAMPLE HEALTH PLAN",
                    "member_id": f"EXH{500000000 + n}",
                    "insurance_package_id": "1001",
                }
                response = session.post(
                    f"{stack.hub_url}/api/v1/patients/{patients[n]}/insurances", json=body, headers=key, timeout=60
                )
            else:
                slot = open_slots[n]
                body = {
                    "patient_id": patients[n],
                    "slot_id": str(slot["appointmentid"]),
                    "location_id": str(slot["departmentid"]),
                    "appointment_type_id": str(slot["appointmenttypeid"]),
                }
                response = session.post(f"{stack.hub_url}/api/v1/appointments", json=body, headers=key, timeout=120)
            return response.status_code

        started = time.monotonic()
        registrations = [s for s in steps if s[0] == "register"]
        others = [s for s in steps if s[0] != "register"]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(submit, registrations)) + list(pool.map(submit, others))
        accepted = sum(1 for status in statuses if status == 202)

        use_hub_database(stack)
        from sync.models import WriteIntent

        while WriteIntent.objects.exclude(state__in=["succeeded", "failed", "parked"]).exists():
            time.sleep(1)
        elapsed = time.monotonic() - started

        patients_seen = stack.sandbox("GET", "records/patients", params={"created_via": "api"})
        insurances_seen = stack.sandbox("GET", "records/insurances", params={"created_via": "api"})
        bookings_seen = stack.sandbox("GET", "records/appointments", params={"booked": "true"})
        ours = {str(p["patientid"]) for p in patients_seen["patients"]}
        our_bookings = [b for b in bookings_seen["bookings"] if str(b.get("patientid")) in ours]
        duplicates = (
            sum(group.get("count", 2) - 1 for group in patients_seen["duplicates"])
            + sum(group.get("count", 2) - 1 for group in insurances_seen["duplicates"])
            + len(bookings_seen["slots_booked_more_than_once"])
            + len([b for b in bookings_seen["patient_double_bookings"] if str(b["patientid"]) in ours])
        )
        succeeded = WriteIntent.objects.filter(state="succeeded").count()
        failed = WriteIntent.objects.filter(state="failed").count()
        parked = WriteIntent.objects.filter(state="parked").count()
        expected = {
            "create_patient": len(ours),
            "create_insurance": len(insurances_seen["insurances"]),
            "book_appointment": len(our_bookings),
        }
        lost = sum(
            max(0, WriteIntent.objects.filter(operation=op, state="succeeded").count() - seen)
            for op, seen in expected.items()
        ) + (len(steps) - accepted)
        log = stack.sandbox("GET", "requests", params={"since": first_seq, "system": "athena", "limit": 1000000})
        calls = [r for r in log["requests"] if r["route"].startswith("/v1/")]
        result = {
            "ops": len(steps),
            "accepted": accepted,
            "succeeded": succeeded,
            "duplicates": duplicates,
            "lost": lost,
            "parked": parked,
            "failed": failed,
            "throughput_per_s": round(len(calls) / elapsed, 2),
            "rate_limit_per_s": args.rate,
            "ratio": round(len(calls) / elapsed / args.rate, 3),
            "ops_per_s": round(succeeded / elapsed, 2),
            "faults_injected": sum(1 for r in calls if r.get("fault")),
            "reconciled": WriteIntent.objects.filter(reconciled=True).count(),
            "elapsed_s": round(elapsed, 1),
            "fault_rate": args.fault_rate,
            "database": "postgresql+redis" if args.pg else "sqlite+orm",
        }
        emit(result, args.json)


if __name__ == "__main__":
    main()
