"""Patients: create with silent best-match, get (array), update, search, enhancedbestmatch."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sandbox.athena.records import (
    insurance_json,
    insurance_rows,
    load_department,
    load_patient,
    not_found,
    parse_id,
    patient_json,
)
from sandbox.common import athena_date, athena_datetime, digits, parse_athena_date
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.events import record_change
from sandbox.routing import Route, v1
from sandbox.seed import insert_patient, patient_columns
from sandbox.wire import ApiError, Reply, invalid, limit_offset, missing, page

if TYPE_CHECKING:
    from sandbox.state import SandboxState

CONTACT_FIELDS = ("email", "guarantoremail", "ssn", "homephone", "mobilephone", "workphone", "zip")
PHONE_FIELDS = ("homephone", "mobilephone", "workphone", "guarantorphone", "contacthomephone", "contactmobilephone")
BOOLEAN_FIELDS = ("consenttotext", "consenttocall", "portalaccessgiven", "privacyinformationverified", "homeboundyn")
PATIENT_STATUSES = {
    "active": "active",
    "a": "active",
    "inactive": "inactive",
    "i": "inactive",
    "prospective": "prospective",
    "p": "prospective",
    "deleted": "deleted",
    "d": "deleted",
}
TEXT_FIELDS = (
    "firstname",
    "middlename",
    "lastname",
    "suffix",
    "preferredname",
    "altfirstname",
    "email",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "countrycode",
    "countrycode3166",
    "sex",
    "ssn",
    "maritalstatus",
    "language6392code",
    "ethnicitycode",
    "notes",
    "primaryproviderid",
    "guarantorfirstname",
    "guarantorlastname",
    "guarantormiddlename",
    "guarantordob",
    "guarantorrelationshiptopatient",
    "guarantoraddress1",
    "guarantoraddress2",
    "guarantorcity",
    "guarantorstate",
    "guarantorzip",
    "guarantoremail",
    "guarantorssn",
    "guarantorcountrycode",
    "guarantorcountrycode3166",
    "contactname",
    "contactrelationship",
    "contactpreference",
    "occupationcode",
    "industrycode",
    "preferredpronouns",
    "sexualorientation",
    "genderidentity",
    "assignedsexatbirth",
    "caresummarydeliverypreference",
    "onlinestatementonlyyn",
)
SEARCH_LIMITS = (10, 1000)


# --- validation and normalisation ---------------------------------------------------------------


def normalise_fields(params: dict[str, str], config: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Turn form fields into stored values (digits-only phones, upper-case sex, booleans...)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in PHONE_FIELDS:
            out[name] = digits(value)
        elif name in BOOLEAN_FIELDS:
            out[name] = value.strip().lower() in ("true", "1", "y", "yes")
        elif name == "sex":
            sex = value.strip().upper()
            if sex and sex not in ("M", "F", "U", "X"):
                raise invalid(f"The value '{value}' did not match any of the enum values for SEX", ["sex"])
            out[name] = sex
        elif name == "ssn":
            out[name] = digits(value)
        elif name == "status":
            status = PATIENT_STATUSES.get(value.strip().lower())
            if status is None:
                raise invalid(f"The value '{value}' did not match any of the enum values for STATUS", ["status"])
            out[name] = status
        elif name == "race":
            out[name] = [part for part in value.split("\t") if part]
        elif name in ("departmentid", "primarydepartmentid") or name in TEXT_FIELDS or name == "dob":
            out[name] = value.strip()
    limits = config["patients"]["field_limits"] or {}
    too_long = [name for name, size in limits.items() if isinstance(out.get(name), str) and len(out[name]) > size]
    if too_long:
        raise invalid(f"Field exceeds its maximum length: {', '.join(sorted(too_long))}", sorted(too_long))
    if "dob" in out:
        dob = parse_athena_date(out["dob"])
        if dob is None or dob > today + dt.timedelta(days=1) or dob.year < 1880:
            raise ApiError(400, "Improper DOB.")
        out["dob"] = athena_date(dob)
    return out


def _form_fields(call: Call) -> dict[str, str]:
    return {name: value for name, value in call.params.items()}


def check_department(conn: Any, departmentid: Any) -> None:
    if load_department(conn, parse_id(str(departmentid))) is None:
        raise invalid(f"Invalid department ID: {departmentid}", ["departmentid"])


# --- services ---------------------------------------------------------------------------------------


def find_silent_match(conn: Any, fields: dict[str, Any], config: dict[str, Any]) -> int | None:
    """athena's built-in match on create: same first, last, DOB and (by default) one shared contact field."""
    dob = parse_athena_date(fields["dob"])
    rows = conn.execute(
        "SELECT patientid, email_key, phones, zip, ssn_digits, data FROM patients WHERE lastname_key = ? "
        "AND firstname_key = ? AND dob = ? AND status != 'deleted' ORDER BY patientid",
        (fields["lastname"].lower(), fields["firstname"].lower(), dob.isoformat() if dob else ""),
    ).fetchall()
    if not rows:
        return None
    if not config["patients"]["match_requires_contact"]:
        return int(rows[0]["patientid"])
    phones = {fields.get(name) for name in ("homephone", "mobilephone", "workphone") if fields.get(name)}
    for row in rows:
        stored = json.loads(row["data"])
        stored_phones = set((row["phones"] or "").split(",")) - {""}
        if phones & stored_phones:
            return int(row["patientid"])
        if fields.get("email") and row["email_key"] == fields["email"].lower():
            return int(row["patientid"])
        if (
            fields.get("guarantoremail")
            and (stored.get("guarantoremail") or "").lower() == fields["guarantoremail"].lower()
        ):
            return int(row["patientid"])
        if fields.get("zip") and row["zip"] == fields["zip"][:5]:
            return int(row["patientid"])
        if fields.get("ssn") and row["ssn_digits"] == fields["ssn"]:
            return int(row["patientid"])
    return None


def patient_create(
    tx: Transaction,
    state: SandboxState,
    fields: dict[str, Any],
    *,
    actor: str,
    via: str,
    client_id: str | None,
    bypass_matching: bool,
) -> tuple[int, bool, dict[str, Any] | None]:
    """Create a patient, or return the existing one athena would match: (patientid, matched, event)."""
    config = state.config
    check_department(tx, fields["departmentid"])
    if not bypass_matching:
        matched = find_silent_match(tx, fields, config)
        if matched is not None:
            return matched, True, None
    row = tx.execute("SELECT COALESCE(MAX(patientid), 5000) + 1 AS next FROM patients").fetchone()
    patientid = int(row["next"])
    now = state.clock.time()
    data: dict[str, Any] = {
        "patientid": str(patientid),
        "status": "active",
        "countrycode": "USA",
        "countrycode3166": "US",
        "primarydepartmentid": str(fields["departmentid"]),
        "registrationdate": athena_date(state.clock.now().date()),
        "portalaccessgiven": False,
        "consenttotext": False,
        "consenttocall": True,
        "privacyinformationverified": False,
        "patientphoto": False,
        "driverslicense": False,
        "balances": [
            {
                "balance": "0.00",
                "departmentlist": str(fields["departmentid"]),
                "providergroupid": "1",
                "cleanbalance": True,
            }
        ],
    }
    data.update(fields)
    data["departmentid"] = str(fields["departmentid"])
    data["emailexists"] = bool(data.get("email"))
    data["hasmobileyn"] = bool(data.get("mobilephone"))
    data["lastupdated"] = athena_datetime(now)
    insert_patient(tx, data, created_at=now, via=via, by=client_id or actor)
    event = record_change(
        tx,
        state,
        feed="patients",
        eventname="AddPatient",
        entityid=str(patientid),
        snapshot=patient_json(data),
        departmentid=data["departmentid"],
        patientid=str(patientid),
        topic="Patient.create",
        actor=actor,
    )
    return patientid, False, event


def patient_update(
    tx: Transaction, state: SandboxState, patientid: int, fields: dict[str, Any], *, actor: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Apply field changes; fires Patient.update (or .delete for status=deleted) only when something changed."""
    data = load_patient(tx, patientid)
    if data is None:
        raise not_found(state.config)
    if "departmentid" in fields:
        check_department(tx, fields["departmentid"])
    changed = {name: value for name, value in fields.items() if data.get(name) != value}
    if not changed:
        return data, None
    data.update(changed)
    data["emailexists"] = bool(data.get("email"))
    data["lastupdated"] = athena_datetime(state.clock.time())
    row = patient_columns(data)
    tx.execute(
        "UPDATE patients SET firstname_key = :firstname_key, lastname_key = :lastname_key, dob = :dob, "
        "departmentid = :departmentid, status = :status, email_key = :email_key, phones = :phones, zip = :zip, "
        "ssn_digits = :ssn_digits, updated_at = :updated_at, data = :data WHERE patientid = :patientid",
        {**row, "updated_at": state.clock.time()},
    )
    deleted = changed.get("status") == "deleted"
    event = record_change(
        tx,
        state,
        feed="patients",
        eventname="DeletePatient" if deleted else "UpdatePatient",
        entityid=str(patientid),
        snapshot=patient_json(data),
        departmentid=str(data.get("departmentid") or ""),
        patientid=str(patientid),
        topic="Patient.delete" if deleted else "Patient.update",
        actor=actor,
    )
    return data, event


def touch_patient_for_insurance(
    tx: Transaction, state: SandboxState, patientid: int, *, actor: str
) -> dict[str, Any] | None:
    """An insurance change shows up as a patient update in the feed and the webhook."""
    data = load_patient(tx, patientid)
    if data is None:
        return None
    now = state.clock.time()
    data["lastupdated"] = athena_datetime(now)
    tx.execute("UPDATE patients SET updated_at = ?, data = ? WHERE patientid = ?", (now, json.dumps(data), patientid))
    return record_change(
        tx,
        state,
        feed="patients",
        eventname="UpdatePatient",
        entityid=str(patientid),
        snapshot=patient_json(data),
        departmentid=str(data.get("departmentid") or ""),
        patientid=str(patientid),
        topic="Patient.update",
        actor=actor,
    )


def match_score(candidate: dict[str, Any], criteria: dict[str, Any]) -> int:
    """A rough model of athena's enhanced best match: name + DOB = 23 ("great"), one contact more = 26 (automatch)."""
    score = 0
    last, first = criteria["lastname"].lower(), criteria["firstname"].lower()
    cand_last, cand_first = candidate.get("lastname", "").lower(), candidate.get("firstname", "").lower()
    if cand_last == last:
        score += 8
    elif cand_last[:3] == last[:3]:
        score += 3
    if cand_first == first:
        score += 7
    elif cand_first[:1] == first[:1]:
        score += 2
    cand_dob, dob = parse_athena_date(candidate.get("dob")), criteria["dob"]
    if cand_dob == dob:
        score += 8
    elif (
        cand_dob
        and dob
        and (
            (cand_dob.year, cand_dob.day, cand_dob.month) == (dob.year, dob.month, dob.day)
            or sum(a != b for a, b in ((cand_dob.year, dob.year), (cand_dob.month, dob.month), (cand_dob.day, dob.day)))
            == 1
        )
    ):
        score += 3
    if criteria.get("zip") and (candidate.get("zip") or "")[:5] == criteria["zip"][:5]:
        score += 2
    phones = {criteria.get(name) for name in ("homephone", "mobilephone", "workphone", "guarantorphone")} - {None, ""}
    cand_phones = {digits(candidate.get(name)) for name in ("homephone", "mobilephone", "workphone")} - {""}
    if phones & cand_phones:
        score += 3
    emails = {str(value).lower() for value in (criteria.get("email"), criteria.get("guarantoremail")) if value}
    if emails & ({(candidate.get("email") or "").lower()} - {""}):
        score += 3
    if criteria.get("ssn") and candidate.get("ssn"):
        score += 6 if digits(candidate["ssn"]) == criteria["ssn"] else -6
    if criteria.get("sex") and candidate.get("sex") == criteria["sex"].upper():
        score += 1
    return score


# --- handlers -------------------------------------------------------------------------------------------


def create_patient(call: Call) -> Reply:
    raw = _form_fields(call)
    required = [name for name in ("lastname", "dob", "firstname", "departmentid") if not raw.get(name)]
    has_contact = any(raw.get(name) for name in CONTACT_FIELDS)
    if required or not has_contact:
        detail = None
        if not has_contact:
            detail = "At least one of these is required: " + ", ".join(CONTACT_FIELDS) + "."
        raise ApiError(
            400, "Additional fields are required.", invalidfields=[], missingfields=required, detailedmessage=detail
        )
    fields = normalise_fields(raw, call.config, call.state.clock.now().date())
    bypass = call.params.bool("bypasspatientmatching")
    with call.state.db.write() as tx:
        patientid, matched, event = patient_create(
            tx, call.state, fields, actor=call.actor, via=call.via, client_id=call.client_id, bypass_matching=bypass
        )
        call.wrote = not matched
    call.touch(patientid=patientid)
    if event:
        call.events.append(event)
    body: dict[str, Any] = {"patientid": str(patientid)}
    if matched and call.params.bool("showerrormessage"):
        body["errormessage"] = call.config["patients"]["match_error_message"]
    return Reply(body=[body])


def get_patient(call: Call, patientid: str) -> Reply:
    pid = parse_id(patientid)
    with call.state.db.connection() as conn:
        data = load_patient(conn, pid)
        if data is None:
            raise not_found(call.config)
        out = patient_json(data, show_full_ssn=call.params.bool("showfullssn"))
        if call.params.bool("showinsurance"):
            out["insurances"] = [insurance_json(row) for row in insurance_rows(conn, pid or 0, show_cancelled=False)]
    if not call.params.bool("showcustomfields"):
        out.pop("customfields", None)
    if not call.params.bool("showportalstatus"):
        out.pop("portalstatus", None)
    return Reply(body=[out])


def update_patient(call: Call, patientid: str) -> Reply:
    pid = parse_id(patientid)
    fields = normalise_fields(_form_fields(call), call.config, call.state.clock.now().date())
    fields.pop("patientid", None)
    with call.state.db.write() as tx:
        if pid is None or load_patient(tx, pid) is None:
            raise not_found(call.config)
        _data, event = patient_update(tx, call.state, pid, fields, actor=call.actor)
        call.wrote = event is not None
    call.touch(patientid=pid)
    if event:
        call.events.append(event)
    return Reply(body=[{"patientid": str(pid)}])


_SEARCH_FILTERS = (
    "firstname",
    "lastname",
    "dob",
    "departmentid",
    "status",
    "homephone",
    "anyphone",
    "zip",
    "guarantorfirstname",
    "guarantorlastname",
    "email",
    "mobilephone",
    "ssn",
)


def list_patients(call: Call) -> Reply:
    params = call.params
    given = [name for name in _SEARCH_FILTERS if params.get(name)]
    if not given and call.config["patients"]["search_requires_criteria"]:
        raise missing(
            ["firstname", "lastname", "dob", "departmentid", "homephone", "anyphone", "zip"],
            "At least one search criterion is required.",
        )
    where = ["1 = 1"]
    args: list[Any] = []
    if params.get("firstname"):
        where.append("firstname_key LIKE ?")
        args.append((params.get("firstname") or "").lower() + "%")
    if params.get("lastname"):
        where.append("lastname_key LIKE ?")
        args.append((params.get("lastname") or "").lower() + "%")
    if params.get("dob"):
        dob = parse_athena_date(params.get("dob"))
        if dob is None:
            raise invalid(f"Expecting format date, but value is {params.get('dob')}", ["dob"])
        where.append("dob = ?")
        args.append(dob.isoformat())
    departments = [parse_id(value) for value in params.list("departmentid")]
    if departments:
        where.append(f"departmentid IN ({','.join('?' * len(departments))})")
        args.extend(departments)
    status = params.get("status")
    if status:
        where.append("status = ?")
        args.append(PATIENT_STATUSES.get(status.lower(), status.lower()))
    else:
        where.append("status != 'deleted'")
    for name in ("homephone", "anyphone", "mobilephone"):
        if params.get(name):
            where.append("(',' || COALESCE(phones, '') || ',') LIKE ?")
            args.append(f"%,{digits(params.get(name))},%")
    if params.get("zip"):
        where.append("zip = ?")
        args.append((params.get("zip") or "")[:5])
    if params.get("email"):
        where.append("email_key = ?")
        args.append((params.get("email") or "").lower())
    if params.get("ssn"):
        where.append("ssn_digits = ?")
        args.append(digits(params.get("ssn")))
    for name in ("guarantorfirstname", "guarantorlastname"):
        if params.get(name):
            where.append(f"LOWER(json_extract(data, '$.{name}')) = ?")
            args.append((params.get(name) or "").lower())
    limit, offset = limit_offset(params, *SEARCH_LIMITS)
    clause = " AND ".join(where)
    with call.state.db.connection() as conn:
        total = conn.execute(f"SELECT COUNT(*) FROM patients WHERE {clause}", args).fetchone()[0]  # noqa: S608
        rows = conn.execute(
            f"SELECT data FROM patients WHERE {clause} ORDER BY patientid LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        ).fetchall()
    items = [patient_json(json.loads(row["data"])) for row in rows]
    body = page(
        items=items,
        total=total,
        collection="patients",
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


def enhanced_best_match(call: Call) -> Reply:
    params = call.params
    required = [name for name in ("firstname", "lastname", "dob") if not params.get(name)]
    if required:
        raise ApiError(400, "Additional fields are required.", missingfields=required)
    dob = parse_athena_date(params.get("dob"))
    if dob is None:
        raise invalid(f"Expecting format date, but value is {params.get('dob')}")
    criteria: dict[str, Any] = {
        "firstname": (params.get("firstname") or "").strip(),
        "lastname": (params.get("lastname") or "").strip(),
        "dob": dob,
    }
    for name in ("zip", "email", "guarantoremail", "sex"):
        if params.get(name):
            criteria[name] = (params.get(name) or "").strip()
    for name in ("homephone", "mobilephone", "workphone", "guarantorphone", "ssn"):
        if params.get(name):
            criteria[name] = digits(params.get(name))
    minimum = params.int("minscore", 16) or 16
    with call.state.db.connection() as conn:
        rows = conn.execute(
            "SELECT data FROM patients WHERE status != 'deleted' AND (lastname_key = ? OR dob = ? OR "
            "firstname_key = ?)",
            (criteria["lastname"].lower(), dob.isoformat(), criteria["firstname"].lower()),
        ).fetchall()
    scored = []
    for row in rows:
        data = json.loads(row["data"])
        score = match_score(data, criteria)
        if score >= minimum:
            scored.append((score, int(data["patientid"]), data))
    scored.sort(key=lambda item: (-item[0], item[1]))
    if params.bool("returnbestmatches"):
        chosen = [item for item in scored if item[0] >= max(16, minimum)][:5]
    else:
        top = scored[0][0] if scored else None
        chosen = [item for item in scored if item[0] == top][:5]
    out = []
    for score, _pid, data in chosen:
        item = patient_json(data)
        item["score"] = score
        out.append(item)
    return Reply(body=out)


def search_patients(call: Call) -> Reply:
    term = (call.params.get("searchterm") or "").strip()
    if not term:
        raise missing(["searchterm"])
    where: str = ""
    args: list[Any] = []
    date = parse_athena_date(term)
    number = digits(term)
    if date:
        where, args = "dob = ?", [date.isoformat()]
    elif number and len(number) >= 7 and len(number) == len(term.replace("-", "").replace(" ", "").strip("()")):
        where, args = "(',' || COALESCE(phones, '') || ',') LIKE ?", [f"%,{number},%"]
    elif number and number == term:
        where, args = "patientid = ?", [int(number)]
    elif "," in term:
        last, first = (part.strip().lower() for part in term.split(",", 1))
        where, args = "lastname_key LIKE ? AND firstname_key LIKE ?", [last + "%", first + "%"]
    else:
        parts = term.lower().split()
        if len(parts) >= 2:
            where, args = "firstname_key LIKE ? AND lastname_key LIKE ?", [parts[0] + "%", parts[-1] + "%"]
        else:
            where, args = "(lastname_key LIKE ? OR firstname_key LIKE ?)", [parts[0] + "%", parts[0] + "%"]
    limit, offset = limit_offset(call.params, *SEARCH_LIMITS)
    with call.state.db.connection() as conn:
        clause = f"status != 'deleted' AND {where}"
        total = conn.execute(f"SELECT COUNT(*) FROM patients WHERE {clause}", args).fetchone()[0]  # noqa: S608
        rows = conn.execute(
            f"SELECT data FROM patients WHERE {clause} ORDER BY patientid LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        ).fetchall()
    items = [patient_json(json.loads(row["data"])) for row in rows]
    body = page(
        items=items,
        total=total,
        collection="patients",
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


ROUTES: list[Route] = [
    v1("/patients", "POST", create_patient),
    v1("/patients", "GET", list_patients),
    v1("/patients/enhancedbestmatch", "GET", enhanced_best_match),
    v1("/patients/search", "GET", search_patients),
    v1("/patients/<patientid>", "GET", get_patient),
    v1("/patients/<patientid>", "PUT", update_patient),
]
