"""Patient insurances, insurance card images and benefit details (raw X12 271)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sandbox import x12
from sandbox.athena.patients import touch_patient_for_insurance
from sandbox.athena.records import (
    insurance_json,
    insurance_rows,
    load_patient,
    not_found,
    parse_id,
)
from sandbox.common import EASTERN, athena_date, parse_athena_date
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.routing import Route, v1
from sandbox.seed import insert_insurance
from sandbox.wire import ApiError, Reply, invalid, limit_offset, missing, page

if TYPE_CHECKING:
    import sqlite3

    from sandbox.state import SandboxState

RELATIONSHIPS = {1: "Self", 2: "Spouse", 3: "Child", 4: "Other"}
HOLDER_FIELDS = (
    "insurancepolicyholderfirstname",
    "insurancepolicyholderlastname",
    "insurancepolicyholdersex",
    "insurancepolicyholderdob",
)
UPDATABLE = (
    "insuranceidnumber",
    "policynumber",
    "insurancepolicyholderfirstname",
    "insurancepolicyholderlastname",
    "insurancepolicyholdermiddlename",
    "insurancepolicyholdersex",
    "insurancepolicyholderdob",
    "insurancepolicyholderaddress1",
    "insurancepolicyholdercity",
    "insurancepolicyholderstate",
    "insurancepolicyholderzip",
    "insurancepolicyholderssn",
    "relationshiptoinsuredid",
    "issuedate",
    "expirationdate",
)
INSURANCE_LIMITS = (100, 5000)


def _package(conn: Any, packageid: int | None) -> dict[str, Any] | None:
    if packageid is None:
        return None
    row = conn.execute("SELECT data FROM insurance_packages WHERE insurancepackageid = ?", (packageid,)).fetchone()
    return json.loads(row["data"]) if row else None


def _load_insurance(conn: Any, patientid: int, insuranceid: int | None) -> sqlite3.Row | None:
    if insuranceid is None:
        return None
    return conn.execute(
        "SELECT * FROM insurances WHERE insuranceid = ? AND patientid = ?", (insuranceid, patientid)
    ).fetchone()


def _clean(fields: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in UPDATABLE:
        if name not in fields:
            continue
        value = fields[name].strip()
        if name in ("insurancepolicyholderdob", "issuedate", "expirationdate") and value:
            parsed = parse_athena_date(value)
            if parsed is None:
                raise invalid(f"Expecting format date, but value is {value}", [name])
            value = athena_date(parsed)
        if name == "insurancepolicyholdersex" and value and value.upper() not in ("M", "F", "U"):
            raise invalid(f"The value '{value}' did not match any of the enum values for SEX", [name])
        if name == "relationshiptoinsuredid":
            if not value.isdigit() or int(value) not in RELATIONSHIPS:
                raise invalid(f"Invalid relationship to insured: {value}", [name])
            out[name] = int(value)
            out["relationshiptoinsured"] = RELATIONSHIPS[int(value)]
            continue
        out[name] = value.upper() if name.startswith("insurancepolicyholder") else value
    if "insurancepolicyholderfirstname" in out or "insurancepolicyholderlastname" in out:
        out["_holder_changed"] = True
    return out


# --- services -----------------------------------------------------------------------------------


def insurance_create(
    tx: Transaction,
    state: SandboxState,
    patientid: int,
    fields: dict[str, str],
    *,
    actor: str,
    via: str,
    client_id: str | None,
    eligibility_case: str = "active",
) -> tuple[sqlite3.Row, dict[str, Any] | None]:
    """Add an insurance to a patient (primary must exist before secondary); fires Patient.update."""
    config = state.config
    if load_patient(tx, patientid) is None:
        raise not_found(config)
    packageid = parse_id(fields.get("insurancepackageid"))
    package = _package(tx, packageid)
    required = [] if fields.get("insurancepackageid") else ["insurancepackageid"]
    selfpay = bool(package and package["_selfpay"])
    if not fields.get("sequencenumber"):
        required.append("sequencenumber")
    if package is not None and not selfpay:
        required.extend(name for name in HOLDER_FIELDS if not fields.get(name))
    if required:
        raise missing(required)
    if package is None:
        raise invalid(f"Invalid insurance package ID: {fields.get('insurancepackageid')}", ["insurancepackageid"])
    sequence = fields["sequencenumber"].strip()
    if sequence not in ("1", "2", "3"):
        raise invalid(f"Invalid sequence number: {sequence}", ["sequencenumber"])
    active = {row["sequencenumber"] for row in insurance_rows(tx, patientid, show_cancelled=False)}
    if int(sequence) > 1 and (int(sequence) - 1) not in active:
        raise invalid("A primary insurance must exist before a secondary insurance can be added.", ["sequencenumber"])
    if int(sequence) in active and config["insurances"]["duplicate_sequence"] == "reject":
        raise invalid(
            f"The patient already has an active insurance with sequence number {sequence}.", ["sequencenumber"]
        )
    cleaned = _clean(fields)
    cleaned.pop("_holder_changed", None)
    relationship_id = int(cleaned.pop("relationshiptoinsuredid", 1))
    cleaned.pop("relationshiptoinsured", None)
    now = state.clock.time()
    data: dict[str, Any] = {
        "insurancepackageid": package["insurancepackageid"],
        "insuranceplanname": package["insuranceplanname"],
        "insuranceplandisplayname": package["insuranceplandisplayname"],
        "insurancetype": package["insurancetype"],
        "ircname": package["ircname"],
        "ircid": package["ircid"],
        "insurancephone": package["phone"],
        "insurancepackageaddress1": package["address1"],
        "insurancepackagecity": package["city"],
        "insurancepackagestate": package["state"],
        "insurancepackagezip": package["zip"],
        "relationshiptoinsuredid": relationship_id,
        "relationshiptoinsured": RELATIONSHIPS[relationship_id],
        "insuredentitytypeid": 1,
        "insurancepolicyholdercountrycode": "USA",
        "insurancepolicyholdercountryiso3166": "US",
        "eligibilitystatus": "Unverified",
        "eligibilityreason": "Athena",
        "sequencenumber": int(sequence),
    }
    data.update(cleaned)
    if data.get("insurancepolicyholderfirstname"):
        data["insurancepolicyholder"] = (
            f"{data['insurancepolicyholderfirstname']} {data.get('insurancepolicyholderlastname', '')}".strip()
        )
    insuranceid = insert_insurance(
        tx, data, patientid=patientid, case=eligibility_case, created_at=now, via=via, by=client_id or actor
    )
    data["insuranceid"] = str(insuranceid)
    tx.execute("UPDATE insurances SET data = ? WHERE insuranceid = ?", (json.dumps(data), insuranceid))
    event = touch_patient_for_insurance(tx, state, patientid, actor=actor)
    row = tx.execute("SELECT * FROM insurances WHERE insuranceid = ?", (insuranceid,)).fetchone()
    return row, event


def insurance_update(
    tx: Transaction, state: SandboxState, patientid: int, insuranceid: int, fields: dict[str, str], *, actor: str
) -> dict[str, Any] | None:
    row = _load_insurance(tx, patientid, insuranceid)
    if row is None:
        raise not_found(state.config)
    data = json.loads(row["data"])
    cleaned = _clean(fields)
    holder_changed = cleaned.pop("_holder_changed", False)
    changed = {name: value for name, value in cleaned.items() if data.get(name) != value}
    new_sequence = fields.get("newsequencenumber", "").strip()
    if new_sequence:
        if new_sequence not in ("1", "2", "3"):
            raise invalid(f"Invalid sequence number: {new_sequence}", ["newsequencenumber"])
        if int(new_sequence) != row["sequencenumber"]:
            changed["sequencenumber"] = int(new_sequence)
    if not changed:
        return None
    data.update(changed)
    if holder_changed:
        data["insurancepolicyholder"] = (
            f"{data.get('insurancepolicyholderfirstname', '')} {data.get('insurancepolicyholderlastname', '')}".strip()
        )
    tx.execute(
        "UPDATE insurances SET data = ?, insuranceidnumber = ?, sequencenumber = ?, updated_at = ? "
        "WHERE insuranceid = ?",
        (
            json.dumps(data),
            data.get("insuranceidnumber") or None,
            int(data["sequencenumber"]),
            state.clock.time(),
            insuranceid,
        ),
    )
    return touch_patient_for_insurance(tx, state, patientid, actor=actor)


def insurance_cancel(
    tx: Transaction, state: SandboxState, patientid: int, insuranceid: int, *, actor: str, note: str = ""
) -> dict[str, Any] | None:
    row = _load_insurance(tx, patientid, insuranceid)
    if row is None:
        raise not_found(state.config)
    if row["cancelled"]:
        return None
    data = json.loads(row["data"])
    data["cancelled"] = athena_date(state.clock.now().astimezone(EASTERN).date())
    if note:
        data["cancellationnote"] = note
    tx.execute(
        "UPDATE insurances SET cancelled = 1, data = ?, updated_at = ? WHERE insuranceid = ?",
        (json.dumps(data), state.clock.time(), insuranceid),
    )
    return touch_patient_for_insurance(tx, state, patientid, actor=actor)


# --- handlers -------------------------------------------------------------------------------------


def _patient_id(call: Call, patientid: str) -> int:
    pid = parse_id(patientid)
    with call.state.db.connection() as conn:
        if pid is None or load_patient(conn, pid) is None:
            raise not_found(call.config)
    call.touch(patientid=pid)
    return pid


def list_insurances(call: Call, patientid: str) -> Reply:
    pid = _patient_id(call, patientid)
    with call.state.db.connection() as conn:
        rows = insurance_rows(conn, pid, show_cancelled=call.params.bool("showcancelled"))
    items = [insurance_json(row) for row in rows]
    limit, offset = limit_offset(call.params, *INSURANCE_LIMITS)
    body = page(
        items=items[offset : offset + limit],
        total=len(items),
        collection="insurances",
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


def create_insurance(call: Call, patientid: str) -> Reply:
    pid = parse_id(patientid)
    fields: dict[str, str] = dict(call.params.items())
    with call.state.db.write() as tx:
        if pid is None:
            raise not_found(call.config)
        row, event = insurance_create(
            tx, call.state, pid, fields, actor=call.actor, via=call.via, client_id=call.client_id
        )
        call.wrote = True
    call.touch(patientid=pid, insuranceid=row["insuranceid"])
    if event:
        call.events.append(event)
    return Reply(body=[insurance_json(row)])


def update_insurance(call: Call, patientid: str, insuranceid: str) -> Reply:
    pid = parse_id(patientid) or 0
    iid = parse_id(insuranceid)
    with call.state.db.write() as tx:
        event = insurance_update(tx, call.state, pid, iid or 0, dict(call.params.items()), actor=call.actor)
        call.wrote = event is not None
    call.touch(patientid=pid, insuranceid=iid)
    if event:
        call.events.append(event)
    return Reply(body={"success": True, "message": ""})


def delete_insurance(call: Call, patientid: str, insuranceid: str) -> Reply:
    pid = parse_id(patientid) or 0
    iid = parse_id(insuranceid)
    with call.state.db.write() as tx:
        event = insurance_cancel(
            tx, call.state, pid, iid or 0, actor=call.actor, note=call.params.get("cancellationnote") or ""
        )
        call.wrote = event is not None
    call.touch(patientid=pid, insuranceid=iid)
    if event:
        call.events.append(event)
    return Reply(body={"success": True, "message": ""})


def _image_target(call: Call, patientid: str, insuranceid: str) -> tuple[int, int]:
    pid = parse_id(patientid) or 0
    iid = parse_id(insuranceid)
    with call.state.db.connection() as conn:
        if iid is None or _load_insurance(conn, pid, iid) is None:
            raise not_found(call.config)
    call.touch(patientid=pid, insuranceid=iid)
    return pid, iid


def upload_image(call: Call, patientid: str, insuranceid: str) -> Reply:
    _pid, iid = _image_target(call, patientid, insuranceid)
    image = call.params.raw("image")
    upload = call.request.files.get("image")
    if upload is not None:
        image = base64.b64encode(upload.read()).decode()
    if not image:
        raise missing(["image"])
    try:
        base64.b64decode(image, validate=False)
    except (binascii.Error, ValueError):
        raise invalid("The image is not valid base64.", ["image"]) from None
    with call.state.db.write() as tx:
        tx.execute(
            "INSERT INTO insurance_images (insuranceid, image, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(insuranceid) DO UPDATE SET image = excluded.image, updated_at = excluded.updated_at",
            (iid, image, call.now),
        )
        call.wrote = True
    return Reply(body={"success": True})


def get_image(call: Call, patientid: str, insuranceid: str) -> Reply:
    _pid, iid = _image_target(call, patientid, insuranceid)
    row = call.state.db.query_one("SELECT image FROM insurance_images WHERE insuranceid = ?", (iid,))
    if row is None:
        raise not_found(call.config)
    return Reply(body={"image": row["image"]})


def delete_image(call: Call, patientid: str, insuranceid: str) -> Reply:
    _pid, iid = _image_target(call, patientid, insuranceid)
    with call.state.db.write() as tx:
        deleted = tx.execute("DELETE FROM insurance_images WHERE insuranceid = ?", (iid,)).rowcount
        call.wrote = bool(deleted)
    if not deleted:
        raise not_found(call.config)
    return Reply(body={"success": True})


# --- benefit details (eligibility) ------------------------------------------------------------------


def member_for(conn: Any, insurance: sqlite3.Row) -> tuple[x12.Member, dict[str, Any]]:
    data = json.loads(insurance["data"])
    package = _package(conn, insurance["insurancepackageid"]) or {}
    patient = load_patient(conn, insurance["patientid"]) or {}
    dob = parse_athena_date(data.get("insurancepolicyholderdob") or patient.get("dob"))
    member = x12.Member(
        case=insurance["eligibility_case"],
        member_id=data.get("insuranceidnumber") or "",
        last_name=data.get("insurancepolicyholderlastname") or patient.get("lastname", ""),
        first_name=data.get("insurancepolicyholderfirstname") or patient.get("firstname", ""),
        dob=dob,
        sex=data.get("insurancepolicyholdersex") or patient.get("sex", "U"),
        group_number=data.get("policynumber") or "",
        plan_name=package.get("_plan_description") or data.get("insuranceplanname", ""),
        insurance_type=package.get("insurancetype", ""),
        payer_name=package.get("payername") or data.get("ircname", "").upper(),
        payer_id=package.get("payerid", ""),
    )
    return member, patient


def benefit_check(
    tx: Transaction, state: SandboxState, insurance: sqlite3.Row, *, servicetypecode: str, dateofservice: dt.date
) -> int:
    """Run an eligibility check now: store the 271 (visible after the configured delay), update the status."""
    member, patient = member_for(tx, insurance)
    provider_row = tx.execute(
        "SELECT data FROM providers WHERE departmentid = ? ORDER BY providerid LIMIT 1",
        (int(patient.get("departmentid") or 1),),
    ).fetchone()
    provider = json.loads(provider_row["data"]) if provider_row else {"npi": 1234567893}
    now = state.clock.time()
    check_number = tx.execute("SELECT COUNT(*) FROM benefit_checks").fetchone()[0] + 1
    moment = dt.datetime.fromtimestamp(now, tz=EASTERN)
    ansi271 = x12.build_271(
        member=member,
        provider_name=state.config["practice_name"].upper(),
        provider_npi=str(provider["npi"]),
        reference=f"ATH{insurance['insuranceid']}{check_number:04d}",
        trace=f"{insurance['insuranceid']}-{check_number}",
        trace_originator="9195900000",
        control=100000 + check_number,
        now=moment,
        service_type=servicetypecode,
        date_of_service=dateofservice,
    )
    tx.execute(
        "INSERT INTO benefit_checks (insuranceid, servicetypecode, dateofservice, checked_at, ready_at, ansi271) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            insurance["insuranceid"],
            servicetypecode,
            dateofservice.isoformat(),
            now,
            now + float(state.config["benefits"]["check_delay_seconds"]),
            ansi271,
        ),
    )
    data = json.loads(insurance["data"])
    status = {"active": "Eligible", "cob": "Eligible", "auth_required": "Eligible", "inactive": "Ineligible"}.get(
        member.case, "Unverified"
    )
    data["eligibilitystatus"] = status
    data["eligibilitylastchecked"] = athena_date(moment.date())
    data["eligibilitymessage"] = {
        "Eligible": "Member is eligible.",
        "Ineligible": "Member is not eligible.",
    }.get(status, "Eligibility could not be verified.")
    tx.execute("UPDATE insurances SET data = ? WHERE insuranceid = ?", (json.dumps(data), insurance["insuranceid"]))
    return check_number


def _benefit_target(call: Call, patientid: str, insuranceid: str) -> sqlite3.Row:
    pid = parse_id(patientid) or 0
    iid = parse_id(insuranceid)
    with call.state.db.connection() as conn:
        row = _load_insurance(conn, pid, iid) if iid is not None else None
    if row is None:
        raise not_found(call.config)
    call.touch(patientid=pid, insuranceid=iid)
    return row


def _service_and_date(call: Call) -> tuple[str, dt.date]:
    code = (call.params.get("servicetypecode") or "30").strip().upper()
    if code not in x12.SERVICE_TYPES:
        raise invalid(
            f"The value '{code}' did not match any of the enum values for SERVICETYPECODE", ["servicetypecode"]
        )
    raw = call.params.get("dateofservice")
    day = parse_athena_date(raw) if raw else call.state.clock.now().astimezone(EASTERN).date()
    if day is None:
        raise invalid(f"Expecting format date, but value is {raw}", ["dateofservice"])
    return code, day


def trigger_benefit_check(call: Call, patientid: str, insuranceid: str) -> Reply:
    insurance = _benefit_target(call, patientid, insuranceid)
    code, day = _service_and_date(call)
    with call.state.db.write() as tx:
        benefit_check(tx, call.state, insurance, servicetypecode=code, dateofservice=day)
        call.wrote = True
    return Reply(body={"success": True})


def get_benefit_details(call: Call, patientid: str, insuranceid: str) -> Reply:
    insurance = _benefit_target(call, patientid, insuranceid)
    sql = "SELECT * FROM benefit_checks WHERE insuranceid = ? AND ready_at <= ?"
    args: list[Any] = [insurance["insuranceid"], call.now]
    if call.params.get("servicetypecode"):
        sql += " AND servicetypecode = ?"
        args.append((call.params.get("servicetypecode") or "").upper())
    if call.params.get("dateofservice"):
        day = parse_athena_date(call.params.get("dateofservice"))
        if day is None:
            raise invalid(f"Expecting format date, but value is {call.params.get('dateofservice')}", ["dateofservice"])
        sql += " AND dateofservice = ?"
        args.append(day.isoformat())
    row = call.state.db.query_one(sql + " ORDER BY id DESC LIMIT 1", args)
    if row is None:
        raise ApiError(404, "", body=call.config["errors"]["not_found"])
    return Reply(
        body={
            "ansi271": row["ansi271"],
            "dateofservice": athena_date(dt.date.fromisoformat(row["dateofservice"])),
            "lastcheckdate": athena_date(dt.datetime.fromtimestamp(row["checked_at"], tz=EASTERN).date()),
        }
    )


ROUTES: list[Route] = [
    v1("/patients/<patientid>/insurances", "GET", list_insurances),
    v1("/patients/<patientid>/insurances", "POST", create_insurance),
    v1("/patients/<patientid>/insurances/<insuranceid>", "PUT", update_insurance),
    v1("/patients/<patientid>/insurances/<insuranceid>", "DELETE", delete_insurance),
    v1("/patients/<patientid>/insurances/<insuranceid>/image", "POST PUT", upload_image),
    v1("/patients/<patientid>/insurances/<insuranceid>/image", "GET", get_image),
    v1("/patients/<patientid>/insurances/<insuranceid>/image", "DELETE", delete_image),
    v1("/patients/<patientid>/insurances/<insuranceid>/benefitdetails", "POST", trigger_benefit_check),
    v1("/patients/<patientid>/insurances/<insuranceid>/benefitdetails", "GET", get_benefit_details),
]
