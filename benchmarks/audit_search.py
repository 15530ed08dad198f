"""Audit search speed: N generated audit rows in a fresh SQLite database, p50/p95 of typical searches.

    python benchmarks/audit_search.py --json [--rows 1000000] [--repeat 40] [--seed 7]

Rows are bulk-inserted with a valid hash chain (hashes computed with `hub.audit.row_hash`,
bypassing `audit_record` for speed), shaped like a busy medical group: 15 locations, 5,000
patients, 60 staff, 3 portal clients, ~half a year of traffic. The searches go through
`hub.audit_browser.audit_search`, the same code the audit browser runs. The database lives in
a temporary directory, removed at the end (kept with --keep). Prints one JSON object.
Target (DESIGN.md): p95 < 200 ms per search at 1,000,000 rows on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCATIONS = 15
PATIENTS = 5000
STAFF = 60
PORTAL_CLIENTS = ("portal-web", "portal-ios", "portal-android")
SPAN = dt.timedelta(days=180)
TARGET_P95_MS = 200.0

# (system, direction, action, actor_type, weight)
SHAPES = [
    ("athena", "outbound", "call", "task", 34),
    ("athena", "inbound", "webhook", "athena", 11),
    ("portal", "inbound", "submit", "portal_client", 14),
    ("portal", "outbound", "deliver", "task", 11),
    ("hub", "internal", "view", "user", 10),
    ("hub", "internal", "list", "user", 5),
    ("hub", "inbound", "sign-in", "user", 2),
    ("hub", "internal", "search", "user", 1),
    ("clearinghouse", "outbound", "call", "task", 5),
    ("twilio", "outbound", "call", "task", 4),
    ("ocr", "internal", "extract", "task", 2),
    ("clover", "outbound", "call", "task", 1),
]
OUTCOMES = (("0", 960), ("4", 30), ("8", 8), ("12", 2))
ROUTES = {
    "athena": "/v1/{practiceid}/patients/{patientid}",
    "portal": "/api/v1/submissions",
    "clearinghouse": "/x12/270",
    "twilio": "/2010-04-01/Accounts/{sid}/Messages.json",
    "ocr": "",
    "clover": "/v3/merchants/{mId}/orders",
    "hub": "admin/hub/patient/<path:object_id>/change/",
}


def setup_django(tmp: Path) -> None:
    os.environ["HUB_VAR_DIR"] = str(tmp)
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    os.environ.setdefault("HUB_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generate(rows: int, seed: int) -> dict[str, Any]:
    """Insert `rows` chained audit rows straight into SQLite; return what the searches need to know."""
    from django.conf import settings

    from hub.audit import GENESIS_HASH, HASHED_FIELDS, row_hash

    rng = random.Random(seed)
    shapes = [shape[:4] for shape in SHAPES]
    shape_weights = [shape[4] for shape in SHAPES]
    outcome_codes = [code for code, _ in OUTCOMES]
    outcome_weights = [weight for _, weight in OUTCOMES]
    start = dt.datetime.now(dt.UTC) - SPAN
    step_us = SPAN.total_seconds() * 1e6 / rows
    database = settings.DATABASES["default"]["NAME"]
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # Bulk load first, index afterwards: much faster than maintaining eight indexes per row.
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='hub_auditevent' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    columns = ["prev_hash", "row_hash", *HASHED_FIELDS]
    placeholders = ", ".join("?" for _ in columns)
    # Column names are the hub's own constants; every value goes through a placeholder.
    insert = f"INSERT INTO hub_auditevent ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    prev = GENESIS_HASH
    moment = start
    batch: list[tuple[Any, ...]] = []
    started = time.perf_counter()
    for sequence in range(1, rows + 1):
        moment = moment + dt.timedelta(microseconds=rng.expovariate(1 / step_us))
        system, direction, action, actor_type = rng.choices(shapes, shape_weights)[0]
        outcome = rng.choices(outcome_codes, outcome_weights)[0]
        if actor_type == "user":
            actor_id = str(rng.randint(1, STAFF))
            actor_label = f"staff{actor_id}"
        elif actor_type == "portal_client":
            actor_id = rng.choice(PORTAL_CLIENTS)
            actor_label = actor_id
        else:
            actor_id, actor_label = ("athena", "athena") if actor_type == "athena" else ("worker", "sync worker")
        has_patient = action not in ("sign-in", "search", "list") and rng.random() < 0.8
        patient = str(rng.randint(1, PATIENTS)) if has_patient else ""
        location = str(rng.randint(1, LOCATIONS)) if action not in ("sign-in", "search") else ""
        status = 200 if outcome == "0" else (409 if outcome == "4" else 503)
        values: dict[str, Any] = {
            "sequence": sequence,
            "recorded_at": moment,
            "system": system,
            "direction": direction,
            "action": action,
            "actor_type": actor_type,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "method": "GET" if action in ("view", "list", "search") else "POST",
            "route": ROUTES[system],
            "status_code": status if system != "ocr" else None,
            "outcome": outcome,
            "outcome_detail": "",
            "latency_ms": rng.randint(5, 900),
            "department_id_ref": location,
            "patient_ref": patient,
            "object_type": "patient" if patient else "",
            "object_id": patient,
            "correlation_id": f"{rng.getrandbits(128):032x}",
            "intent_id": "",
            "attempt": None,
            "upstream_request_id": "",
            "remote_addr": "10.0.0.1" if actor_type == "user" else "",
            "detail": {},
        }
        digest = row_hash(prev, values)
        stored = dict(values, recorded_at=moment.strftime("%Y-%m-%d %H:%M:%S.%f"), detail="{}")
        batch.append((prev, digest, *(stored[name] for name in HASHED_FIELDS)))
        prev = digest
        if len(batch) >= 20000:
            connection.executemany(insert, batch)
            batch.clear()
    if batch:
        connection.executemany(insert, batch)
    connection.commit()
    inserted = time.perf_counter()
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("UPDATE hub_auditchainhead SET last_sequence = ?, last_hash = ? WHERE id = 1", (rows, prev))
    connection.commit()
    connection.close()
    return {
        "start": start,
        "end": moment,
        "insert_seconds": round(inserted - started, 1),
        "index_seconds": round(time.perf_counter() - inserted, 1),
        "database_mb": round(os.path.getsize(database) / 1e6, 1),
    }


def measure(search: Callable[[], Any], repeat: int) -> dict[str, Any]:
    timings = []
    returned = []
    search()  # warm the page cache for this index, as a second search by a user would
    for _ in range(repeat):
        started = time.perf_counter()
        page = search()
        timings.append((time.perf_counter() - started) * 1000)
        returned.append(len(page.rows))
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2),
        "max_ms": round(timings[-1], 2),
        "runs": repeat,
        "rows_per_page_avg": round(sum(returned) / len(returned), 1),
    }


def searches(info: dict[str, Any], rows: int, seed: int) -> dict[str, Callable[[], Any]]:
    from hub.audit_browser import AuditFilters, audit_search

    rng = random.Random(seed + 1)
    start: dt.datetime = info["start"]
    days = max(1, (info["end"] - start).days)

    def day(offset: int) -> tuple[dt.datetime, dt.datetime]:
        since = (start + dt.timedelta(days=offset)).replace(hour=0, minute=0, second=0, microsecond=0)
        return since, since + dt.timedelta(days=1)

    def by_user_day() -> Any:
        since, until = day(rng.randint(1, days - 1))
        return audit_search(AuditFilters(user=str(rng.randint(1, STAFF)), since=since, until=until))

    def by_location_range() -> Any:
        since, _ = day(rng.randint(1, days - 8))
        return audit_search(
            AuditFilters(location=str(rng.randint(1, LOCATIONS)), since=since, until=since + dt.timedelta(days=7))
        )

    return {
        "first_page_unfiltered": lambda: audit_search(AuditFilters()),
        "by_patient": lambda: audit_search(AuditFilters(patient=str(rng.randint(1, PATIENTS)))),
        "who_viewed_patient": lambda: audit_search(AuditFilters(patient=str(rng.randint(1, PATIENTS)), action="view")),
        "by_user": lambda: audit_search(AuditFilters(user=str(rng.randint(1, STAFF)))),
        "by_user_and_day": by_user_day,
        "by_portal_client": lambda: audit_search(AuditFilters(client=rng.choice(PORTAL_CLIENTS))),
        "by_system_and_outcome": lambda: audit_search(
            AuditFilters(system=rng.choice(["athena", "portal", "clearinghouse"]), outcome=rng.choice(["4", "8"]))
        ),
        "by_system_any_failure": lambda: audit_search(
            AuditFilters(system=rng.choice(["athena", "portal", "twilio"]), outcome="failed")
        ),
        "by_location_and_week": by_location_range,
        # Harder shapes with no dedicated index: a rare outcome alone, failures at one location.
        "by_outcome_only_major": lambda: audit_search(AuditFilters(outcome="12")),
        "by_location_any_failure": lambda: audit_search(
            AuditFilters(location=str(rng.randint(1, LOCATIONS)), outcome="failed")
        ),
        "by_action": lambda: audit_search(AuditFilters(action=rng.choice(["webhook", "submit", "sign-in"]))),
        "deep_keyset_page_by_location": lambda: audit_search(
            AuditFilters(location=str(rng.randint(1, LOCATIONS))), before=rng.randint(rows // 10, rows // 2)
        ),
        "deep_keyset_page_by_patient": lambda: audit_search(
            AuditFilters(patient=str(rng.randint(1, PATIENTS))), before=rng.randint(rows // 10, rows // 2)
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hub-audit-bench-"))
    try:
        setup_django(tmp)
        if not args.json:
            print(f"generating {args.rows} audit rows in {tmp} ...", file=sys.stderr)
        info = generate(args.rows, args.seed)
        results = {name: measure(run, args.repeat) for name, run in searches(info, args.rows, args.seed).items()}
        worst = max(result["p95_ms"] for result in results.values())
        output = {
            "benchmark": "audit_search",
            "database": "sqlite",
            "rows": args.rows,
            "generate": {k: v for k, v in info.items() if k not in ("start", "end")},
            "page_size": 50,
            "searches": results,
            "worst_p95_ms": worst,
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": worst < TARGET_P95_MS,
        }
        print(json.dumps(output, indent=None if args.json else 2))
        return 0
    finally:
        if args.keep:
            print(f"database kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
