"""Appointments: open slots, booking (409 on a taken slot), booked lists, cancel, reschedule,
check-in/check-out, notes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from sandbox.athena.records import (
    appointment_json,
    appointment_types,
    department_zone,
    load_appointment_row,
    load_department,
    load_patient,
    load_provider,
    not_found,
    notes_for,
    open_slot_json,
    parse_id,
    reasons_by_type,
)
from sandbox.common import (
    athena_datetime,
    local_timestamp,
    parse_athena_date,
    parse_athena_datetime,
    parse_time,
)
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.events import record_change
from sandbox.routing import Route, v1
from sandbox.wire import (
    SLOT_TAKEN_DETAIL,
    SLOT_TAKEN_ERROR,
    ApiError,
    Reply,
    invalid,
    limit_offset,
    missing,
    page,
)

if TYPE_CHECKING:
    from sandbox.state import SandboxState

SLOT_LIMITS = (1000, 10000)
BOOKED_STATUSES = ("f", "2", "3", "4")
API_CANCEL_REASON = {"cancelreasonid": "-5", "cancelreasonname": "CANCELLED FROM API", "cancelreasonnoshow": False}


def _slot_taken() -> ApiError:
    return ApiError(409, SLOT_TAKEN_ERROR, detailedmessage=SLOT_TAKEN_DETAIL)


def _soft_failure(message: str) -> Reply:
    """athena answers some failed writes with HTTP 200 and success=false."""
    return Reply(body={"success": False, "errormessage": message})


def _save(tx: Transaction, row: sqlite3.Row, data: dict[str, Any], now: float, **columns: Any) -> sqlite3.Row:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    sql = "UPDATE appointments SET data = ?, lastmodified_at = ?"
    if assignments:
        sql += ", " + assignments
    tx.execute(sql + " WHERE appointmentid = ?", (json.dumps(data), now, *columns.values(), row["appointmentid"]))
    result = load_appointment_row(tx, row["appointmentid"])
    assert result is not None
    return result


def _emit(
    tx: Transaction, state: SandboxState, row: sqlite3.Row, eventname: str, topic: str | None, actor: str
) -> dict[str, Any] | None:
    snapshot = appointment_json(row, notes_for(tx, [row["appointmentid"]]).get(row["appointmentid"]))
    return record_change(
        tx,
        state,
        feed="appointments",
        eventname=eventname,
        entityid=str(row["appointmentid"]),
        snapshot=snapshot,
        departmentid=str(row["departmentid"]),
        patientid=str(row["patientid"]) if row["patientid"] is not None else None,
        providerid=str(row["providerid"]),
        topic=topic,
        actor=actor,
    )


def _add_note(tx: Transaction, appointmentid: int, text: str, actor: str, now: float, display: bool = False) -> int:
    cursor = tx.execute(
        "INSERT INTO appointment_notes (appointmentid, notetext, displayonschedule, created_at, createdby) "
        "VALUES (?, ?, ?, ?, ?)",
        (appointmentid, text, int(display), now, actor),
    )
    return int(cursor.lastrowid or 0)


def _type_fields(types: dict[int, dict[str, Any]], typeid: int) -> dict[str, Any]:
    kind = types[typeid]
    return {
        "appointmenttype": kind["name"],
        "patientappointmenttypename": kind["patientdisplayname"],
        "duration": int(kind["duration"]),
    }


# --- services ----------------------------------------------------------------------------------------


def slots_create(
    tx: Transaction,
    state: SandboxState,
    *,
    departmentid: int,
    providerid: int,
    date: dt.date,
    times: list[str],
    appointmenttypeid: int,
    actor: str,
    via: str,
) -> dict[str, str]:
    """Create open slots; returns {appointmentid: "HH:MM"}."""
    types = appointment_types(tx)
    zone = department_zone(tx, departmentid)
    now = state.clock.time()
    created: dict[str, str] = {}
    for hhmm in times:
        next_id = tx.execute("SELECT COALESCE(MAX(appointmentid), 1000000) + 1 FROM appointments").fetchone()[0]
        data = {
            **_type_fields(types, appointmenttypeid),
            "templateappointmentid": str(next_id),
            "templateappointmenttypeid": str(appointmenttypeid),
            "hl7providerid": providerid,
            "chargeentrynotrequired": False,
            "coordinatorenterprise": False,
        }
        tx.execute(
            "INSERT INTO appointments (appointmentid, departmentid, providerid, appointmenttypeid, patientid, status, "
            "date, starttime, start_at, frozen, api_bookable, created_at, created_via, lastmodified_at, data) "
            "VALUES (?, ?, ?, ?, NULL, 'o', ?, ?, ?, 0, 1, ?, ?, ?, ?)",
            (
                next_id,
                departmentid,
                providerid,
                appointmenttypeid,
                date.isoformat(),
                hhmm,
                local_timestamp(date.isoformat(), hhmm, zone),
                now,
                via,
                now,
                json.dumps(data),
            ),
        )
        row = load_appointment_row(tx, next_id)
        assert row is not None
        _emit(tx, state, row, "AddAppointmentSlot", None, actor)
        created[str(next_id)] = hhmm
    return created


def appointment_book(
    tx: Transaction,
    state: SandboxState,
    appointmentid: int,
    patientid: int,
    *,
    actor: str,
    via: str,
    client_id: str | None,
    appointmenttypeid: int | None = None,
    ignore_schedulable: bool = False,
    bookingnote: str = "",
    urgent: bool = False,
    emit: bool = True,
) -> tuple[sqlite3.Row, dict[str, Any] | None]:
    """Book an open slot for a patient; the slot keeps its appointmentid. 409 when it is not open."""
    row = load_appointment_row(tx, appointmentid)
    if row is None:
        raise not_found(state.config)
    if row["status"] != "o" or row["frozen"] or (not row["api_bookable"] and not ignore_schedulable):
        raise _slot_taken()
    if load_patient(tx, patientid) is None:
        raise invalid(f"Invalid patient ID: {patientid}", ["patientid"])
    now = state.clock.time()
    data = json.loads(row["data"])
    columns: dict[str, Any] = {"status": "f", "patientid": patientid}
    if appointmenttypeid is not None and appointmenttypeid != row["appointmenttypeid"]:
        types = appointment_types(tx)
        if appointmenttypeid not in types:
            raise invalid(f"Invalid appointment type ID: {appointmenttypeid}", ["appointmenttypeid"])
        data.update(_type_fields(types, appointmenttypeid))
        columns["appointmenttypeid"] = appointmenttypeid
    data.update(
        {
            "scheduledby": actor,
            "scheduleddatetime": athena_datetime(now),
            "lastmodifiedby": actor,
            "copay": data.get("copay", 0),
            "urgentyn": urgent,
        }
    )
    booked = _save(tx, row, data, now, **columns)
    tx.execute(
        "INSERT INTO bookings (appointmentid, patientid, booked_at, via, booked_by) VALUES (?, ?, ?, ?, ?)",
        (appointmentid, patientid, now, via, client_id or actor),
    )
    if bookingnote or via == "api":
        reason = bookingnote or "Appointment booked through the API."
        _add_note(
            tx, appointmentid, f"API ({actor}) appointment created.  Reported reason for booking: {reason}", actor, now
        )
    if not emit:
        return booked, None
    event = _emit(tx, state, booked, "ScheduleAppointment", "Appointment.schedule", actor)
    return booked, event


def _cancel_reason(tx: Transaction, reasonid: int | None) -> dict[str, Any] | None:
    if reasonid is None:
        return None
    row = tx.execute("SELECT data FROM cancel_reasons WHERE appointmentcancelreasonid = ?", (reasonid,)).fetchone()
    return json.loads(row["data"]) if row else None


def _free_slot_again(tx: Transaction, state: SandboxState, row: sqlite3.Row, actor: str) -> int:
    """A cancellation whose reason leaves the slot available puts a new open slot at the same time."""
    types = appointment_types(tx)
    next_id = tx.execute("SELECT COALESCE(MAX(appointmentid), 1000000) + 1 FROM appointments").fetchone()[0]
    now = state.clock.time()
    data = {
        **_type_fields(types, row["appointmenttypeid"]),
        "templateappointmentid": str(next_id),
        "templateappointmenttypeid": str(row["appointmenttypeid"]),
        "hl7providerid": row["providerid"],
        "chargeentrynotrequired": False,
        "coordinatorenterprise": False,
    }
    tx.execute(
        "INSERT INTO appointments (appointmentid, departmentid, providerid, appointmenttypeid, patientid, status, "
        "date, starttime, start_at, frozen, api_bookable, created_at, created_via, lastmodified_at, data) "
        "VALUES (?, ?, ?, ?, NULL, 'o', ?, ?, ?, 0, 1, ?, 'cancellation', ?, ?)",
        (
            next_id,
            row["departmentid"],
            row["providerid"],
            row["appointmenttypeid"],
            row["date"],
            row["starttime"],
            row["start_at"],
            now,
            now,
            json.dumps(data),
        ),
    )
    fresh = load_appointment_row(tx, next_id)
    assert fresh is not None
    _emit(tx, state, fresh, "AddAppointmentSlot", None, actor)
    return int(next_id)


def appointment_cancel(
    tx: Transaction,
    state: SandboxState,
    appointmentid: int,
    *,
    patientid: int | None,
    actor: str,
    reason_text: str = "",
    cancelreasonid: int | None = None,
    via: str = "api",
) -> tuple[sqlite3.Row, dict[str, Any] | None]:
    row = load_appointment_row(tx, appointmentid)
    if row is None:
        raise not_found(state.config)
    if row["status"] == "o":
        raise invalid("The appointment is not booked.", ["appointmentid"])
    if row["status"] == "x":
        raise invalid("The appointment has already been cancelled.", ["appointmentid"])
    if row["status"] in ("3", "4"):
        raise invalid("A checked-out appointment cannot be cancelled.", ["appointmentid"])
    if patientid is not None and row["patientid"] != patientid:
        raise invalid("The patient ID does not match the appointment.", ["patientid"])
    now = state.clock.time()
    data = json.loads(row["data"])
    reason = _cancel_reason(tx, cancelreasonid)
    if cancelreasonid is not None and reason is None:
        raise invalid(f"Invalid appointment cancel reason ID: {cancelreasonid}", ["appointmentcancelreasonid"])
    if reason is not None:
        fields = {
            "cancelreasonid": reason["appointmentcancelreasonid"],
            "cancelreasonname": reason["name"],
            "cancelreasonnoshow": reason["noshow"],
            "cancelreasonslotavailable": reason["slotavailable"],
        }
    else:
        free = bool(state.config["scheduling"]["api_cancel_frees_slot"])
        fields = {**API_CANCEL_REASON, "cancelreasonslotavailable": free}
    data.update(fields)
    data.update({"cancelledby": actor, "cancelleddatetime": athena_datetime(now), "lastmodifiedby": actor})
    if via == "api":
        _add_note(
            tx,
            appointmentid,
            f"API appointment cancellation. Reported reason for cancellation: {reason_text or 'None given'}",
            actor,
            now,
        )
    cancelled = _save(tx, row, data, now, status="x")
    event = _emit(tx, state, cancelled, "CancelAppointment", "Appointment.cancel", actor)
    if fields["cancelreasonslotavailable"]:
        _free_slot_again(tx, state, row, actor)
    return cancelled, event


def appointment_reschedule(
    tx: Transaction,
    state: SandboxState,
    appointmentid: int,
    newappointmentid: int,
    *,
    patientid: int,
    actor: str,
    via: str,
    client_id: str | None,
    reason_text: str = "",
) -> tuple[sqlite3.Row, list[dict[str, Any]]]:
    """Move a booking to another open slot: the old one is cancelled and points at the new one."""
    old = load_appointment_row(tx, appointmentid)
    if old is None:
        raise not_found(state.config)
    if old["status"] not in ("f", "2") or old["patientid"] != patientid:
        raise invalid("The appointment is not booked for this patient.", ["appointmentid", "patientid"])
    new = load_appointment_row(tx, newappointmentid)
    if new is None:
        raise invalid(f"Invalid new appointment ID: {newappointmentid}", ["newappointmentid"])
    if new["status"] != "o" or new["frozen"]:
        raise _slot_taken()
    now = state.clock.time()
    booked, _ = appointment_book(
        tx,
        state,
        newappointmentid,
        patientid,
        actor=actor,
        via=via,
        client_id=client_id,
        appointmenttypeid=old["appointmenttypeid"],
        ignore_schedulable=True,
        bookingnote=reason_text or "Rescheduled.",
        emit=False,
    )
    data = json.loads(old["data"])
    data.update(
        {
            "rescheduledappointmentid": str(newappointmentid),
            "cancelreasonid": "3",
            "cancelreasonname": "PATIENT RESCHEDULED",
            "cancelreasonnoshow": False,
            "cancelreasonslotavailable": True,
            "cancelledby": actor,
            "cancelleddatetime": athena_datetime(now),
            "lastmodifiedby": actor,
        }
    )
    cancelled = _save(tx, old, data, now, status="x")
    events = [
        _emit(tx, state, cancelled, "CancelAppointment", "Appointment.reschedule", actor),
        _emit(tx, state, booked, "ScheduleAppointment", "Appointment.reschedule", actor),
    ]
    _free_slot_again(tx, state, old, actor)
    return booked, [event for event in events if event]


def appointment_set_status(
    tx: Transaction, state: SandboxState, appointmentid: int, action: str, *, actor: str
) -> tuple[sqlite3.Row | None, str | None, dict[str, Any] | None]:
    """startcheckin / checkin / cancelcheckin / checkout: (row, soft error message, event)."""
    row = load_appointment_row(tx, appointmentid)
    if row is None:
        raise not_found(state.config)
    status = row["status"]
    if status == "x":
        return None, "The appointment has been cancelled.", None
    if status == "o":
        return None, "The appointment is not booked.", None
    now = state.clock.time()
    data = json.loads(row["data"])
    data["lastmodifiedby"] = actor
    if action == "startcheckin":
        if status != "f":
            return None, "Check-in has already been completed.", None
        data["startcheckin"] = athena_datetime(now)
        saved = _save(tx, row, data, now)
        return saved, None, _emit(tx, state, saved, "UpdateAppointment", "Appointment.update", actor)
    if action == "checkin":
        if status != "f":
            return None, "The appointment is already checked in.", None
        data.setdefault("startcheckin", athena_datetime(now))
        data["stopcheckin"] = athena_datetime(now)
        data["checkindatetime"] = athena_datetime(now)
        saved = _save(tx, row, data, now, status="2")
        return saved, None, _emit(tx, state, saved, "CheckIn", "Appointment.check-in", actor)
    if action == "cancelcheckin":
        if status not in ("f", "2"):
            return None, "The appointment cannot be returned to scheduled.", None
        for key in ("startcheckin", "stopcheckin", "checkindatetime"):
            data.pop(key, None)
        saved = _save(tx, row, data, now, status="f")
        return saved, None, _emit(tx, state, saved, "UpdateAppointment", "Appointment.update", actor)
    if action == "checkout":
        if status != "2":
            return None, "The appointment must be checked in before check-out.", None
        data["checkoutdatetime"] = athena_datetime(now)
        saved = _save(tx, row, data, now, status="3")
        return saved, None, _emit(tx, state, saved, "CheckOut", "Appointment.check-out", actor)
    raise ValueError(action)


def appointment_update(
    tx: Transaction, state: SandboxState, appointmentid: int, fields: dict[str, Any], *, actor: str
) -> tuple[sqlite3.Row, dict[str, Any] | None]:
    """Front-desk edit of a booked appointment's time, provider, type or expected copay (fires Appointment.update)."""
    row = load_appointment_row(tx, appointmentid)
    if row is None:
        raise not_found(state.config)
    data = json.loads(row["data"])
    columns: dict[str, Any] = {}
    date_iso, start = row["date"], row["starttime"]
    if "date" in fields:
        day = parse_athena_date(str(fields["date"])) or _iso_date(str(fields["date"]))
        if day is None:
            raise invalid(f"Expecting format date, but value is {fields['date']}", ["date"])
        date_iso = columns["date"] = day.isoformat()
    if "starttime" in fields:
        start = parse_time(str(fields["starttime"]))
        if start is None:
            raise invalid(f"Invalid start time: {fields['starttime']}", ["starttime"])
        columns["starttime"] = start
    if "providerid" in fields:
        providerid = parse_id(str(fields["providerid"]))
        if load_provider(tx, providerid) is None:
            raise invalid(f"Invalid provider ID: {fields['providerid']}", ["providerid"])
        columns["providerid"] = providerid
        data["hl7providerid"] = providerid
    if "appointmenttypeid" in fields:
        types = appointment_types(tx)
        typeid = parse_id(str(fields["appointmenttypeid"]))
        if typeid not in types:
            raise invalid(f"Invalid appointment type ID: {fields['appointmenttypeid']}", ["appointmenttypeid"])
        columns["appointmenttypeid"] = typeid
        data.update(_type_fields(types, typeid))
    if "frozen" in fields:
        columns["frozen"] = int(bool(fields["frozen"]))
    if "copay" in fields:
        copay = fields["copay"]
        if isinstance(copay, bool) or not isinstance(copay, int | float | str):
            raise invalid(f"Invalid copay: {copay}", ["copay"])
        try:
            data["copay"] = int(float(copay)) if float(copay).is_integer() else float(copay)
        except ValueError:
            raise invalid(f"Invalid copay: {copay}", ["copay"]) from None
    if "date" in columns or "starttime" in columns:
        columns["start_at"] = local_timestamp(date_iso, start, department_zone(tx, row["departmentid"]))
    data["lastmodifiedby"] = actor
    saved = _save(tx, row, data, state.clock.time(), **columns)
    if "frozen" in fields and len(fields) == 1:
        frozen = bool(fields["frozen"])
        name, topic = (
            ("FreezeAppointment", "Appointment.freeze") if frozen else ("UnfreezeAppointment", "Appointment.unfreeze")
        )
        return saved, _emit(tx, state, saved, name, topic if saved["status"] != "o" else None, actor)
    update_topic = "Appointment.update" if saved["status"] != "o" else None
    return saved, _emit(tx, state, saved, "UpdateAppointment", update_topic, actor)


def _iso_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


# --- handlers ----------------------------------------------------------------------------------


def _departments(call: Call, required: bool = True) -> list[int]:
    values = call.params.list("departmentid")
    if not values:
        if required:
            raise missing(["departmentid"])
        return []
    ids = []
    with call.state.db.connection() as conn:
        for value in values:
            departmentid = parse_id(value)
            if load_department(conn, departmentid) is None:
                raise invalid(f"Invalid department ID: {value}", ["departmentid"])
            ids.append(int(departmentid or 0))
    return ids


def _date_param(call: Call, name: str) -> dt.date | None:
    raw = call.params.get(name)
    if raw is None:
        return None
    value = parse_athena_date(raw)
    if value is None:
        raise invalid(f"Expecting format date, but value is {raw}", [name])
    return value


def _ids(call: Call, name: str) -> list[int]:
    out = []
    for value in call.params.list(name):
        parsed = parse_id(value)
        if parsed is None:
            raise invalid(f"Expecting type integer, but value is {value}", [name])
        out.append(parsed)
    return out


def list_open_slots(call: Call) -> Reply:
    params = call.params
    departments = _departments(call)
    reason_values = params.list("reasonid")
    type_ids = _ids(call, "appointmenttypeid")
    provider_ids = _ids(call, "providerid")
    limit, offset = limit_offset(params, *SLOT_LIMITS)

    def empty() -> Reply:
        return Reply(
            body=page(
                items=[],
                total=0,
                collection="appointments",
                offset=offset,
                limit=limit,
                path=call.request.path,
                query=list(call.request.args.items(multi=True)),
            )
        )

    if not reason_values and not type_ids:
        return empty()  # athena answers nothing, not an error, without a reason or a type
    any_reason = reason_values == ["-1"]
    reason_ids: list[int] = []
    if not any_reason:
        for value in reason_values:
            parsed = parse_id(value)
            if parsed is None:
                raise invalid(f"Expecting type integer, but value is {value}", ["reasonid"])
            reason_ids.append(parsed)
    if reason_values and not any_reason and not provider_ids:
        raise missing(["providerid"], "A provider is required when searching by a specific reason.")
    with call.state.db.connection() as conn:
        zone = department_zone(conn, departments[0])
        today = call.state.clock.today_in(zone)
        start = _date_param(call, "startdate") or today
        end = _date_param(call, "enddate") or today + dt.timedelta(
            days=int(call.config["scheduling"]["default_window_days"])
        )
        by_type = reasons_by_type(conn)
        reason_rows = {
            row["reasonid"]: json.loads(row["data"])
            for row in conn.execute("SELECT reasonid, data FROM reasons").fetchall()
        }
        unknown = [str(rid) for rid in reason_ids if rid not in reason_rows]
        if unknown:
            raise invalid(f"Invalid reason ID: {', '.join(unknown)}", ["reasonid"])
        where = [
            "status = 'o'",
            f"departmentid IN ({','.join('?' * len(departments))})",
            "date BETWEEN ? AND ?",
        ]
        args: list[Any] = [*departments, start.isoformat(), end.isoformat()]
        if provider_ids:
            where.append(f"providerid IN ({','.join('?' * len(provider_ids))})")
            args.extend(provider_ids)
        if type_ids:
            where.append(f"appointmenttypeid IN ({','.join('?' * len(type_ids))})")
            args.extend(type_ids)
        if not params.bool("showfrozenslots"):
            where.append("frozen = 0")
        if not params.bool("ignoreschedulablepermission"):
            where.append("api_bookable = 1")
        rows = conn.execute(
            f"SELECT * FROM appointments WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY date, starttime, appointmentid",
            args,
        ).fetchall()
    now = call.now
    bypass = params.bool("bypassscheduletimechecks")
    scheduling = call.config["scheduling"]
    items = []
    for row in rows:
        slot_reasons = by_type.get(row["appointmenttypeid"], [])
        if reason_ids:
            matching = [str(rid) for rid in reason_ids if str(rid) in slot_reasons]
            if not matching:
                continue
            min_hours = min(int(reason_rows[rid]["schedulingminhours"]) for rid in reason_ids if rid in reason_rows)
            max_days = max(int(reason_rows[rid]["schedulingmaxdays"]) for rid in reason_ids if rid in reason_rows)
        else:
            matching = slot_reasons
            if any_reason and not slot_reasons:
                continue
            min_hours, max_days = int(scheduling["min_hours_ahead"]), int(scheduling["max_days_ahead"])
        if not bypass and (row["start_at"] < now + min_hours * 3600 or row["start_at"] > now + max_days * 86400):
            continue
        items.append(open_slot_json(row, matching, show_frozen=params.bool("showfrozenslots")))
    body = page(
        items=items[offset : offset + limit],
        total=len(items),
        collection="appointments",
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


def create_open_slots(call: Call) -> Reply:
    params = call.params
    needed = [
        name for name in ("departmentid", "providerid", "appointmentdate", "appointmenttime") if not params.get(name)
    ]
    if needed:
        raise missing(needed)
    if not params.get("appointmenttypeid") and not params.get("reasonid"):
        raise missing([], "An appointment type or reason must be provided.")
    departmentid = _departments(call)[0]
    providerid = parse_id(params.get("providerid"))
    date = _date_param(call, "appointmentdate")
    times = [parse_time(value) for value in params.list("appointmenttime")]
    if any(value is None for value in times):
        raise invalid("Invalid appointment time; expecting HH:MM.", ["appointmenttime"])
    with call.state.db.write() as tx:
        if load_provider(tx, providerid) is None:
            raise invalid(f"Invalid provider ID: {params.get('providerid')}", ["providerid"])
        typeid = parse_id(params.get("appointmenttypeid"))
        if typeid is None:
            reason = tx.execute(
                "SELECT appointmenttypeid FROM reasons WHERE reasonid = ?", (parse_id(params.get("reasonid")),)
            ).fetchone()
            if reason is None:
                raise invalid(f"Invalid reason ID: {params.get('reasonid')}", ["reasonid"])
            typeid = int(reason["appointmenttypeid"])
        if typeid not in appointment_types(tx):
            raise invalid(f"Invalid appointment type ID: {typeid}", ["appointmenttypeid"])
        assert date is not None and providerid is not None
        created = slots_create(
            tx,
            call.state,
            departmentid=departmentid,
            providerid=providerid,
            date=date,
            times=[time for time in times if time],
            appointmenttypeid=typeid,
            actor=call.actor,
            via=call.via,
        )
        call.wrote = True
    if created:
        call.touch(appointmentid=next(iter(created)))
    return Reply(body={"appointmentids": created})


def _load_or_404(call: Call, appointmentid: str) -> sqlite3.Row:
    with call.state.db.connection() as conn:
        row = load_appointment_row(conn, parse_id(appointmentid))
    if row is None:
        raise not_found(call.config)
    call.touch(appointmentid=row["appointmentid"], patientid=row["patientid"])
    return row


def get_appointment(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    with call.state.db.connection() as conn:
        notes = notes_for(conn, [row["appointmentid"]]).get(row["appointmentid"])
    return Reply(body=[appointment_json(row, notes)])


def book_appointment(call: Call, appointmentid: str) -> Reply:
    params = call.params
    if not params.get("patientid"):
        raise missing(["patientid"])
    if not params.get("reasonid") and not params.get("appointmenttypeid"):
        raise missing(["appointmenttypeid", "reasonid"], "An appointment type or reason must be provided.")
    patientid = parse_id(params.get("patientid"))
    if patientid is None:
        raise invalid(f"Expecting type integer, but value is {params.get('patientid')}", ["patientid"])
    aid = parse_id(appointmentid)
    call.touch(appointmentid=aid, patientid=patientid)
    with call.state.db.write() as tx:
        if aid is None:
            raise not_found(call.config)
        typeid = None
        if params.get("appointmenttypeid"):
            typeid = parse_id(params.get("appointmenttypeid"))
            if typeid is None:
                raise invalid(
                    f"Expecting type integer, but value is {params.get('appointmenttypeid')}", ["appointmenttypeid"]
                )
        elif params.get("reasonid"):
            reasonid = parse_id(params.get("reasonid"))
            reason = tx.execute("SELECT reasonid FROM reasons WHERE reasonid = ?", (reasonid,)).fetchone()
            if reason is None and params.get("reasonid") != "-1":
                raise invalid(f"Invalid reason ID: {params.get('reasonid')}", ["reasonid"])
        booked, event = appointment_book(
            tx,
            call.state,
            aid,
            patientid,
            actor=call.actor,
            via=call.via,
            client_id=call.client_id,
            appointmenttypeid=typeid,
            ignore_schedulable=params.bool("ignoreschedulablepermission"),
            bookingnote=params.get("bookingnote") or "",
            urgent=params.bool("urgent"),
        )
        notes = notes_for(tx, [aid]).get(aid)
        call.wrote = True
    if event:
        call.events.append(event)
    return Reply(body=[appointment_json(booked, notes)])


def delete_open_slot(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    if row["status"] != "o":
        raise invalid("Only open appointment slots can be deleted.", ["appointmentid"])
    with call.state.db.write() as tx:
        tx.execute("DELETE FROM appointments WHERE appointmentid = ? AND status = 'o'", (row["appointmentid"],))
        _emit(tx, call.state, row, "DeleteAppointment", None, call.actor)
        call.wrote = True
    return Reply(body={"success": True})


def list_booked(call: Call) -> Reply:
    params = call.params
    needed = [name for name in ("departmentid", "startdate", "enddate") if not params.get(name)]
    if needed:
        raise missing(needed)
    departments = _departments(call)
    start, end = _date_param(call, "startdate"), _date_param(call, "enddate")
    assert start is not None and end is not None
    statuses = list(BOOKED_STATUSES)
    if params.bool("showcancelled"):
        statuses.append("x")
    wanted_status = params.list("appointmentstatus")
    if wanted_status:
        statuses = [status for status in wanted_status if status in ("f", "2", "3", "4", "x")]
    where = [
        f"status IN ({','.join('?' * len(statuses))})" if statuses else "0",
        f"departmentid IN ({','.join('?' * len(departments))})",
        "date BETWEEN ? AND ?",
    ]
    args: list[Any] = [*statuses, *departments, start.isoformat(), end.isoformat()]
    for name in ("providerid", "patientid", "appointmenttypeid"):
        values = _ids(call, name)
        if values:
            where.append(f"{name} IN ({','.join('?' * len(values))})")
            args.extend(values)
    for name, operator in (("startlastmodified", ">="), ("endlastmodified", "<=")):
        raw = params.get(name)
        if raw:
            moment = parse_athena_datetime(raw)
            if moment is None:
                raise invalid(f"Expecting format datetime, but value is {raw}", [name])
            where.append(f"lastmodified_at {operator} ?")
            args.append(moment.timestamp())
    limit, offset = limit_offset(params, *SLOT_LIMITS)
    clause = " AND ".join(where)
    with call.state.db.connection() as conn:
        total = conn.execute(f"SELECT COUNT(*) FROM appointments WHERE {clause}", args).fetchone()[0]  # noqa: S608
        rows = conn.execute(
            f"SELECT * FROM appointments WHERE {clause} "  # noqa: S608
            "ORDER BY date, starttime, appointmentid LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        notes = notes_for(conn, [row["appointmentid"] for row in rows])
    items = [appointment_json(row, notes.get(row["appointmentid"])) for row in rows]
    body = page(
        items=items,
        total=total,
        collection="appointments",
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


def cancel_appointment(call: Call, appointmentid: str) -> Reply:
    params = call.params
    needed = [] if params.get("patientid") else ["patientid"]
    if call.config["scheduling"]["cancel_requires_reason"] and not params.get("cancellationreason"):
        needed.append("cancellationreason")
    if needed:
        raise missing(needed)
    patientid = parse_id(params.get("patientid"))
    aid = parse_id(appointmentid)
    call.touch(appointmentid=aid, patientid=patientid)
    with call.state.db.write() as tx:
        if aid is None:
            raise not_found(call.config)
        _row, event = appointment_cancel(
            tx,
            call.state,
            aid,
            patientid=patientid,
            actor=call.actor,
            reason_text=params.get("cancellationreason") or "",
            cancelreasonid=params.int("appointmentcancelreasonid"),
            via=call.via,
        )
        call.wrote = True
    if event:
        call.events.append(event)
    return Reply(body={"status": "x"})


def reschedule_appointment(call: Call, appointmentid: str) -> Reply:
    params = call.params
    needed = [name for name in ("newappointmentid", "patientid") if not params.get(name)]
    if needed:
        raise missing(needed)
    aid = parse_id(appointmentid)
    newid = parse_id(params.get("newappointmentid"))
    patientid = parse_id(params.get("patientid"))
    call.touch(appointmentid=aid, patientid=patientid)
    with call.state.db.write() as tx:
        if aid is None:
            raise not_found(call.config)
        if newid is None or patientid is None:
            raise invalid("Expecting type integer.", ["newappointmentid", "patientid"])
        booked, events = appointment_reschedule(
            tx,
            call.state,
            aid,
            newid,
            patientid=patientid,
            actor=call.actor,
            via=call.via,
            client_id=call.client_id,
            reason_text=params.get("reschedulereason") or "",
        )
        notes = notes_for(tx, [newid]).get(newid)
        call.wrote = True
    call.events.extend(events)
    return Reply(body=[appointment_json(booked, notes)])


def _status_action(call: Call, appointmentid: str, action: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    with call.state.db.write() as tx:
        saved, problem, event = appointment_set_status(tx, call.state, row["appointmentid"], action, actor=call.actor)
        call.wrote = saved is not None
    if problem:
        return _soft_failure(problem)
    if event:
        call.events.append(event)
    messages = {
        "startcheckin": "Check-in started.",
        "checkin": "Appointment checked in.",
        "cancelcheckin": "Check-in cancelled.",
        "checkout": "Appointment checked out.",
    }
    return Reply(body={"success": True, "message": messages[action]})


def start_checkin(call: Call, appointmentid: str) -> Reply:
    return _status_action(call, appointmentid, "startcheckin")


def checkin(call: Call, appointmentid: str) -> Reply:
    return _status_action(call, appointmentid, "checkin")


def cancel_checkin(call: Call, appointmentid: str) -> Reply:
    return _status_action(call, appointmentid, "cancelcheckin")


def checkout(call: Call, appointmentid: str) -> Reply:
    return _status_action(call, appointmentid, "checkout")


def checkin_requirements(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    with call.state.db.connection() as conn:
        patient = load_patient(conn, row["patientid"]) if row["patientid"] else None
        insured = bool(
            row["patientid"]
            and conn.execute(
                "SELECT 1 FROM insurances WHERE patientid = ? AND cancelled = 0", (row["patientid"],)
            ).fetchone()
        )
    patient = patient or {}

    def field(name: str, label: str) -> dict[str, Any]:
        valid = bool(patient.get(name))
        entry: dict[str, Any] = {"field": label, "valid": valid}
        if not valid:
            entry["error"] = f"{label} is required."
        return entry

    demographics = [
        field("address1", "Address"),
        field("city", "City"),
        field("zip", "Zip"),
        field("dob", "DOB"),
        field("sex", "Sex"),
    ]
    contact = [{"field": "Phone", "valid": bool(patient.get("mobilephone") or patient.get("homephone"))}]
    sections = [
        {
            "name": "Demographics",
            "required": True,
            "complete": all(item["valid"] for item in demographics),
            "fields": demographics,
        },
        {"name": "Contact", "required": True, "complete": contact[0]["valid"], "fields": contact},
        {
            "name": "Insurance",
            "required": False,
            "complete": insured,
            "fields": [{"field": "Insurance", "valid": insured}],
        },
        {
            "name": "Privacy",
            "required": True,
            "complete": bool(patient.get("privacyinformationverified")),
            "fields": [{"field": "Privacy notice", "valid": bool(patient.get("privacyinformationverified"))}],
        },
    ]
    return Reply(body=sections)


def list_notes(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    sql = "SELECT * FROM appointment_notes WHERE appointmentid = ?"
    if not call.params.bool("showdeleted"):
        sql += " AND deleted = 0"
    rows = call.state.db.query(sql + " ORDER BY noteid", (row["appointmentid"],))
    notes = [
        {
            "noteid": str(note["noteid"]),
            "notetext": note["notetext"],
            "created": athena_datetime(note["created_at"]),
            "createdby": note["createdby"],
            "displayonschedule": bool(note["displayonschedule"]),
            **({"deleted": True} if note["deleted"] else {}),
        }
        for note in rows
    ]
    return Reply(body={"notes": notes, "totalcount": len(notes)})


def add_note(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    text = call.params.get("notetext")
    if not text:
        raise missing(["notetext"])
    with call.state.db.write() as tx:
        noteid = _add_note(tx, row["appointmentid"], text, call.actor, call.now, call.params.bool("displayonschedule"))
        call.wrote = True
    return Reply(body={"success": True, "noteid": str(noteid)})


def _note(call: Call, appointmentid: str, noteid: str) -> sqlite3.Row:
    row = _load_or_404(call, appointmentid)
    note = call.state.db.query_one(
        "SELECT * FROM appointment_notes WHERE noteid = ? AND appointmentid = ? AND deleted = 0",
        (parse_id(noteid), row["appointmentid"]),
    )
    if note is None:
        raise not_found(call.config)
    return note


def update_note(call: Call, appointmentid: str, noteid: str) -> Reply:
    note = _note(call, appointmentid, noteid)
    text = call.params.get("notetext")
    if not text:
        raise missing(["notetext"])
    with call.state.db.write() as tx:
        tx.execute(
            "UPDATE appointment_notes SET notetext = ?, displayonschedule = ? WHERE noteid = ?",
            (text, int(call.params.bool("displayonschedule", bool(note["displayonschedule"]))), note["noteid"]),
        )
        call.wrote = True
    return Reply(body={"success": True})


def delete_note(call: Call, appointmentid: str, noteid: str) -> Reply:
    note = _note(call, appointmentid, noteid)
    with call.state.db.write() as tx:
        tx.execute("UPDATE appointment_notes SET deleted = 1 WHERE noteid = ?", (note["noteid"],))
        call.wrote = True
    return Reply(body={"success": True})


def freeze_slot(call: Call, appointmentid: str) -> Reply:
    row = _load_or_404(call, appointmentid)
    if not call.params.has("freeze"):
        raise missing(["freeze"])
    freeze = call.params.bool("freeze")
    if bool(row["frozen"]) == freeze:
        return Reply(
            body={"success": False, "errormessage": f"Appointment is already {'frozen' if freeze else 'unfrozen'}."}
        )
    with call.state.db.write() as tx:
        appointment_update(tx, call.state, row["appointmentid"], {"frozen": freeze}, actor=call.actor)
        call.wrote = True
    return Reply(body={"success": True})


ROUTES: list[Route] = [
    v1("/appointments/open", "GET", list_open_slots),
    v1("/appointments/open", "POST", create_open_slots),
    v1("/appointments/booked", "GET", list_booked),
    v1("/appointments/<appointmentid>", "GET", get_appointment),
    v1("/appointments/<appointmentid>", "PUT", book_appointment),
    v1("/appointments/<appointmentid>", "DELETE", delete_open_slot),
    v1("/appointments/<appointmentid>/cancel", "PUT", cancel_appointment),
    v1("/appointments/<appointmentid>/reschedule", "PUT", reschedule_appointment),
    v1("/appointments/<appointmentid>/freeze", "PUT", freeze_slot),
    v1("/appointments/<appointmentid>/checkin", "GET", checkin_requirements),
    v1("/appointments/<appointmentid>/startcheckin", "POST", start_checkin),
    v1("/appointments/<appointmentid>/checkin", "POST", checkin),
    v1("/appointments/<appointmentid>/cancelcheckin", "POST", cancel_checkin),
    v1("/appointments/<appointmentid>/checkout", "POST", checkout),
    v1("/appointments/<appointmentid>/notes", "GET", list_notes),
    v1("/appointments/<appointmentid>/notes", "POST", add_note),
    v1("/appointments/<appointmentid>/notes/<noteid>", "PUT", update_note),
    v1("/appointments/<appointmentid>/notes/<noteid>", "DELETE", delete_note),
]
