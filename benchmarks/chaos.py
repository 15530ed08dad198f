"""Chaos: mixed portal write-backs through a live hub under every fault, killed workers, a restarted web server.

    python benchmarks/chaos.py --ops 10000 --fault-rate 0.2 --json   # the issue's target run
    python benchmarks/chaos.py --ops 500 --fault-rate 0.2 --json     # the fast version CI runs
    python benchmarks/chaos.py --ops 500 --pg --json                 # PostgreSQL + Redis (see harness.py)

Registrations, insurances, bookings, cancellations and payments (the mix is 35/20/20/10/15 %) go
through the portal API over HTTP, like a portal that resends with the same Idempotency-Key until it
gets an answer; bookings send texts (Twilio). athena, Clover, Twilio and the clearinghouse are the
sandbox, with `--fault-rate` of calls to athena, Clover and Twilio faulted by every kind: errors
before and after the write, answers that hang past the timeout, dropped connections, 429s, slow
answers. Meanwhile a random process of the task cluster (a worker, the monitor or the pusher) is
SIGKILLed every `--kill-every` seconds, the whole cluster once (at 70 % of the operations) and the
web server once (at 40 %): SIGKILL, then started again.

What this run sets, so that 500 operations take about 3 minutes on 2 cores and 10,000 well under
40: the sandbox's throttle and the hub's athena budget at `--rate` (50/s, not athena's 10/s), 4
task workers, 8 portal requests in flight, a 1 s read timeout towards every system (hung and slow
answers last 1.5 s), intent backoff 0.5 s, ambiguous writes settled after 2 s, leases of 20 s, no
quiet hours for texts, and calls cut short by a kill audited by the sweeper after 10 s.

After the queues drain, everything is counted from the sandbox's own records and request log, and
the hub's rows only for states: duplicates and lost effects per kind (charts, insurances,
bookings, cancellations, charges, texts), parked work (and whether staff can open each one in the
admin), writes whose outcome was unknown and were settled by reading athena back, and audit rows
against calls per system (a call whose worker was killed as it went out has an "interrupted" row
written by the sweeper; it may stand for a call that never left, so a system's rows may exceed its
calls by at most its interrupted rows, and may never fall short). Prints one JSON object; `meets`
says whether the issue's targets hold (every operation answered, 0 duplicates, 0 lost, parked ≤
0.1 % and each visible to staff, every call audited), and the exit status is 0 only then.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import Stack, emit, live_stack, portal_client, use_hub_database

FAULT_KINDS = {"error_before": 1, "error_after": 1, "hang_after": 1, "drop_after": 1, "rate_limited": 1, "slow": 1}
# Faults after which athena holds the write but the hub may not know it: reconciled by reading back.
RESPONSE_LOST = {"error_after", "hang_after", "drop_after", "slow"}
RETRYABLE = {409, 429, 500, 502, 503, 504}


def log(message: str) -> None:
    """Progress on stderr (the JSON result alone goes to stdout)."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def letters(n: int) -> str:
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[rest] + out
        if n == 0:
            return out


@dataclass
class Op:
    """One portal operation, sent (and resent) under one Idempotency-Key until it has an answer."""

    kind: str
    n: int
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    target: dict[str, Any] = field(default_factory=dict)


class PortalDriver:
    """The portal: HTTP with a bearer token, one session per thread, retries with the same key.

    Access tokens expire (15 minutes by default) during a long run: a 401 fetches a new one, as a
    portal would, and the request goes again with the same key.
    """

    def __init__(self, base: str, new_token: Callable[[], str], give_up_seconds: float) -> None:
        self.base, self.new_token, self.give_up = base, new_token, give_up_seconds
        self.token = new_token()
        self.token_lock = threading.Lock()
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        self.local.session.headers["Authorization"] = f"Bearer {self.token}"
        return self.local.session  # type: ignore[no-any-return]

    def refresh(self, expired: str) -> None:
        with self.token_lock:
            if self.token == expired:  # one thread fetches; the others use its token
                self.token = self.new_token()

    def send(self, op: Op, method: str, path: str, body: dict[str, Any] | None = None, key: str = "") -> None:
        deadline = time.monotonic() + self.give_up
        while True:
            op.attempts += 1
            try:
                response = self.session().request(
                    method,
                    f"{self.base}{path}",
                    json=body,
                    headers={"Idempotency-Key": key or op.key} if method != "GET" else {},
                    timeout=60,
                )
            except requests.RequestException:
                response = None  # the web server is restarting, or dropped us: send the same again
            if response is not None and response.status_code == 401:
                self.refresh(response.request.headers.get("Authorization", "").removeprefix("Bearer "))
                continue
            if response is not None:
                retry = response.status_code in RETRYABLE and not (
                    response.status_code == 409 and response.json().get("code") != "idempotency-key-in-flight"
                )
                if not retry or time.monotonic() > deadline:
                    op.status = response.status_code
                    with contextlib.suppress(ValueError):
                        op.answer = response.json()
                    return
            if time.monotonic() > deadline:
                op.status = None
                return
            time.sleep(min(5.0, 0.2 * op.attempts))


class Chaos(threading.Thread):
    """SIGKILLs a random task-cluster process every so often; once the whole cluster; once the web server."""

    def __init__(self, stack: Stack, every: float, rng: random.Random, web_at: float, cluster_at: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.every, self.rng = stack, every, rng
        self.web_at, self.cluster_at = web_at, cluster_at
        self.progress = 0.0  # share of the operations submitted so far (set by the driver)
        self.stop_event = threading.Event()
        self.counts: Counter[str] = Counter()

    @staticmethod
    def children(pid: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
        return found

    def cluster_processes(self) -> list[int]:
        """The sentinel's children: task workers, the monitor and the pusher (the sentinel itself is spared)."""
        sentinels = self.children(self.stack.named["cluster"].pid)
        return [pid for sentinel in sentinels for pid in self.children(sentinel)]

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            if self.web_at and self.progress >= self.web_at and not self.counts["web_restarts"]:
                log("SIGKILL the web server and start it again")
                self.stack.restart("web")
                self.counts["web_restarts"] += 1
                continue
            if self.cluster_at and self.progress >= self.cluster_at and not self.counts["cluster_restarts"]:
                log("SIGKILL the whole task cluster and start it again")
                self.stack.restart("cluster")
                self.counts["cluster_restarts"] += 1
                continue
            victims = self.cluster_processes()
            if victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.rng.choice(victims), signal.SIGKILL)
                    self.counts["worker_kills"] += 1


def open_slots(stack: Stack, count: int) -> list[dict[str, Any]]:
    first_day = (dt.date.today() + dt.timedelta(days=2)).isoformat()  # noqa: DTZ011 - the sandbox's calendar
    rows = stack.sandbox("GET", "records/appointments", params={"status": "o", "limit": 1_000_000})["appointments"]
    slots = [a for a in rows if a["date"] >= first_day and a.get("api_bookable", True) and not a.get("frozen")]
    return slots[:count]


def plan(ops: int, payments: bool, slots: int) -> list[str]:
    """The mix: registrations first (the others need patients), then insurances, bookings, payments, cancels."""
    share = {"register": 0.35, "insurance": 0.2, "book": 0.2, "cancel": 0.1, "pay": 0.15 if payments else 0.0}
    if not payments:
        share["register"] += 0.15
    counts = {kind: int(ops * part) for kind, part in share.items()}
    counts["book"] = min(counts["book"], slots)
    counts["cancel"] = min(counts["cancel"], counts["book"])
    counts["register"] += ops - sum(counts.values())
    return [kind for kind in ("register", "insurance", "book", "pay", "cancel") for _ in range(counts[kind])]


def wait_until_drained(timeout: float) -> bool:
    from hub.models import CallInFlight
    from notify.models import OutboundMessage
    from payments.models import PaymentOperation
    from sync.models import WriteIntent

    waiting = ("pending", "in_flight", "ambiguous", "reconciling")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (
            WriteIntent.objects.filter(state__in=waiting).exists()
            or PaymentOperation.objects.filter(state__in=waiting).exists()
            or OutboundMessage.objects.filter(state__in=waiting, next_attempt_at__lte=dt.datetime.now(dt.UTC)).exists()
            or CallInFlight.objects.exists()  # a call cut short by a kill, until the sweeper audits it
        ):
            return True
        time.sleep(1)
    return False


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    hub_env = {
        "ATHENA_RATE_LIMIT_PER_SECOND": str(args.rate),
        "ATHENA_READ_TIMEOUT": str(args.read_timeout),
        "HUB_AMBIGUOUS_SETTLE_SECONDS": str(2 * args.read_timeout),
        "HUB_INTENT_BACKOFF_SECONDS": "0.5",
        "HUB_INTENT_LEASE_SECONDS": str(10 * args.read_timeout + 10),
        "CLOVER_READ_TIMEOUT": str(args.read_timeout),
        "TWILIO_READ_TIMEOUT": str(args.read_timeout),
        "NOTIFY_QUIET_HOURS": "",  # texts go out at any hour of the run
        "NOTIFY_AMBIGUOUS_SETTLE_SECONDS": str(2 * args.read_timeout),
        "HUB_REQUIRE_2FA": "0",  # the staff check below signs in with one factor
        "HUB_INTERRUPTED_CALL_SECONDS": str(5 * args.read_timeout + 5),  # calls cut by a SIGKILL get audited soon
    }
    started = time.monotonic()
    with live_stack(pg=args.pg, workers=args.workers, hub_env=hub_env) as stack:
        schema = requests.get(f"{stack.hub_url}/api/schema/", params={"format": "json"}, timeout=30).json()
        payments = "/api/v1/payments" in schema["paths"]
        scopes = ("read", "patients:write", "insurance:write", "appointments:write") + (
            ("payments:write",) if payments else ()
        )
        driver = PortalDriver(stack.hub_url, portal_client(stack, "chaos-portal", scopes), args.give_up)
        kinds = plan(args.ops, payments, len(open_slots(stack, 1_000_000)))
        slots = open_slots(stack, kinds.count("book"))
        stack.sandbox(
            "PUT",
            "config",
            json={
                "throttle": {"per_second": args.rate, "burst": args.rate},
                "faults": {
                    "rate": args.fault_rate,
                    "kinds": FAULT_KINDS,
                    "systems": ["athena", "clover", "twilio"],
                    "hang_seconds": args.read_timeout + 0.5,
                    "slow_seconds": args.read_timeout + 0.5,
                    "retry_after_seconds": 1,
                }
                if args.fault_rate
                else {"rate": 0},
            },
        )
        ops = [Op(kind=kind, n=n) for n, kind in enumerate(kinds)]
        chaos = Chaos(stack, args.kill_every, rng, 0.4 if args.restart_web else 0, 0.7 if args.restart_cluster else 0)
        if args.kill_every:
            chaos.start()
        patients: list[str] = []
        booked: list[Op] = []
        bookers = iter(range(1_000_000))  # each booking its own patient: one visit per patient and time
        done = 0

        def submit(op: Op) -> Op:
            nonlocal done
            if op.kind == "register":
                location = slots[op.n % len(slots)]["departmentid"] if slots else "1"
                body = {
                    "portal_patient_id": f"chaos-{op.n}",
                    "location_id": str(location),
                    "first_name": "Chaos",
                    "last_name": f"Monkey{letters(op.n)}",
                    "dob": "1979-03-03",
                    "sex": "F",
                    "email": f"chaos{op.n}@example.test",
                    "mobile_phone": f"555010{op.n % 10000:04d}",
                    "consent_to_text": True,
                }
                op.target = {"last_name": body["last_name"]}
                driver.send(op, "POST", "/api/v1/patients", body)
                if op.status == 202:
                    patients.append(op.answer["patient_id"])
            elif op.kind == "insurance":
                patient = patients[op.n % len(patients)]
                body = {
                    "payer_name": "EXAMPLE HEALTH PLAN",
                    "member_id": f"CHX{op.n:09d}",
                    "insurance_package_id": "1001",
                }
                op.target = {"member_id": body["member_id"], "patient": patient}
                driver.send(op, "POST", f"/api/v1/patients/{patient}/insurances", body)
            elif op.kind == "book":
                slot = slots.pop()
                patient = patients[next(bookers) % len(patients)]
                body = {
                    "patient_id": patient,
                    "location_id": str(slot["departmentid"]),
                    "slot_id": str(slot["appointmentid"]),
                    "appointment_type_id": str(slot["appointmenttypeid"]),
                }
                op.target = {"slot": str(slot["appointmentid"]), "patient": patient}
                driver.send(op, "POST", "/api/v1/appointments", body)
                if op.status == 202:
                    booked.append(op)
            elif op.kind == "pay":
                patient = patients[op.n % len(patients)]
                body = {"kind": "balance", "patient_id": patient, "amount_cents": 1000 + op.n}
                driver.send(op, "POST", "/api/v1/payments", body)
                if op.status == 201:
                    payment = op.answer["id"]
                    op.target = {"payment": payment}
                    driver.send(
                        op,
                        "POST",
                        f"/api/v1/payments/{payment}/complete",
                        {"card_token": f"clv_chaos_{op.n}"},
                        key=f"{op.key}-complete",
                    )
            elif op.kind == "cancel":
                booking = booked.pop(0) if booked else None
                if booking is None:
                    return op
                op.target = dict(booking.target)
                # A cancellation is only possible once the booking reached athena.
                waited_until = time.monotonic() + args.give_up
                while time.monotonic() < waited_until:
                    status = driver.session().get(
                        f"{stack.hub_url}/api/v1/submissions/{booking.answer['id']}", timeout=30
                    )
                    if status.ok and status.json()["status"] != "processing":
                        break
                    time.sleep(1)
                driver.send(op, "POST", f"/api/v1/appointments/{booking.target['slot']}/cancel", {"reason": "chaos"})
            done += 1
            chaos.progress = done / len(ops)
            if done % max(1, len(ops) // 10) == 0:
                log(f"{done}/{len(ops)} operations answered")
            return op

        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            for phase in ("register", "insurance|book|pay", "cancel"):
                list(pool.map(submit, [op for op in ops if op.kind in phase.split("|")]))
        submitted_s = time.monotonic() - started
        log(f"all operations answered after {submitted_s:.0f} s; draining")
        chaos.stop_event.set()
        if chaos.is_alive():
            chaos.join(timeout=60)

        use_hub_database(stack)
        drained = wait_until_drained(args.drain_timeout)
        settle(stack)  # answers still held back and follow-up calls land in the log first
        result = count(stack, ops, payments)
        result.update(
            {
                "ops": len(ops),
                "fault_rate": args.fault_rate,
                "drained": drained,
                "worker_kills": chaos.counts["worker_kills"],
                "web_restarts": chaos.counts["web_restarts"],
                "cluster_restarts": chaos.counts["cluster_restarts"],
                "submit_s": round(submitted_s, 1),
                "duration_s": round(time.monotonic() - started, 1),
                "database": "postgresql+redis" if args.pg else "sqlite+orm",
            }
        )
        parked_share = result["parked"] / max(1, result["accepted"])
        result["meets"] = bool(
            drained
            and not result["not_accepted"]
            and result["duplicates"] == 0
            and result["lost"] == 0
            and parked_share <= 0.001
            and result["parked_visible_to_staff"] == result["parked"]
            and all(audited_every_call(row) for row in result["audit_vs_calls"].values())
        )
        return result


def audited_every_call(row: dict[str, int]) -> bool:
    """One audit row per call: any extra row is one the sweeper wrote for a call cut short by a kill."""
    return row["calls"] <= row["audit_rows"] <= row["calls"] + row["interrupted"]


def request_log(stack: Stack) -> list[dict[str, Any]]:
    """The sandbox's whole request log, page by page (it answers at most 100,000 rows at a time)."""
    entries: list[dict[str, Any]] = []
    while True:
        page = stack.sandbox("GET", "requests", params={"since": entries[-1]["seq"] if entries else 0})
        entries += page["requests"]
        if not page["requests"] or entries[-1]["seq"] >= page["last_seq"]:
            return entries


def settle(stack: Stack, quiet_seconds: float = 3.0, timeout: float = 120.0) -> None:
    """Wait until no system has been called for a few seconds (late answers, webhook follow-ups)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        seq = stack.sandbox("GET", "requests", params={"limit": 1})["last_seq"]
        if seq != last:
            last, since = seq, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return
        time.sleep(0.5)


def count(stack: Stack, ops: list[Op], payments: bool) -> dict[str, Any]:
    """Duplicates and lost effects from the sandbox's own records; the hub's rows only for states."""
    from hub.models import AuditEvent
    from notify.models import OutboundMessage
    from sync.models import WriteIntent

    accepted = [op for op in ops if op.status in (201, 202)]
    duplicates: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    examples: dict[str, list[Any]] = {}
    staff_visible_states = {"failed", "parked"}

    def note(kind: str, what: Any) -> None:
        examples.setdefault(kind, [])
        if len(examples[kind]) < 5:
            examples[kind].append(what)

    # Charts: the portal's registrations are the charts created through the API (the seed's are not ours).
    charts = stack.sandbox("GET", "records/patients", params={"created_via": "api"})
    ours = {p["patientid"] for p in charts["patients"]}
    by_name = Counter(str(p.get("lastname") or "").lower() for p in charts["patients"])
    for group in charts["duplicates"]:
        if ours & set(group["patientids"]):
            duplicates["patients"] += group["count"] - 1
            note("duplicate_patients", group["patientids"])
    public_ids = {op.answer.get("patient_id"): op for op in accepted if op.kind == "register"}
    from hub.models import Patient

    athena_ids = {
        str(public): str(athena)
        for public, athena in Patient.objects.filter(public_id__in=[p for p in public_ids if p]).values_list(
            "public_id", "athena_patient_id"
        )
    }

    def settled_visibly(op: Op) -> bool:
        submission = op.answer.get("id")
        states = set(WriteIntent.objects.filter(submissions__public_id=submission).values_list("state", flat=True))
        return bool(states & staff_visible_states)

    insurances = stack.sandbox("GET", "records/insurances", params={"created_via": "api"})
    for group in insurances["duplicates"]:
        if group["patientid"] in ours:
            duplicates["insurances"] += group["count"] - 1
            note("duplicate_insurances", group["insuranceids"])
    members = Counter(str(i.get("insuranceidnumber") or "").upper() for i in insurances["insurances"])

    appointments = stack.sandbox("GET", "records/appointments", params={"limit": 1_000_000})
    for group in appointments["slots_booked_more_than_once"]:
        duplicates["bookings"] += group["count"] - 1
        note("duplicate_bookings", group)
    for group in appointments["patient_double_bookings"]:  # the seed has some of its own
        if group["patientid"] in ours:
            duplicates["bookings"] += group["count"] - 1
            note("duplicate_bookings", group)
    booked_by = Counter(str(b["patientid"]) for b in appointments["bookings"] if str(b["patientid"]) in ours)
    bookings = {(str(b["appointmentid"]), str(b["patientid"])) for b in appointments["bookings"]}
    cancelled = {a["appointmentid"] for a in appointments["appointments"] if a.get("status") == "x"}
    booking_patients = {
        athena_ids.get(op.target["patient"], "") for op in accepted if op.kind == "book" and op.target.get("patient")
    }

    for op in accepted:
        if op.kind == "register":
            found = by_name[op.target["last_name"].lower()]
        elif op.kind == "insurance":
            found = members[op.target["member_id"]]
        elif op.kind == "book":
            found = int((op.target["slot"], athena_ids.get(op.target["patient"], "")) in bookings)
        elif op.kind == "cancel":
            found = int(op.target["slot"] in cancelled)
        else:
            continue
        if not found and not settled_visibly(op):
            lost[op.kind] += 1
            note(f"lost_{op.kind}", {"submission": op.answer.get("id"), **op.target})
    # Each booking was for a patient of its own: any other booking of theirs is one too many.
    for patient, n in booked_by.items():
        if patient in booking_patients and n > 1:
            duplicates["bookings"] += n - 1
            note("duplicate_bookings", {"patientid": patient, "bookings": n})

    parked_payments: list[int] = []
    voided = 0
    if payments:
        from payments.models import Payment, PaymentOperation

        charges = stack.sandbox("GET", "records/charges")["charges"]
        per_payment = Counter(
            str((c.get("metadata") or {}).get("payment")) for c in charges if c.get("status") == "succeeded"
        )
        voided = sum(1 for c in charges if c.get("voided"))
        duplicates["charges"] = sum(n - 1 for n in per_payment.values() if n > 1)
        states = {str(p): s for p, s in Payment.objects.values_list("public_id", "status")}
        for op in accepted:
            if op.kind != "pay":
                continue
            payment = str(op.target.get("payment"))
            if not per_payment[payment] and states.get(payment) not in ("needs_attention", "failed"):
                lost["payments"] += 1
                note("lost_payments", {"payment": payment, "status": states.get(payment)})
        parked_payments = list(PaymentOperation.objects.filter(state="parked").values_list("pk", flat=True))

    # Texts: each carries the hub's marker; Twilio's own records say how often each went out.
    messages = stack.sandbox("GET", "records/messages")["messages"]
    bodies = [m.get("body") or "" for m in messages if str(m.get("direction", "")).startswith("outbound")]
    rows = list(OutboundMessage.objects.values_list("marker", "state"))
    for marker, state in rows:
        if not marker:
            continue
        sent = sum(1 for body in bodies if marker in body)
        if sent > 1:
            duplicates["texts"] += sent - 1
            note("duplicate_texts", marker)
        if state == "succeeded" and not sent:
            lost["texts"] += 1
            note("lost_texts", marker)

    parked_intents = list(WriteIntent.objects.filter(state="parked").values_list("pk", flat=True))
    parked_texts = list(OutboundMessage.objects.filter(state="parked").values_list("pk", flat=True))

    log = request_log(stack)
    calls = Counter(entry["system"] for entry in log)
    audited = Counter(AuditEvent.objects.filter(direction="outbound").values_list("system", flat=True))
    writes = [e for e in log if e["system"] == "athena" and e["method"] != "GET"]
    interrupted = Counter(
        AuditEvent.objects.filter(direction="outbound", outcome_detail__startswith="interrupted").values_list(
            "system", flat=True
        )
    )
    result: dict[str, Any] = {
        "accepted": len(accepted),
        "not_accepted": dict(Counter(str(op.status) for op in ops if op.status not in (201, 202))),
        "by_kind": dict(Counter(op.kind for op in accepted)),
        "duplicates": sum(duplicates.values()),
        "duplicates_by_kind": dict(duplicates),
        "lost": sum(lost.values()),
        "lost_by_kind": dict(lost),
        "parked": len(parked_intents) + len(parked_payments) + len(parked_texts),
        "failed_intents": WriteIntent.objects.filter(state="failed").count(),
        "ambiguous_reconciled": WriteIntent.objects.filter(reconciled=True).count(),
        "response_lost_writes_injected": sum(1 for e in writes if e.get("fault") in RESPONSE_LOST),
        "voided_charges": voided,
        "faults_injected": dict(Counter(e["fault"] for e in log if e.get("fault"))),
        # A call whose worker was killed as it went out gets an "interrupted" row from the sweeper: the hub
        # cannot know whether it left, so such a row may stand for a call the other side never logged.
        "audit_vs_calls": {
            system: {"audit_rows": audited[system], "calls": calls[system], "interrupted": interrupted[system]}
            for system in sorted(set(calls) | set(audited))
        },
    }
    for system, row in result["audit_vs_calls"].items():
        if row["audit_rows"] < row["calls"]:  # unaudited calls, per route
            logged = Counter((e["method"], e["route"]) for e in log if e["system"] == system)
            rows = Counter(
                AuditEvent.objects.filter(direction="outbound", system=system).values_list("method", "route")
            )
            note(
                f"audit_vs_calls_{system}",
                {f"{m} {r}": [rows[(m, r)], n] for (m, r), n in logged.items() if rows[(m, r)] != n},
            )
    if examples:
        result["examples"] = examples
    result["parked_visible_to_staff"] = staff_can_open(
        [("sync", "writeintent", pk) for pk in parked_intents]
        + [("payments", "paymentoperation", pk) for pk in parked_payments]
        + [("notify", "outboundmessage", pk) for pk in parked_texts]
    )
    return result


def staff_can_open(rows: list[tuple[str, str, int]]) -> int:
    """How many of these rows an integration admin can open in the staff admin (HTTP 200)."""
    if not rows:
        return 0
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="chaos-auditor", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return sum(1 for app, model, pk in rows if client.get(f"/admin/{app}/{model}/{pk}/change/").status_code == 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=50.0, help="athena's per-second limit (sandbox throttle)")
    parser.add_argument("--workers", type=int, default=4, help="task worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="portal requests in flight")
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs (0: none)")
    parser.add_argument("--no-web-restart", dest="restart_web", action="store_false")
    parser.add_argument("--no-cluster-restart", dest="restart_cluster", action="store_false")
    parser.add_argument("--give-up", type=float, default=600.0, help="how long the portal retries one request")
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL + Redis instead of SQLite + ORM broker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # A CI timeout's SIGTERM unwinds like an exception, so the stack's processes are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    emit(result, args.json)
    sys.exit(0 if result["meets"] else 1)


if __name__ == "__main__":
    main()
