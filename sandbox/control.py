"""The control surface under `/_sandbox/`: reset, configuration, simulated front-desk edits, and the
ground truth (request log, records, webhook deliveries, stats) that tests and benchmarks count against.

Control calls are never throttled, never faulted and never written to the request log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from sandbox import clearinghouse, clover, twilio, x12
from sandbox.athena import appointments, insurances, patients
from sandbox.athena.records import load_appointment_row, load_provider, parse_id
from sandbox.callbacks import public_row
from sandbox.common import parse_athena_date, parse_time
from sandbox.config import ConfigError
from sandbox.db import Transaction
from sandbox.events import record_change
from sandbox.limits import quota_peek, quota_set_remaining
from sandbox.state import SandboxState
from sandbox.wire import ApiError, Reply, public

JSON = "application/json"
ACTOR = "frontdesk"


class ControlError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def _reply(body: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=body, content_type=JSON, drift=False)


def _json(request: Request) -> dict[str, Any]:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ControlError(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _strings(fields: Any) -> dict[str, str]:
    if not isinstance(fields, dict):
        raise ControlError(400, "fields must be an object")
    out = {}
    for name, value in fields.items():
        if isinstance(value, bool):
            out[name.lower()] = "true" if value else "false"
        elif value is None:
            out[name.lower()] = ""
        else:
            out[name.lower()] = str(value)
    return out


def _id(edit: dict[str, Any], name: str) -> int:
    value = parse_id(str(edit.get(name, "")))
    if value is None:
        raise ControlError(400, f"{name} is required")
    return value


# --- edits ----------------------------------------------------------------------------------------


def _edit_patient_update(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    patientid = _id(edit, "patientid")
    fields = patients.normalise_fields(_strings(edit.get("fields", {})), state.config, state.clock.now().date())
    fields.pop("patientid", None)
    _data, event = patients.patient_update(tx, state, patientid, fields, actor=ACTOR)
    return {"patientid": str(patientid), "events": [event] if event else []}


def _edit_patient_create(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    raw = _strings(edit.get("fields", {}))
    missing = [name for name in ("firstname", "lastname", "dob", "departmentid") if not raw.get(name)]
    if missing:
        raise ControlError(400, "missing patient fields", missingfields=missing)
    fields = patients.normalise_fields(raw, state.config, state.clock.now().date())
    patientid, matched, event = patients.patient_create(
        tx, state, fields, actor=ACTOR, via="control", client_id=None, bypass_matching=not edit.get("match", False)
    )
    return {"patientid": str(patientid), "matched": matched, "events": [event] if event else []}


def _edit_patient_delete(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    patientid = _id(edit, "patientid")
    _data, event = patients.patient_update(tx, state, patientid, {"status": "deleted"}, actor=ACTOR)
    return {"patientid": str(patientid), "events": [event] if event else []}


def _edit_insurance_create(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    patientid = _id(edit, "patientid")
    case = str(edit.get("eligibility", "active"))
    if case not in x12.CASES:
        raise ControlError(400, f"eligibility must be one of {', '.join(x12.CASES)}")
    row, event = insurances.insurance_create(
        tx,
        state,
        patientid,
        _strings(edit.get("fields", {})),
        actor=ACTOR,
        via="control",
        client_id=None,
        eligibility_case=case,
    )
    return {"patientid": str(patientid), "insuranceid": str(row["insuranceid"]), "events": [event] if event else []}


def _edit_insurance_update(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    patientid, insuranceid = _id(edit, "patientid"), _id(edit, "insuranceid")
    event = insurances.insurance_update(
        tx, state, patientid, insuranceid, _strings(edit.get("fields", {})), actor=ACTOR
    )
    return {"patientid": str(patientid), "insuranceid": str(insuranceid), "events": [event] if event else []}


def _edit_insurance_cancel(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    patientid, insuranceid = _id(edit, "patientid"), _id(edit, "insuranceid")
    event = insurances.insurance_cancel(tx, state, patientid, insuranceid, actor=ACTOR)
    return {"patientid": str(patientid), "insuranceid": str(insuranceid), "events": [event] if event else []}


def _edit_insurance_eligibility(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    insuranceid = _id(edit, "insuranceid")
    case = str(edit.get("eligibility", ""))
    if case not in x12.CASES:
        raise ControlError(400, f"eligibility must be one of {', '.join(x12.CASES)}")
    changed = tx.execute("UPDATE insurances SET eligibility_case = ? WHERE insuranceid = ?", (case, insuranceid))
    if not changed.rowcount:
        raise ControlError(404, f"no insurance {insuranceid}")
    return {"insuranceid": str(insuranceid), "eligibility": case, "events": []}


def _edit_appointment_book(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    appointmentid, patientid = _id(edit, "appointmentid"), _id(edit, "patientid")
    typeid = parse_id(str(edit["appointmenttypeid"])) if edit.get("appointmenttypeid") else None
    _row, event = appointments.appointment_book(
        tx,
        state,
        appointmentid,
        patientid,
        actor=ACTOR,
        via="control",
        client_id=None,
        appointmenttypeid=typeid,
        ignore_schedulable=True,
    )
    return {"appointmentid": str(appointmentid), "patientid": str(patientid), "events": [event] if event else []}


def _edit_appointment_cancel(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    appointmentid = _id(edit, "appointmentid")
    reasonid = parse_id(str(edit["appointmentcancelreasonid"])) if edit.get("appointmentcancelreasonid") else None
    row, event = appointments.appointment_cancel(
        tx,
        state,
        appointmentid,
        patientid=None,
        actor=ACTOR,
        reason_text=str(edit.get("reason", "")),
        cancelreasonid=reasonid if reasonid is not None else 1,
        via="control",
    )
    return {"appointmentid": str(appointmentid), "patientid": str(row["patientid"]), "events": [event] if event else []}


def _edit_appointment_reschedule(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    appointmentid, newid = _id(edit, "appointmentid"), _id(edit, "newappointmentid")
    old = load_appointment_row(tx, appointmentid)
    if old is None or old["patientid"] is None:
        raise ControlError(400, f"appointment {appointmentid} is not booked")
    _row, events = appointments.appointment_reschedule(
        tx, state, appointmentid, newid, patientid=old["patientid"], actor=ACTOR, via="control", client_id=None
    )
    return {"appointmentid": str(newid), "previousappointmentid": str(appointmentid), "events": events}


def _edit_appointment_update(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    appointmentid = _id(edit, "appointmentid")
    fields = edit.get("fields", {})
    if not isinstance(fields, dict) or not fields:
        raise ControlError(400, "fields must name date, starttime, providerid, appointmenttypeid or copay")
    unknown = set(fields) - {"date", "starttime", "providerid", "appointmenttypeid", "copay"}
    if unknown:
        raise ControlError(400, f"cannot edit {sorted(unknown)} on an appointment")
    row, event = appointments.appointment_update(tx, state, appointmentid, fields, actor=ACTOR)
    patientid = str(row["patientid"]) if row["patientid"] is not None else None
    return {"appointmentid": str(appointmentid), "patientid": patientid, "events": [event] if event else []}


def _status_edit(action: str) -> Callable[[Transaction, SandboxState, dict[str, Any]], dict[str, Any]]:
    def run(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
        appointmentid = _id(edit, "appointmentid")
        row, problem, event = appointments.appointment_set_status(tx, state, appointmentid, action, actor=ACTOR)
        if problem:
            raise ControlError(409, problem)
        assert row is not None
        return {"appointmentid": str(appointmentid), "status": row["status"], "events": [event] if event else []}

    return run


def _edit_appointment_status(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    status = str(edit.get("status", ""))
    actions = {"2": "checkin", "3": "checkout", "f": "cancelcheckin"}
    if status == "x":
        return _edit_appointment_cancel(tx, state, edit)
    if status not in actions:
        raise ControlError(400, "status must be one of 2, 3, f, x")
    return _status_edit(actions[status])(tx, state, edit)


def _edit_slot_create(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    departmentid, providerid, typeid = (
        _id(edit, "departmentid"),
        _id(edit, "providerid"),
        _id(edit, "appointmenttypeid"),
    )
    day = parse_athena_date(str(edit.get("date", "")))
    times = [parse_time(str(value)) for value in edit.get("times", [])]
    if day is None or not times or None in times:
        raise ControlError(400, "date (mm/dd/yyyy) and times ([HH:MM, ...]) are required")
    created = appointments.slots_create(
        tx,
        state,
        departmentid=departmentid,
        providerid=providerid,
        date=day,
        times=[t for t in times if t],
        appointmenttypeid=typeid,
        actor=ACTOR,
        via="control",
    )
    return {"appointmentids": created, "events": []}


def _edit_slot_freeze(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    appointmentid = _id(edit, "appointmentid")
    _row, event = appointments.appointment_update(
        tx, state, appointmentid, {"frozen": bool(edit.get("frozen", True))}, actor=ACTOR
    )
    return {"appointmentid": str(appointmentid), "events": [event] if event else []}


def _edit_provider_update(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    providerid = _id(edit, "providerid")
    data = load_provider(tx, providerid)
    if data is None:
        raise ControlError(404, f"no provider {providerid}")
    fields = edit.get("fields", {})
    if not isinstance(fields, dict):
        raise ControlError(400, "fields must be an object")
    data.update({key: value for key, value in fields.items() if key != "providerid"})
    tx.execute("UPDATE providers SET data = ? WHERE providerid = ?", (json.dumps(data), providerid))
    record_change(
        tx,
        state,
        feed="providers",
        eventname="ProviderUpdate",
        entityid=str(providerid),
        snapshot=public(data),
        departmentid=str(data.get("_departmentid", "")),
        providerid=str(providerid),
    )
    return {"providerid": str(providerid), "events": []}


EDITS: dict[str, Callable[[Transaction, SandboxState, dict[str, Any]], dict[str, Any]]] = {
    "patient.create": _edit_patient_create,
    "patient.update": _edit_patient_update,
    "patient.delete": _edit_patient_delete,
    "insurance.create": _edit_insurance_create,
    "insurance.update": _edit_insurance_update,
    "insurance.cancel": _edit_insurance_cancel,
    "insurance.eligibility": _edit_insurance_eligibility,
    "appointment.book": _edit_appointment_book,
    "appointment.cancel": _edit_appointment_cancel,
    "appointment.reschedule": _edit_appointment_reschedule,
    "appointment.update": _edit_appointment_update,
    "appointment.startcheckin": _status_edit("startcheckin"),
    "appointment.checkin": _status_edit("checkin"),
    "appointment.cancelcheckin": _status_edit("cancelcheckin"),
    "appointment.checkout": _status_edit("checkout"),
    "appointment.status": _edit_appointment_status,
    "slot.create": _edit_slot_create,
    "slot.freeze": _edit_slot_freeze,
    "provider.update": _edit_provider_update,
    # The other systems: a patient's text message to the hub's number, a refund on the Clover dashboard.
    "twilio.inbound": twilio.edit_inbound,
    "clover.refund": clover.edit_dashboard_refund,
    # A member the clearinghouse knows without an athena insurance (a card not yet on file).
    "clearinghouse.member": clearinghouse.edit_member,
}


def post_edits(state: SandboxState, request: Request) -> Reply:
    body = _json(request)
    edits = body.get("edits", [body] if "type" in body else [])
    if not isinstance(edits, list) or not edits:
        raise ControlError(400, 'send an edit object with a type, or {"edits": [...]}', types=sorted(EDITS))
    results = []
    index = 0
    try:
        with state.db.write() as tx:
            for index, edit in enumerate(edits):  # noqa: B007 - index is reported on failure
                if not isinstance(edit, dict) or edit.get("type") not in EDITS:
                    raise ControlError(
                        400,
                        f"unknown edit type {edit.get('type') if isinstance(edit, dict) else edit}",
                        types=sorted(EDITS),
                    )
                result = EDITS[edit["type"]](tx, state, edit)
                results.append({"type": edit["type"], **result})
    except ApiError as exc:
        raise ControlError(
            exc.status if exc.status != 404 else 404, "edit rejected", index=index, athena=exc.body
        ) from None
    except ControlError as exc:
        exc.body["index"] = index
        raise
    return _reply({"results": results, "committed_at": state.clock.time()})


# --- ground truth ----------------------------------------------------------------------------------


def get_requests(state: SandboxState, request: Request) -> Reply:
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    filters: dict[str, tuple[str, Callable[[str], Any]]] = {
        "since": ("seq > ?", int),
        "route": ("route = ?", str),
        "method": ("method = ?", str.upper),
        "system": ("system = ?", str),
        "status": ("status = ?", int),
        "fault": ("fault = ?", str),
        "client_id": ("client_id = ?", str),
        "patientid": ("patientid = ?", str),
        "appointmentid": ("appointmentid = ?", str),
        "insuranceid": ("insuranceid = ?", str),
    }
    for name, (clause, convert) in filters.items():
        if args.get(name):
            where.append(clause)
            try:
                values.append(convert(args[name]))
            except ValueError:
                raise ControlError(400, f"bad value for {name}") from None
    limit = min(int(args.get("limit", 100000)), 100000)
    rows = state.db.query(
        f"SELECT * FROM request_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",  # noqa: S608
        [*values, limit],
    )
    items = []
    for row in rows:
        item = dict(row)
        item["ids"] = json.loads(item["ids"] or "{}")
        item["wrote"] = bool(item["wrote"])
        items.append(item)
    last = state.db.query_one("SELECT MAX(seq) AS seq FROM request_log")
    return _reply({"requests": items, "count": len(items), "last_seq": (last["seq"] if last else None) or 0})


def _records_patients(state: SandboxState, request: Request) -> dict[str, Any]:
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    if args.get("created_via"):
        where.append("created_via = ?")
        values.append(args["created_via"])
    if args.get("since"):
        where.append("created_at >= ?")
        values.append(float(args["since"]))
    if args.get("departmentid"):
        where.append("departmentid = ?")
        values.append(int(args["departmentid"]))
    rows = state.db.query(
        f"SELECT * FROM patients WHERE {' AND '.join(where)} ORDER BY patientid",  # noqa: S608 - placeholders only
        values,
    )
    full = args.get("full") in ("1", "true")
    items = []
    for row in rows:
        data = json.loads(row["data"])
        item = {
            "patientid": str(row["patientid"]),
            "firstname": data.get("firstname"),
            "lastname": data.get("lastname"),
            "dob": data.get("dob"),
            "departmentid": data.get("departmentid"),
            "status": row["status"],
            "created_at": row["created_at"],
            "created_via": row["created_via"],
            "created_by": row["created_by"],
            "updated_at": row["updated_at"],
        }
        if full:
            item["data"] = public(data)
        items.append(item)
    groups = state.db.query(
        "SELECT firstname_key, lastname_key, dob, COUNT(*) AS count, GROUP_CONCAT(patientid) AS ids FROM patients "
        "WHERE status != 'deleted' GROUP BY firstname_key, lastname_key, dob HAVING COUNT(*) > 1 ORDER BY ids"
    )
    duplicates = [
        {
            "firstname": group["firstname_key"],
            "lastname": group["lastname_key"],
            "dob": group["dob"],
            "count": group["count"],
            "patientids": group["ids"].split(","),
        }
        for group in groups
    ]
    by_via = {
        row["created_via"]: row["n"]
        for row in state.db.query("SELECT created_via, COUNT(*) AS n FROM patients GROUP BY created_via")
    }
    return {"patients": items, "count": len(items), "created": by_via, "duplicates": duplicates}


def _records_insurances(state: SandboxState, request: Request) -> dict[str, Any]:
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    for name, column in (
        ("patientid", "patientid"),
        ("eligibility", "eligibility_case"),
        ("created_via", "created_via"),
        ("insurancepackageid", "insurancepackageid"),
    ):
        if args.get(name):
            where.append(f"{column} = ?")
            values.append(args[name])
    if args.get("cancelled") is not None:
        where.append("cancelled = ?")
        values.append(1 if args["cancelled"] in ("1", "true") else 0)
    rows = state.db.query(
        f"SELECT * FROM insurances WHERE {' AND '.join(where)} ORDER BY insuranceid",  # noqa: S608 - placeholders only
        values,
    )
    items = []
    for row in rows:
        data = json.loads(row["data"])
        items.append(
            {
                "insuranceid": str(row["insuranceid"]),
                "patientid": str(row["patientid"]),
                "sequencenumber": row["sequencenumber"],
                "insurancepackageid": str(row["insurancepackageid"]),
                "insuranceidnumber": row["insuranceidnumber"],
                "policynumber": data.get("policynumber"),
                "payer": data.get("ircname"),
                "cancelled": bool(row["cancelled"]),
                "eligibility": row["eligibility_case"],
                "created_at": row["created_at"],
                "created_via": row["created_via"],
                "created_by": row["created_by"],
            }
        )
    same_member = state.db.query(
        "SELECT patientid, sequencenumber, insuranceidnumber, COUNT(*) AS count, GROUP_CONCAT(insuranceid) AS ids "
        "FROM insurances WHERE cancelled = 0 GROUP BY patientid, sequencenumber, insuranceidnumber "
        "HAVING COUNT(*) > 1 ORDER BY patientid"
    )
    same_sequence = state.db.query(
        "SELECT patientid, sequencenumber, COUNT(*) AS count, GROUP_CONCAT(insuranceid) AS ids FROM insurances "
        "WHERE cancelled = 0 GROUP BY patientid, sequencenumber HAVING COUNT(*) > 1 ORDER BY patientid"
    )
    return {
        "insurances": items,
        "count": len(items),
        "duplicates": [
            {
                "patientid": str(group["patientid"]),
                "sequencenumber": group["sequencenumber"],
                "insuranceidnumber": group["insuranceidnumber"],
                "count": group["count"],
                "insuranceids": group["ids"].split(","),
            }
            for group in same_member
        ],
        "active_per_sequence": [
            {
                "patientid": str(group["patientid"]),
                "sequencenumber": group["sequencenumber"],
                "count": group["count"],
                "insuranceids": group["ids"].split(","),
            }
            for group in same_sequence
        ],
    }


def _records_appointments(state: SandboxState, request: Request) -> dict[str, Any]:
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    for name in ("status", "patientid", "departmentid", "providerid", "created_via"):
        if args.get(name):
            where.append(f"a.{name} = ?")
            values.append(args[name])
    if args.get("booked") in ("1", "true"):
        where.append("b.bookings > 0")
    limit = min(int(args.get("limit", 100000)), 100000)
    rows = state.db.query(
        "SELECT a.appointmentid, a.departmentid, a.providerid, a.appointmenttypeid, a.patientid, a.status, a.date, "  # noqa: S608 - placeholders only
        "a.starttime, a.frozen, a.api_bookable, a.created_via, a.lastmodified_at, COALESCE(b.bookings, 0) AS bookings "
        "FROM appointments a LEFT JOIN (SELECT appointmentid, COUNT(*) AS bookings FROM bookings "
        "GROUP BY appointmentid) b ON b.appointmentid = a.appointmentid "
        f"WHERE {' AND '.join(where)} ORDER BY a.appointmentid LIMIT ?",
        [*values, limit],
    )
    items = [
        {
            "appointmentid": str(row["appointmentid"]),
            "departmentid": str(row["departmentid"]),
            "providerid": str(row["providerid"]),
            "appointmenttypeid": str(row["appointmenttypeid"]),
            "patientid": str(row["patientid"]) if row["patientid"] is not None else None,
            "status": row["status"],
            "date": row["date"],
            "starttime": row["starttime"],
            "frozen": bool(row["frozen"]),
            "api_bookable": bool(row["api_bookable"]),
            "created_via": row["created_via"],
            "lastmodified_at": row["lastmodified_at"],
            "bookings": row["bookings"],
        }
        for row in rows
    ]
    multi = state.db.query(
        "SELECT appointmentid, COUNT(*) AS count, GROUP_CONCAT(patientid) AS patients FROM bookings "
        "GROUP BY appointmentid HAVING COUNT(*) > 1 ORDER BY appointmentid"
    )
    per_patient_time = state.db.query(
        "SELECT patientid, date, starttime, COUNT(*) AS count, GROUP_CONCAT(appointmentid) AS ids FROM appointments "
        "WHERE patientid IS NOT NULL AND status IN ('f', '2', '3', '4') GROUP BY patientid, date, starttime "
        "HAVING COUNT(*) > 1"
    )
    counts = {
        row["status"]: row["n"]
        for row in state.db.query("SELECT status, COUNT(*) AS n FROM appointments GROUP BY status")
    }
    bookings = [
        dict(row)
        for row in state.db.query(
            "SELECT appointmentid, patientid, booked_at, via, booked_by FROM bookings WHERE via != 'seed' ORDER BY id"
        )
    ]
    return {
        "appointments": items,
        "count": len(items),
        "by_status": counts,
        "bookings": bookings,
        "slots_booked_more_than_once": [
            {
                "appointmentid": str(row["appointmentid"]),
                "count": row["count"],
                "patientids": row["patients"].split(","),
            }
            for row in multi
        ],
        "patient_double_bookings": [
            {
                "patientid": str(row["patientid"]),
                "date": row["date"],
                "starttime": row["starttime"],
                "count": row["count"],
                "appointmentids": row["ids"].split(","),
            }
            for row in per_patient_time
        ],
    }


RECORDS: dict[str, Callable[[SandboxState, Request], dict[str, Any]]] = {
    "patients": _records_patients,
    "insurances": _records_insurances,
    "appointments": _records_appointments,
    "messages": lambda state, request: twilio.records_messages(state, request.args),
    "charges": lambda state, request: clover.records_charges(state, request.args),
}


def get_records(state: SandboxState, request: Request, kind: str) -> Reply:
    if kind not in RECORDS:
        raise ControlError(404, f"records are kept for {', '.join(RECORDS)}")
    try:
        return _reply(RECORDS[kind](state, request))
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None


def get_webhooks(state: SandboxState, request: Request) -> Reply:
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    for name, clause, convert in (
        ("status", "status = ?", str),
        ("since", "id > ?", int),
        ("topic", "topic = ?", str),
        ("event_id", "event_id = ?", str),
    ):
        if args.get(name):
            where.append(clause)
            values.append(convert(args[name]))
    rows = state.db.query(
        f"SELECT * FROM webhook_deliveries WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608 - placeholders only
        values,
    )
    with_body = args.get("body") in ("1", "true")
    deliveries = []
    for row in rows:
        item = {key: row[key] for key in row.keys() if key != "body"}  # noqa: SIM118 - a Row iterates values
        item["latency_ms"] = (
            round((row["acked_at"] - row["committed_at"]) * 1000, 3) if row["acked_at"] is not None else None
        )
        if with_body:
            item["body"] = json.loads(row["body"])
        deliveries.append(item)
    counts: dict[str, int] = {}
    for item in deliveries:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return _reply(
        {
            "deliveries": deliveries,
            "count": len(deliveries),
            "by_status": counts,
            "dead_letter": [item for item in deliveries if item["status"] == "dead"],
        }
    )


def get_callbacks(state: SandboxState, request: Request) -> Reply:
    """What the Twilio and Clover look-alikes posted to the hub (status callbacks, inbound SMS, webhooks)."""
    args = request.args
    where: list[str] = ["1 = 1"]
    values: list[Any] = []
    for name in ("system", "kind", "status", "ref"):
        if args.get(name):
            where.append(f"{name} = ?")
            values.append(args[name])
    rows = state.db.query(
        f"SELECT * FROM outbound_callbacks WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608 - placeholders only
        values,
    )
    items = [public_row(row) for row in rows]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return _reply({"callbacks": items, "count": len(items), "by_status": counts})


def replay_webhooks(state: SandboxState, request: Request) -> Reply:
    body = _json(request)
    status = body.get("status", "dead")
    if status not in ("dead", "suppressed", "dropped"):
        raise ControlError(400, "status must be dead, suppressed or dropped")
    with state.db.write() as tx:
        changed = tx.execute(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, committed_at = committed_at "
            "WHERE status = ?",
            (state.clock.time(), status),
        ).rowcount
        if changed:
            tx.on_commit(state.webhooks.wake)
    return _reply({"requeued": changed})


def get_stats(state: SandboxState, request: Request) -> Reply:
    with state.db.connection() as conn:
        tables = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in (
                "patients",
                "insurances",
                "appointments",
                "bookings",
                "changed_events",
                "request_log",
                "webhook_deliveries",
                "twilio_messages",
                "clover_charges",
                "clover_refunds",
                "outbound_callbacks",
                "portal_deliveries",
                "clearinghouse_exchanges",
                "benefit_checks",
                "tokens",
            )
        }
        by_system = {
            f"{row['system']}": row["n"]
            for row in conn.execute("SELECT system, COUNT(*) AS n FROM request_log GROUP BY system")
        }
        by_status = {
            str(row["status"]): row["n"]
            for row in conn.execute("SELECT status, COUNT(*) AS n FROM request_log GROUP BY status")
        }
        faults = {
            row["fault"]: row["n"]
            for row in conn.execute(
                "SELECT fault, COUNT(*) AS n FROM request_log WHERE fault IS NOT NULL GROUP BY fault"
            )
        }
        webhooks = {
            row["status"]: row["n"]
            for row in conn.execute("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
        }
        latency = conn.execute(
            "SELECT AVG((acked_at - committed_at) * 1000) AS mean, MAX((acked_at - committed_at) * 1000) AS max "
            "FROM webhook_deliveries WHERE acked_at IS NOT NULL"
        ).fetchone()
    limit, remaining = quota_peek(state, None)
    config = state.config
    return _reply(
        {
            "seed": state.seed,
            "seed_date": state.seed_date(),
            "practice_id": config["practice_id"],
            "type_drift": config["type_drift"],
            "tables": tables,
            "requests": {"by_system": by_system, "by_status": by_status, "faults": faults},
            "webhooks": {"by_status": webhooks, "latency_ms_mean": latency["mean"], "latency_ms_max": latency["max"]},
            "quota": {"daily_limit": limit, "remaining_default": remaining},
            "time": state.clock.time(),
        }
    )


def put_quota(state: SandboxState, request: Request) -> Reply:
    body = _json(request)
    if not isinstance(body.get("remaining"), int) or body["remaining"] < 0:
        raise ControlError(400, "remaining must be a non-negative integer")
    return _reply(quota_set_remaining(state, body["remaining"], body.get("client_id")))


def revoke_tokens(state: SandboxState, request: Request) -> Reply:
    body = _json(request)
    client = body.get("client_id")
    with state.db.write() as tx:
        if client:
            revoked = tx.execute("DELETE FROM tokens WHERE client_id = ?", (client,)).rowcount
        else:
            revoked = tx.execute("DELETE FROM tokens").rowcount
    with state.counters_lock:
        for token in [token for token, (owner, _exp) in state.token_cache.items() if not client or owner == client]:
            del state.token_cache[token]
    return _reply({"revoked": revoked})


def get_config(state: SandboxState, request: Request) -> Reply:
    return _reply(state.config)


def put_config(state: SandboxState, request: Request) -> Reply:
    patch = _json(request)
    rules_before = state.config["faults"]["rules"]
    try:
        updated = state.update_config(patch)
    except ConfigError as exc:
        raise ControlError(400, str(exc)) from None
    if updated["faults"]["rules"] != rules_before:
        with state.counters_lock:
            state.rule_uses.clear()
    return _reply(updated)


def post_reset(state: SandboxState, request: Request) -> Reply:
    body = _json(request)
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise ControlError(400, "seed must be an integer")
    started = time.perf_counter()
    result = state.reset(
        seed,
        clear_tokens=bool(body.get("clear_tokens")),
        seed_date=body.get("seed_date"),
        restore_config=bool(body.get("restore_config")),
    )
    result["seconds"] = round(time.perf_counter() - started, 3)
    return _reply(result)


def get_index(state: SandboxState, request: Request) -> Reply:
    return _reply(
        {
            "sandbox": "athenaOne look-alike",
            "practice_id": state.config["practice_id"],
            "seed": state.seed,
            "endpoints": [rule.rule for rule in CONTROL_MAP.iter_rules()],
            "edit_types": sorted(EDITS),
        }
    )


CONTROL_MAP = Map(
    [
        Rule("/_sandbox/", endpoint="index", methods=["GET"]),
        Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
        Rule("/_sandbox/config", endpoint="get_config", methods=["GET"]),
        Rule("/_sandbox/config", endpoint="put_config", methods=["PUT", "PATCH", "POST"]),
        Rule("/_sandbox/edits", endpoint="edits", methods=["POST"]),
        Rule("/_sandbox/requests", endpoint="requests", methods=["GET"]),
        Rule("/_sandbox/records/<kind>", endpoint="records", methods=["GET"]),
        Rule("/_sandbox/webhooks", endpoint="webhooks", methods=["GET"]),
        Rule("/_sandbox/webhooks/replay", endpoint="replay", methods=["POST"]),
        Rule("/_sandbox/callbacks", endpoint="callbacks", methods=["GET"]),
        Rule("/_sandbox/stats", endpoint="stats", methods=["GET"]),
        Rule("/_sandbox/quota", endpoint="quota", methods=["PUT", "POST"]),
        Rule("/_sandbox/tokens/revoke", endpoint="revoke", methods=["POST"]),
    ],
    strict_slashes=False,
)

HANDLERS: dict[str, Callable[..., Reply]] = {
    "index": get_index,
    "reset": post_reset,
    "get_config": get_config,
    "put_config": put_config,
    "edits": post_edits,
    "requests": get_requests,
    "records": get_records,
    "webhooks": get_webhooks,
    "replay": replay_webhooks,
    "callbacks": get_callbacks,
    "stats": get_stats,
    "quota": put_quota,
    "revoke": revoke_tokens,
}


def dispatch(state: SandboxState, request: Request) -> Reply:
    """Route and run one control request."""
    adapter = CONTROL_MAP.bind_to_environ(request.environ)
    try:
        endpoint, args = adapter.match()
        return HANDLERS[str(endpoint)](state, request, **args)
    except ControlError as exc:
        return Reply(status=exc.status, body=exc.body, content_type=JSON, drift=False, error=True)
    except NotFound:
        return Reply(status=404, body={"error": "no such control endpoint"}, content_type=JSON, drift=False)
    except MethodNotAllowed:
        return Reply(status=405, body={"error": "method not allowed"}, content_type=JSON, drift=False)
    except HTTPException as exc:
        return Reply(status=exc.code or 400, body={"error": exc.description}, content_type=JSON, drift=False)
