"""Loading stored rows and shaping them the way athena answers them (before type drift)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.common import athena_datetime, iso_to_athena_date
from sandbox.db import Transaction
from sandbox.seed import ATHENA_TIMEZONE_NAMES
from sandbox.wire import ApiError, public

Conn = sqlite3.Connection | Transaction


def not_found(config: dict[str, Any]) -> ApiError:
    return ApiError(404, "", body=config["errors"]["not_found"])


def parse_id(value: str | None) -> int | None:
    """athena ids are digit strings; anything else cannot exist."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


# --- departments and providers -------------------------------------------------------------


def load_department(conn: Conn, departmentid: int | None) -> dict[str, Any] | None:
    if departmentid is None:
        return None
    row = conn.execute("SELECT data FROM departments WHERE departmentid = ?", (departmentid,)).fetchone()
    return json.loads(row["data"]) if row else None


def department_zone(conn: Conn, departmentid: int) -> ZoneInfo:
    department = load_department(conn, departmentid)
    return ZoneInfo(department["_tz"]) if department else ZoneInfo("America/New_York")


def department_json(data: dict[str, Any], config: dict[str, Any], now: float) -> dict[str, Any]:
    zone = ZoneInfo(data["_tz"])
    offset = dt.datetime.fromtimestamp(now, tz=zone).utcoffset() or dt.timedelta()
    out = public(data)
    out["timezone"] = int(offset.total_seconds() // 3600)
    out["timezonename"] = (
        ATHENA_TIMEZONE_NAMES[data["_tz"]] if config["timezonename_style"] == "athena" else data["_tz"]
    )
    return out


def load_provider(conn: Conn, providerid: int | None) -> dict[str, Any] | None:
    if providerid is None:
        return None
    row = conn.execute("SELECT data FROM providers WHERE providerid = ?", (providerid,)).fetchone()
    return json.loads(row["data"]) if row else None


# --- appointment types and reasons -----------------------------------------------------------


def appointment_types(conn: Conn) -> dict[int, dict[str, Any]]:
    rows = conn.execute("SELECT appointmenttypeid, data FROM appointment_types ORDER BY appointmenttypeid").fetchall()
    return {row["appointmenttypeid"]: json.loads(row["data"]) for row in rows}


def reasons(conn: Conn) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT reasonid, reasontype, appointmenttypeid, data FROM reasons ORDER BY reasonid"
    ).fetchall()


def reasons_by_type(conn: Conn) -> dict[int, list[str]]:
    """Reason ids a slot of each appointment type can be booked for ("Any 15" takes every 15-minute reason)."""
    types = appointment_types(conn)
    out: dict[int, list[str]] = {typeid: [] for typeid in types}
    for row in reasons(conn):
        out.setdefault(row["appointmenttypeid"], []).append(str(row["reasonid"]))
        duration = types.get(row["appointmenttypeid"], {}).get("duration")
        for typeid, data in types.items():
            if data.get("generic") and data.get("duration") == duration and typeid != row["appointmenttypeid"]:
                out.setdefault(typeid, []).append(str(row["reasonid"]))
    return out


# --- patients and insurances ------------------------------------------------------------------


def load_patient(conn: Conn, patientid: int | None) -> dict[str, Any] | None:
    if patientid is None:
        return None
    row = conn.execute("SELECT data FROM patients WHERE patientid = ?", (patientid,)).fetchone()
    return json.loads(row["data"]) if row else None


def mask_ssn(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return "*****" + digits[-4:] if digits else value


def patient_json(data: dict[str, Any], *, show_full_ssn: bool = False) -> dict[str, Any]:
    out = public(data)
    if out.get("ssn") and not show_full_ssn:
        out["ssn"] = mask_ssn(out["ssn"])
    if out.get("guarantorssn") and not show_full_ssn:
        out["guarantorssn"] = mask_ssn(out["guarantorssn"])
    return out


def insurance_rows(conn: Conn, patientid: int, *, show_cancelled: bool) -> list[sqlite3.Row]:
    sql = "SELECT * FROM insurances WHERE patientid = ?"
    if not show_cancelled:
        sql += " AND cancelled = 0"
    return conn.execute(sql + " ORDER BY sequencenumber, insuranceid", (patientid,)).fetchall()


def insurance_json(row: sqlite3.Row) -> dict[str, Any]:
    data = public(json.loads(row["data"]))
    data["insuranceid"] = str(row["insuranceid"])
    data["sequencenumber"] = int(row["sequencenumber"])
    return data


# --- appointments -----------------------------------------------------------------------------


def load_appointment_row(conn: Conn, appointmentid: int | None) -> sqlite3.Row | None:
    if appointmentid is None:
        return None
    return conn.execute("SELECT * FROM appointments WHERE appointmentid = ?", (appointmentid,)).fetchone()


def notes_for(conn: Conn, appointment_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    ids = list(appointment_ids)
    out: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT noteid, appointmentid, notetext, displayonschedule FROM appointment_notes "  # noqa: S608
            f"WHERE deleted = 0 AND appointmentid IN ({marks}) ORDER BY noteid",
            chunk,
        ).fetchall()
        for row in rows:
            out.setdefault(row["appointmentid"], []).append(
                {"id": row["noteid"], "text": row["notetext"], "displayonschedule": bool(row["displayonschedule"])}
            )
    return out


def appointment_json(row: sqlite3.Row, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The booked-appointment shape (also used for a single GET, where an open slot shows status "o")."""
    data = json.loads(row["data"])
    out: dict[str, Any] = {
        "appointmentid": str(row["appointmentid"]),
        "appointmentstatus": row["status"],
        "date": iso_to_athena_date(row["date"]),
        "starttime": row["starttime"],
        "duration": int(data.get("duration", 15)),
        "departmentid": str(row["departmentid"]),
        "providerid": str(row["providerid"]),
        "appointmenttypeid": str(row["appointmenttypeid"]),
    }
    if row["patientid"] is not None:
        out["patientid"] = str(row["patientid"])
    for key, value in public(data).items():
        if key not in out:
            out[key] = value
    if row["status"] != "o":
        out["lastmodified"] = athena_datetime(row["lastmodified_at"])
        out.setdefault("lastmodifiedby", data.get("scheduledby", "frontdesk"))
        out["frozenyn"] = bool(row["frozen"])
    if notes:
        out["appointmentnotes"] = notes
    return out


def open_slot_json(row: sqlite3.Row, reason_ids: list[str], *, show_frozen: bool) -> dict[str, Any]:
    """The open-slot shape: `appointmentid` is a number here (booked lists use strings)."""
    data = json.loads(row["data"])
    out = {
        "appointmentid": int(row["appointmentid"]),
        "date": iso_to_athena_date(row["date"]),
        "starttime": row["starttime"],
        "duration": int(data.get("duration", 15)),
        "departmentid": str(row["departmentid"]),
        "providerid": str(row["providerid"]),
        "localproviderid": str(row["providerid"]),
        "appointmenttype": data.get("appointmenttype", ""),
        "appointmenttypeid": str(row["appointmenttypeid"]),
        "patientappointmenttypename": data.get("patientappointmenttypename", ""),
        "reasonid": reason_ids or ["-1"],
    }
    if show_frozen:
        out["frozenyn"] = bool(row["frozen"])
    return out
