"""`manage.py demo_activity`: a busy clinic day against a running hub and its athena sandbox.

It plays the two outside parties the hub sits between, on synthetic data only:

- the **portal**, through the real portal API with a real OAuth client (`demo-portal`, created on
  first use; its secret is kept with seed_demo's in `var/demo-credentials.json`, mode 0600):
  registrations, demographic updates, insurances, bookings, cancellations and check-ins;
- **athena's front desk**, through the sandbox's control surface (`/_sandbox/edits` at
  `ATHENA_BASE_URL`): legal-name and contact edits, walk-in bookings, cancellations, check-ins,
  and a few injected faults.

First it stages the incidents every queue needs, at the first location (athena department 1 when
the hub has it): conflicting legal-name edits on both sides (one alone, three identical ones for
the bulk action), a duplicate registration athena matches to a chart already linked (parked), a
registration athena refuses (failed, with the insurance that depended on it), a dropped connection
(reconciled by reading athena back) and a short portal outage (failed deliveries, then retried).
Then it runs random traffic at `--rate` actions a minute across the locations until `--minutes`
have passed (or `--events` actions ran).

Two ways to reach the hub:

- default: HTTP to a live hub (`--hub`, default `HUB_PUBLIC_URL`) whose task workers do the
  write-back and whose webhook receives the sandbox's notifications. The command runs beside that
  hub (same settings and database): it creates its portal client there and reads ids (athena chart
  ids, appointment ids) from the database to pick what to edit next, as a front desk would look
  them up.
- `--in-process`: the portal calls go through Django's test client in this process, and this
  process also does the workers' jobs between steps (write-back, changed-feed polling, inbound
  processing, portal delivery). athena's changes arrive through the changed-data feeds. Used by
  the tests; needs no running hub, only the sandbox.

Nothing it prints carries patient data: counts, hub ids and athena ids only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from hub.management.commands.seed_demo import DEMO_PORTAL, credentials_file

SCOPES = ("read", "patients:write", "intake:write", "insurance:write", "appointments:write")
FIRST_NAMES = (
    "Avery", "Jordan", "Rowan", "Elena", "Marcus", "Priya", "Tomas", "Grace", "Hiroshi", "Amara",
    "Lucia", "Devon", "Noor", "Felix", "Imani", "Soren", "Maya", "Caleb", "Ines", "Theo",
)  # fmt: skip
LAST_NAMES = (
    "Whitlock", "Okafor", "Lindqvist", "Castellano", "Nakamura", "Brennan", "Adeyemi", "Halvorsen",
    "Moreau", "Delacroix", "Ashworth", "Kowalczyk", "Fairbanks", "Quintero", "Sandoval", "Thornbury",
)  # fmt: skip
STREETS = ("Maple", "Harbor", "Cedar", "Willow", "Juniper", "Lakeview", "Orchard", "Summit")
PAYERS = (("EXAMPLE HEALTH PLAN", "1001", "EX001"), ("EXAMPLE HEALTH PLAN", "1002", "EX001"))
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _letters(n: int, size: int = 4) -> str:
    return "".join(LETTERS[(n >> (5 * i)) % 26] for i in range(size))


def _athena_date(day: dt.date) -> str:
    return day.strftime("%m/%d/%Y")


# --- the portal -----------------------------------------------------------------------------------


class PortalError(Exception):
    pass


@dataclass
class Answer:
    status: int
    body: Any


class Portal:
    """The portal API with a client-credentials token (refreshed when it lapses)."""

    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id = client_id
        self.secret = secret
        self.token = ""

    def _raw(self, method: str, path: str, *, body: Any = None, params: Any = None, headers: Any = None) -> Answer:
        raise NotImplementedError

    def _token_request(self) -> Answer:
        raise NotImplementedError

    def authenticate(self) -> None:
        answer = self._token_request()
        if answer.status != 200:
            raise PortalError(f"the hub refused the portal client's credentials ({answer.status})")
        self.token = answer.body["access_token"]

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> Answer:
        if not self.token:
            self.authenticate()
        headers = {"Authorization": f"Bearer {self.token}"}
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        answer = self._raw(method, path, body=body, params=params, headers=headers)
        if answer.status == 401:
            self.authenticate()
            headers["Authorization"] = f"Bearer {self.token}"
            answer = self._raw(method, path, body=body, params=params, headers=headers)
        return answer


class HttpPortal(Portal):
    def __init__(self, base_url: str, client_id: str, secret: str) -> None:
        super().__init__(client_id, secret)
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def _token_request(self) -> Answer:
        response = self.session.post(
            f"{self.base_url}/o/token/",
            data={"grant_type": "client_credentials", "scope": " ".join(SCOPES)},
            auth=(self.client_id, self.secret),
            timeout=15,
        )
        return Answer(response.status_code, response.json() if response.content else {})

    def _raw(self, method: str, path: str, *, body: Any = None, params: Any = None, headers: Any = None) -> Answer:
        response = self.session.request(
            method, f"{self.base_url}{path}", json=body, params=params, headers=headers, timeout=30
        )
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {}
        return Answer(response.status_code, payload)


class InProcessPortal(Portal):
    def __init__(self, client_id: str, secret: str) -> None:
        super().__init__(client_id, secret)
        from django.test import Client

        self.client = Client(HTTP_HOST="127.0.0.1")

    def _token_request(self) -> Answer:
        import base64

        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        response = self.client.post(
            "/o/token/",
            {"grant_type": "client_credentials", "scope": " ".join(SCOPES)},
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        return Answer(response.status_code, json.loads(response.content or b"{}"))

    def _raw(self, method: str, path: str, *, body: Any = None, params: Any = None, headers: Any = None) -> Answer:
        extra = {f"HTTP_{key.upper().replace('-', '_')}": value for key, value in (headers or {}).items()}
        if method == "GET":
            response = self.client.get(path, params or {}, **extra)
        else:
            response = self.client.generic(
                method, path, json.dumps(body or {}), content_type="application/json", **extra
            )
        try:
            payload = json.loads(response.content or b"{}")
        except ValueError:
            payload = {}
        return Answer(response.status_code, payload)


def demo_portal_credentials() -> tuple[str, str]:
    """The demo portal client's id and secret, shared with `seed_demo` (var/demo-credentials.json, 0600).

    The secret is shown once: only when the local copy is gone is a new one issued, and it is kept
    in the same file, so the credentials `make run` printed and the ones used here never part.
    """
    from hub.management.commands.seed_demo import DEMO_PORTAL
    from intake.models import PortalClient
    from intake.portal_clients import portal_client_create, portal_client_rotate_secret

    path = credentials_file()
    stored = json.loads(path.read_text()) if path.exists() else {}
    known = stored.get("portal") or {}
    client = PortalClient.objects.filter(name=DEMO_PORTAL).select_related("application").first()
    if client is None:
        client, client_id, secret = portal_client_create(name=DEMO_PORTAL, department_ids=None, scopes=list(SCOPES))
    elif known.get("client_id") == client.application.client_id and known.get("client_secret"):
        return known["client_id"], known["client_secret"]
    else:
        secret = portal_client_rotate_secret(client=client, overlap=dt.timedelta(0))
        client_id = client.application.client_id
    stored["portal"] = {"name": DEMO_PORTAL, "client_id": client_id, "client_secret": secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    os.chmod(path, 0o600)
    return client_id, secret


# --- athena's front desk (the sandbox's control surface) ------------------------------------------


class FrontDesk:
    """Edits inside athena and fault switches, through the sandbox's control surface."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sandbox/{path}", timeout=15, **kwargs)
        if response.status_code >= 400:
            raise CommandError(f"the sandbox refused {method} /_sandbox/{path} ({response.status_code})")
        return response.json()

    def reachable(self) -> bool:
        try:
            self._call("GET", "")
        except (requests.RequestException, CommandError):
            return False
        return True

    def edit(self, edit: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "edits", json=edit)["results"][0]

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def configure(self, patch: dict[str, Any]) -> None:
        self._call("PUT", "config", json=patch)

    def open_slot(self, department_id: str) -> dict[str, Any] | None:
        rows = self._call(
            "GET", "records/appointments", params={"departmentid": department_id, "status": "o", "limit": 50}
        )
        usable = [row for row in rows.get("appointments", []) if row.get("api_bookable") and not row.get("frozen")]
        return usable[-1] if usable else None


# --- the hub's workers (only in-process) -----------------------------------------------------------


class Workers:
    """What the hub's task workers do; a live hub has its own, so this only waits there."""

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        self.subscribed = False

    def step(self) -> None:
        if not self.in_process:
            time.sleep(0.3)
            return
        from hub import context
        from hub.athena import athena_client
        from sync.feeds import feeds_poll
        from sync.inbound import inbound_events_process_due
        from sync.portal_events import portal_events_deliver_due
        from sync.services import intents_run_due
        from sync.tasks import SERVICE_ACTOR

        client = athena_client()
        with context.bind(correlation_id=context.new_correlation_id(), actor=SERVICE_ACTOR):
            intents_run_due(client=client, budget_seconds=3)
            feeds_poll(client=client)
            inbound_events_process_due(client=client, budget_seconds=5)
            intents_run_due(client=client, budget_seconds=3)
            portal_events_deliver_due(budget_seconds=3)

    def wait_for(self, done: Callable[[], bool], *, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.step()
        return done()


# --- the day --------------------------------------------------------------------------------------


@dataclass
class DemoPatient:
    public_id: str
    location: str
    last_name: str
    dob: str
    email: str
    hub_id: int = 0


@dataclass
class Day:
    portal: Portal
    desk: FrontDesk
    workers: Workers
    rng: random.Random
    locations: list[str]
    home: str
    out: Callable[[str], None]
    patients: list[DemoPatient] = field(default_factory=list)
    booked: list[tuple[str, DemoPatient]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    nonce: int = field(default_factory=lambda: secrets.randbits(40))
    serial: int = 0

    # --- helpers ---

    def _note(self, what: str, detail: str = "") -> None:
        self.counts[what] += 1
        self.out(f"  {what}{': ' + detail if detail else ''}")

    def _unique(self) -> str:
        self.serial += 1
        return _letters(self.nonce + self.serial * 7919)

    def person(self, location: str, **overrides: Any) -> dict[str, Any]:
        rng = self.rng
        tag = self._unique()
        dob = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65))
        body = {
            "portal_patient_id": f"demo-{uuid.uuid4().hex[:16]}",
            "location_id": location,
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": f"{rng.choice(LAST_NAMES)}{tag}",
            "dob": dob.isoformat(),
            "sex": rng.choice(["F", "M"]),
            "email": f"demo.{tag}.{rng.randrange(10**6)}@example.test",
            "mobile_phone": f"555010{rng.randrange(10000):04d}",
            "address1": f"{rng.randrange(1, 999)} {rng.choice(STREETS)} St",
            "city": "Springfield",
            "state": "MA",
            "zip_code": f"02{rng.randrange(100, 999)}",
        }
        body.update(overrides)
        return body

    def hub_patient(self, patient: DemoPatient) -> Any:
        from hub.models import Patient

        row = Patient.objects.filter(public_id=patient.public_id).first()
        if row is not None:
            patient.hub_id = row.pk
        return row

    def chart_of(self, patient: DemoPatient) -> str:
        row = self.hub_patient(patient)
        return (row.athena_patient_id or "") if row is not None else ""

    def register(self, location: str, *, insurance: bool = False, **overrides: Any) -> DemoPatient | None:
        body = self.person(location, **overrides)
        answer = self.portal.call("POST", "/api/v1/patients", body)
        if answer.status != 202:
            self._note("portal write refused", f"registration {answer.status}")
            return None
        patient = DemoPatient(answer.body["patient_id"], location, body["last_name"], body["dob"], body["email"])
        self.patients.append(patient)
        self.hub_patient(patient)
        self._note("registration", f"hub patient #{patient.hub_id} at location {location}")
        if insurance:
            self.add_insurance(patient)
        return patient

    def add_insurance(self, patient: DemoPatient) -> None:
        payer, package, payer_id = self.rng.choice(PAYERS)
        body = {
            "payer_name": payer,
            "insurance_package_id": package,
            "payer_id": payer_id,
            "member_id": f"EXD{self.rng.randrange(10**8):08d}",
            "group_number": f"GRP{self.rng.randrange(10**4):04d}",
        }
        answer = self.portal.call("POST", f"/api/v1/patients/{patient.public_id}/insurances", body)
        self._note("insurance" if answer.status == 202 else "portal write refused", f"hub patient #{patient.hub_id}")

    def wait_for_chart(self, patient: DemoPatient, timeout: float = 30.0) -> str:
        self.workers.wait_for(lambda: bool(self.chart_of(patient)), timeout=timeout)
        return self.chart_of(patient)

    def wait_for_merge(self, patient: DemoPatient, field_name: str, value: Any, timeout: float = 30.0) -> bool:
        """Until the hub's golden record holds athena's value for this field (it merged the edit)."""
        from hub.models import FieldState

        expected = json.dumps(value, sort_keys=True, default=str)

        def merged() -> bool:
            row = FieldState.objects.filter(patient_id=patient.hub_id, field=field_name).first()
            return row is not None and row.last_ehr == expected

        return self.workers.wait_for(merged, timeout=timeout)

    def athena_edit(self, athena_id: str, fields: dict[str, Any]) -> None:
        self.desk.edit({"type": "patient.update", "patientid": athena_id, "fields": fields})

    # --- staged incidents ---

    def conflict(self, patient: DemoPatient, *, field_name: str, athena_field: str, ehr: str, portal: str) -> None:
        """athena's desk edits a legal-name field, the hub merges it, then the patient edits it differently."""
        athena_id = self.wait_for_chart(patient)
        if not athena_id:
            self._note("skipped", f"no chart yet for hub patient #{patient.hub_id}")
            return
        # The edit must be merged before the portal's, or the hub would write the portal's value
        # to athena first and the two sides would simply agree again.
        self.athena_edit(athena_id, {athena_field: ehr})
        self.wait_for_merge(patient, field_name, ehr)
        answer = self.portal.call("PATCH", f"/api/v1/patients/{patient.public_id}", {field_name: portal})
        review = answer.body.get("fields_in_review", []) if isinstance(answer.body, dict) else []
        self._note(
            "conflict" if field_name in review else "edit pair", f"{field_name} of hub patient #{patient.hub_id}"
        )

    def stage_incidents(self) -> None:
        home = self.home
        self.out(f"Staging incidents at location {home} …")
        people = [self.register(home, insurance=index % 2 == 0) for index in range(6)]
        ready = [p for p in people if p is not None]
        for patient in ready:
            self.wait_for_chart(patient)
        if ready:
            first = ready[0]
            self.conflict(
                first,
                field_name="last_name",
                athena_field="lastname",
                ehr=f"{first.last_name}e",
                portal=f"{first.last_name[:-2]}-{first.last_name[-2:]}",
            )
        for patient in ready[1:4]:
            self.conflict(patient, field_name="middle_name", athena_field="middlename", ehr="L", portal="Leigh")
        if len(ready) > 4:
            self.duplicate_registration(ready[4])
        self.refused_registration(home)
        self.dropped_connection(home)
        self.portal_outage(ready[5] if len(ready) > 5 else None)

    def duplicate_registration(self, patient: DemoPatient) -> None:
        """The same person registers again under another portal account: athena matches the chart
        the hub already links to the first record, so the write parks for staff."""
        from hub.models import Patient

        original = Patient.objects.filter(public_id=patient.public_id).first()
        if original is None or not original.athena_patient_id:
            return
        body = self.person(
            patient.location,
            first_name=original.first_name,
            last_name=original.last_name,
            dob=original.dob.isoformat(),
            email=original.email,
        )
        answer = self.portal.call("POST", "/api/v1/patients", body)
        if answer.status == 202:
            twin = DemoPatient(
                answer.body["patient_id"], patient.location, body["last_name"], body["dob"], body["email"]
            )
            self.hub_patient(twin)
            self.workers.wait_for(lambda: self._intent_state(twin, "create_patient") == "parked", timeout=20)
            self._note(
                "duplicate registration", f"hub patient #{twin.hub_id} ({self._intent_state(twin, 'create_patient')})"
            )

    def _intent_state(self, patient: DemoPatient, operation: str) -> str:
        from sync.models import WriteIntent

        return (
            WriteIntent.objects.filter(patient__public_id=patient.public_id, operation=operation)
            .order_by("-pk")
            .values_list("state", flat=True)
            .first()
            or ""
        )

    def refused_registration(self, location: str) -> None:
        """athena refuses an address longer than its field allows: the write fails, and so does the
        insurance that waited for the chart."""
        previous = self.desk.config().get("patients", {}).get("field_limits")
        self.desk.configure({"patients": {"field_limits": {"address1": 30}}})
        try:
            patient = self.register(
                location, insurance=True, address1=f"{self.rng.randrange(100, 999)} Old Orchard Meadow Lane, Building C"
            )
            if patient is not None:
                self.workers.wait_for(lambda: self._intent_state(patient, "create_patient") == "failed", timeout=20)
                self._note("refused registration", f"hub patient #{patient.hub_id}")
        finally:
            self.desk.configure({"patients": {"field_limits": previous}})

    def dropped_connection(self, location: str) -> None:
        """athena saves the chart but the connection drops: the hub reads athena back instead of resending."""
        rules = self.desk.config().get("faults", {}).get("rules", [])
        drop = {"method": "POST", "route": "/v1/{practiceid}/patients", "kind": "drop_after", "count": 1}
        self.desk.configure({"faults": {"rules": [*rules, drop]}})
        try:
            patient = self.register(location)
            if patient is not None:
                self.workers.wait_for(lambda: self._intent_state(patient, "create_patient") != "pending", timeout=15)
                self._note(
                    "dropped connection",
                    f"hub patient #{patient.hub_id} ({self._intent_state(patient, 'create_patient')})",
                )
        finally:
            self.desk.configure({"faults": {"rules": rules}})

    def portal_outage(self, patient: DemoPatient | None) -> None:
        """The portal's receiver answers 500 for a few seconds: deliveries fail, then retry."""
        self.desk.configure({"portal": {"respond_status": 500}})
        try:
            if patient is not None:
                athena_id = self.chart_of(patient)
                if athena_id:
                    self.athena_edit(athena_id, {"homephone": f"617555{self.rng.randrange(10000):04d}"})
            for _ in range(4):
                self.workers.step()
            self._note("portal outage")
        finally:
            self.desk.configure({"portal": {"respond_status": 204}})

    # --- random traffic ---

    def _known(self, location: str | None = None) -> DemoPatient | None:
        pool = [p for p in self.patients if location is None or p.location == location]
        return self.rng.choice(pool) if pool else None

    def act_register(self) -> None:
        self.register(self.rng.choice(self.locations), insurance=self.rng.random() < 0.5)

    def act_portal_update(self) -> None:
        patient = self._known()
        if patient is None:
            return self.act_register()
        change = self.rng.choice(
            [
                {"mobile_phone": f"555010{self.rng.randrange(10000):04d}"},
                {"email": f"demo.{self._unique()}@example.test"},
                {"address1": f"{self.rng.randrange(1, 999)} {self.rng.choice(STREETS)} Ave", "zip_code": "02139"},
            ]
        )
        answer = self.portal.call("PATCH", f"/api/v1/patients/{patient.public_id}", change)
        self._note("demographic update" if answer.status == 202 else "portal write refused", f"#{patient.hub_id}")

    def act_athena_contact_edit(self) -> None:
        patient = self._known()
        athena_id = self.chart_of(patient) if patient else ""
        if not athena_id or patient is None:
            return
        self.athena_edit(athena_id, {"homephone": f"617555{self.rng.randrange(10000):04d}"})
        self._note("athena contact edit", f"chart {athena_id}")

    def act_book(self) -> None:
        patient = self._known()
        if patient is None or not self.chart_of(patient):
            return
        slot = self.desk.open_slot(patient.location)
        type_id = str(slot["appointmenttypeid"]) if slot else "2"
        start = timezone.localdate() + dt.timedelta(days=2)
        query = {
            "location_id": patient.location,
            "appointment_type_id": type_id,
            "start": start.isoformat(),
            "end": (start + dt.timedelta(days=10)).isoformat(),
        }
        slots = self.portal.call("GET", "/api/v1/slots", params=query)
        if slots.status != 200 or not slots.body:
            self._note("no open slot", f"location {patient.location}")
            return
        chosen = self.rng.choice(slots.body[: min(len(slots.body), 40)])
        booking = {
            "patient_id": patient.public_id,
            "slot_id": chosen["slot_id"],
            "location_id": patient.location,
            "appointment_type_id": chosen["appointment_type_id"] or type_id,
        }
        answer = self.portal.call("POST", "/api/v1/appointments", booking)
        if answer.status == 202:
            self.booked.append((str(chosen["slot_id"]), patient))
        self._note("booking" if answer.status == 202 else "booking refused", f"slot {chosen['slot_id']}")

    def act_cancel(self) -> None:
        if not self.booked:
            return self.act_book()
        slot_id, _ = self.booked.pop(self.rng.randrange(len(self.booked)))
        answer = self.portal.call("POST", f"/api/v1/appointments/{slot_id}/cancel", {"reason": "schedule conflict"})
        self._note("cancellation" if answer.status == 202 else "cancellation refused", f"appointment {slot_id}")

    def act_walk_in_check_in(self) -> None:
        """athena's desk books a same-day walk-in; the patient checks in on the portal once the hub knows it."""
        from hub.models import Appointment, Department

        patient = self._known()
        athena_id = self.chart_of(patient) if patient else ""
        template = self.desk.open_slot(patient.location) if patient else None
        department = Department.objects.filter(athena_department_id=patient.location).first() if patient else None
        if patient is None or not athena_id or template is None or department is None:
            return
        # "Today" is the clinic's own day: the portal opens check-in on the appointment's local date.
        local_now = timezone.localtime(timezone.now(), department.tzinfo)
        minute = self.rng.randrange(0, 60, 5)
        created = self.desk.edit(
            {
                "type": "slot.create",
                "departmentid": patient.location,
                "providerid": template["providerid"],
                "appointmenttypeid": template["appointmenttypeid"],
                "date": _athena_date(local_now.date()),
                "times": [f"{self.rng.randrange(7, 19):02d}:{minute:02d}"],
            }
        )
        ids = created.get("appointmentids") or {}
        slot_id = str(next(iter(ids))) if ids else ""
        if not slot_id:
            return
        self.desk.edit(
            {
                "type": "appointment.book",
                "appointmentid": slot_id,
                "patientid": athena_id,
                "appointmenttypeid": template["appointmenttypeid"],
            }
        )
        known = self.workers.wait_for(
            lambda: Appointment.objects.filter(athena_appointment_id=slot_id, patient__isnull=False).exists(),
            timeout=20,
        )
        if not known:
            self._note("walk-in not seen yet", f"appointment {slot_id}")
            return
        answer = self.portal.call("POST", f"/api/v1/appointments/{slot_id}/check-in")
        self._note("check-in" if answer.status == 202 else "check-in refused", f"appointment {slot_id}")

    def act_athena_cancel(self) -> None:
        """athena's desk cancels one of the portal's bookings (the portal hears about it)."""
        if not self.booked:
            return
        slot_id, _ = self.booked.pop(self.rng.randrange(len(self.booked)))
        try:
            self.desk.edit({"type": "appointment.cancel", "appointmentid": slot_id, "reason": "provider unavailable"})
        except CommandError:
            return
        self._note("athena cancellation", f"appointment {slot_id}")

    def act_name_clash(self) -> None:
        patient = self._known()
        if patient is None:
            return
        self.conflict(
            patient,
            field_name="last_name",
            athena_field="lastname",
            ehr=f"{patient.last_name}s",
            portal=f"{patient.last_name}e",
        )

    def run_traffic(self, *, deadline: float, rate: float, limit: int | None) -> None:
        actions: list[tuple[Callable[[], None], int]] = [
            (self.act_register, 3),
            (self.act_portal_update, 3),
            (self.act_book, 3),
            (self.act_athena_contact_edit, 2),
            (self.act_cancel, 1),
            (self.act_athena_cancel, 1),
            (self.act_walk_in_check_in, 1),
            (self.act_name_clash, 1),
            (lambda: self.add_insurance(p) if (p := self._known()) else None, 1),
        ]
        functions, weights = zip(*actions, strict=True)
        interval = 60.0 / max(rate, 0.1)
        done = 0
        while time.monotonic() < deadline and (limit is None or done < limit):
            started = time.monotonic()
            action = self.rng.choices(functions, weights=weights)[0]
            try:
                action()
            except (requests.RequestException, PortalError, CommandError) as exc:
                self._note("action failed", type(exc).__name__)
            done += 1
            self.workers.step()
            pause = interval - (time.monotonic() - started)
            if pause > 0:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))


class Command(BaseCommand):
    help = "Drive the portal API and athena-side edits like a busy clinic day (synthetic data)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=2.0, help="how long the day runs (default 2)")
        parser.add_argument("--seed", type=int, default=1, help="the mix of actions (default 1)")
        parser.add_argument("--rate", type=float, default=30.0, help="random actions per minute (default 30)")
        parser.add_argument("--events", type=int, default=None, help="stop after this many random actions")
        parser.add_argument("--hub", default=None, help="the live hub's URL (default HUB_PUBLIC_URL)")
        parser.add_argument(
            "--in-process", action="store_true", help="call the portal API in this process and do the workers' jobs"
        )
        parser.add_argument("--locations", default="", help="athena department ids, comma-separated (default all)")
        parser.add_argument(
            "--first-run-only", action="store_true", help="do nothing when the demo portal has submitted before"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from hub.models import Department
        from intake.models import Submission

        started = time.monotonic()
        deadline = started + max(0.0, float(options["minutes"])) * 60
        if options["first_run_only"] and Submission.objects.filter(client__name=DEMO_PORTAL).exists():
            self.stdout.write("The demo portal has been busy before; nothing to do.")
            return
        desk = FrontDesk(settings.ATHENA_BASE_URL)
        if not desk.reachable():
            raise CommandError(f"The athena sandbox does not answer at {settings.ATHENA_BASE_URL}.")
        wanted = [part.strip() for part in options["locations"].split(",") if part.strip()]
        departments = Department.objects.filter(is_active=True).order_by("pk")
        if wanted:
            departments = departments.filter(athena_department_id__in=wanted)
        locations = [d.athena_department_id for d in departments]
        if not locations:
            raise CommandError("The hub knows no locations yet: run `manage.py seed_demo` first.")
        client_id, secret = demo_portal_credentials()
        in_process = bool(options["in_process"])
        hub_url = options["hub"] or settings.HUB_PUBLIC_URL
        portal: Portal = InProcessPortal(client_id, secret) if in_process else HttpPortal(hub_url, client_id, secret)
        try:
            portal.authenticate()
        except requests.RequestException as exc:
            raise CommandError(f"The hub does not answer at {hub_url} ({type(exc).__name__}).") from exc
        workers = Workers(in_process)
        if in_process:
            workers.step()  # subscribes to the changed-data feeds before athena changes anything
        day = Day(
            portal=portal,
            desk=desk,
            workers=workers,
            rng=random.Random(options["seed"]),  # noqa: S311 - a repeatable demo, not security
            locations=locations,
            home="1" if "1" in locations else locations[0],
            out=self.stdout.write,
        )
        mode = "in this process" if in_process else f"against {hub_url}"
        self.stdout.write(f"A busy clinic day {mode}: {len(locations)} locations, sandbox {settings.ATHENA_BASE_URL}")
        day.stage_incidents()
        self.stdout.write("Random traffic …")
        day.run_traffic(deadline=deadline, rate=float(options["rate"]), limit=options["events"])
        for _ in range(3):
            workers.step()
        summary = ", ".join(f"{what} {n}" for what, n in sorted(day.counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.0f} s: {summary}"))
