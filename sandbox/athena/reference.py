"""Reference data: ping, departments, providers, appointment types, reasons, cancel reasons, insurance packages."""

from __future__ import annotations

import json
from typing import Any

from sandbox.athena.records import (
    department_json,
    load_department,
    load_provider,
    not_found,
    parse_id,
)
from sandbox.context import Call
from sandbox.routing import Route, v1
from sandbox.wire import Reply, limit_offset, page, public

GENERIC_LIMITS = (1500, 5000)


def _list(call: Call, items: list[Any], collection: str, limits: tuple[int, int] = GENERIC_LIMITS) -> Reply:
    limit, offset = limit_offset(call.params, *limits)
    body = page(
        items=items[offset : offset + limit],
        total=len(items),
        collection=collection,
        offset=offset,
        limit=limit,
        path=call.request.path,
        query=list(call.request.args.items(multi=True)),
    )
    return Reply(body=body)


def ping(call: Call) -> Reply:
    return Reply(body={"pong": "true"}, drift=False)  # a string in every recording


def list_departments(call: Call) -> Reply:
    with_providers = call.params.bool("providerlist")
    with call.state.db.connection() as conn:
        rows = conn.execute("SELECT departmentid, data FROM departments ORDER BY departmentid").fetchall()
        providers: dict[int, list[str]] = {}
        if with_providers:
            for row in conn.execute("SELECT providerid, departmentid FROM providers ORDER BY providerid"):
                providers.setdefault(row["departmentid"], []).append(str(row["providerid"]))
    items = []
    for row in rows:
        item = department_json(json.loads(row["data"]), call.config, call.now)
        if with_providers:
            item["providerlist"] = providers.get(row["departmentid"], [])
        items.append(item)
    return _list(call, items, "departments")


def get_department(call: Call, departmentid: str) -> Reply:
    with call.state.db.connection() as conn:
        data = load_department(conn, parse_id(departmentid))
    if data is None:
        raise not_found(call.config)
    return Reply(body=[department_json(data, call.config, call.now)])


def list_providers(call: Call) -> Reply:
    sql = "SELECT data FROM providers"
    args: list[Any] = []
    departments = [parse_id(value) for value in call.params.list("departmentid")]
    if departments:
        sql += f" WHERE departmentid IN ({','.join('?' * len(departments))})"
        args.extend(departments)
    rows = call.state.db.query(sql + " ORDER BY providerid", args)
    return _list(call, [public(json.loads(row["data"])) for row in rows], "providers")


def get_provider(call: Call, providerid: str) -> Reply:
    with call.state.db.connection() as conn:
        data = load_provider(conn, parse_id(providerid))
    if data is None:
        raise not_found(call.config)
    return Reply(body=[public(data)])


def list_appointment_types(call: Call) -> Reply:
    rows = call.state.db.query("SELECT data FROM appointment_types ORDER BY appointmenttypeid")
    return _list(call, [json.loads(row["data"]) for row in rows], "appointmenttypes")


def get_appointment_type(call: Call, appointmenttypeid: str) -> Reply:
    row = call.state.db.query_one(
        "SELECT data FROM appointment_types WHERE appointmenttypeid = ?", (parse_id(appointmenttypeid),)
    )
    if row is None:
        raise not_found(call.config)
    return Reply(body=[json.loads(row["data"])])


def _reasons(call: Call, kinds: tuple[str, ...]) -> Reply:
    marks = ",".join("?" * len(kinds))
    rows = call.state.db.query(
        f"SELECT data FROM reasons WHERE reasontype IN ({marks}) ORDER BY reasonid",  # noqa: S608
        kinds,
    )
    return _list(call, [json.loads(row["data"]) for row in rows], "patientappointmentreasons")


def list_reasons(call: Call) -> Reply:
    return _reasons(call, ("new", "existing", "all"))


def list_new_patient_reasons(call: Call) -> Reply:
    return _reasons(call, ("new", "all"))


def list_existing_patient_reasons(call: Call) -> Reply:
    return _reasons(call, ("existing", "all"))


def list_cancel_reasons(call: Call) -> Reply:
    rows = call.state.db.query("SELECT data FROM cancel_reasons ORDER BY appointmentcancelreasonid")
    items = [json.loads(row["data"]) for row in rows]
    if call.params.has("slotavailable"):
        wanted = call.params.bool("slotavailable")
        items = [item for item in items if item["slotavailable"] == wanted]
    return _list(call, items, "appointmentcancelreasons", (100, 5000))


def list_insurance_packages(call: Call) -> Reply:
    rows = call.state.db.query("SELECT data FROM insurance_packages ORDER BY insurancepackageid")
    items = [public(json.loads(row["data"])) for row in rows]
    wanted_id = call.params.get("insurancepackageid")
    if wanted_id:
        items = [item for item in items if item["insurancepackageid"] == wanted_id]
    name = (call.params.get("insuranceplanname") or call.params.get("name") or "").lower()
    if name:
        items = [item for item in items if name in item["name"].lower() or name in item["payername"].lower()]
    return _list(call, items, "insurancepackages")


ROUTES: list[Route] = [
    v1("/ping", "GET", ping),
    v1("/departments", "GET", list_departments),
    v1("/departments/<departmentid>", "GET", get_department),
    v1("/providers", "GET", list_providers),
    v1("/providers/<providerid>", "GET", get_provider),
    v1("/appointmenttypes", "GET", list_appointment_types),
    v1("/appointmenttypes/<appointmenttypeid>", "GET", get_appointment_type),
    v1("/patientappointmentreasons", "GET", list_reasons),
    v1("/patientappointmentreasons/newpatient", "GET", list_new_patient_reasons),
    v1("/patientappointmentreasons/existingpatient", "GET", list_existing_patient_reasons),
    v1("/appointmentcancelreasons", "GET", list_cancel_reasons),
    v1("/insurancepackages", "GET", list_insurance_packages),
    v1("/misc/topinsurancepackages", "GET", list_insurance_packages),
]
