"""A minimal real-time eligibility clearinghouse: raw X12 270 in, 271 (or 999 / TA1) out.

Members are looked up by member id: first among the clearinghouse's own members (added with the
`clearinghouse.member` control edit: a card not yet on file in athena), then among the seeded and
created athena insurances. A member may be "unavailable" for its first few inquiries (AAA 42,
then the real answer), and may answer a misread id — one that differs from its own only in
characters OCR confuses (O/0, I/1, S/5, B/8, Z/2, G/6) — with AAA 72 or 75.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sandbox import x12
from sandbox.athena.insurances import member_for
from sandbox.common import EASTERN, parse_athena_date
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.routing import Route
from sandbox.state import SandboxState
from sandbox.wire import ApiError, Reply

EDI = "application/edi-x12"
# Each pair OCR confuses maps to one canonical character, so two readings of a card compare equal.
_CANONICAL = str.maketrans({"O": "0", "I": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})
MISREAD_ANSWERS = ("72", "75")


def canonical_member_id(member_id: str) -> str:
    return "".join(member_id.upper().split()).translate(_CANONICAL)


def _member(row: Any, case: str | None = None, member_id: str | None = None) -> x12.Member:
    data = json.loads(row["data"])
    return x12.Member(
        case=case or row["eligibility_case"],
        member_id=member_id or row["member_id"],
        last_name=data.get("last_name", ""),
        first_name=data.get("first_name", ""),
        dob=dt.date.fromisoformat(data["dob"]) if data.get("dob") else None,
        sex=data.get("sex", "U"),
        group_number=data.get("group_number", ""),
        plan_name=data.get("plan_name", ""),
        insurance_type=data.get("insurance_type", ""),
        payer_name=data.get("payer_name", "EXAMPLE HEALTH PLAN"),
        payer_id=data.get("payer_id", "EX001"),
    )


def _lookup(tx: Transaction, call: Call, payer_id: str, member_id: str) -> x12.Member | None:
    if not member_id:
        return None
    own = tx.execute("SELECT * FROM clearinghouse_members WHERE member_id = ?", (member_id.upper(),)).fetchone()
    if own is not None and (not payer_id or json.loads(own["data"]).get("payer_id") in ("", payer_id)):
        if own["unavailable_left"] > 0:
            tx.execute(
                "UPDATE clearinghouse_members SET unavailable_left = unavailable_left - 1 WHERE member_id = ?",
                (own["member_id"],),
            )
            return _member(own, case="unavailable")
        return _member(own)
    rows = tx.execute(
        "SELECT * FROM insurances WHERE insuranceidnumber = ? AND cancelled = 0 ORDER BY insuranceid", (member_id,)
    ).fetchall()
    for row in rows:
        member, _patient = member_for(tx, row)
        if not payer_id or member.payer_id == payer_id:
            call.touch(patientid=row["patientid"], insuranceid=row["insuranceid"])
            return member
    wanted = canonical_member_id(member_id)
    for near in tx.execute("SELECT * FROM clearinghouse_members WHERE misread_answer IS NOT NULL").fetchall():
        if canonical_member_id(near["member_id"]) == wanted:
            # The payer knows a member whose id reads like this one: it names the id as invalid.
            return _member(near, case=f"reject{near['misread_answer']}", member_id=member_id)
    return None


def eligibility(call: Call) -> Reply:
    text = call.request.get_data(as_text=True)
    now = dt.datetime.fromtimestamp(call.now, tz=EASTERN)
    with call.state.db.write() as tx:
        control = tx.execute("SELECT COUNT(*) FROM clearinghouse_exchanges").fetchone()[0] + 200001
        kind, answer = x12.answer_270(
            text, lookup=lambda payer_id, member_id: _lookup(tx, call, payer_id, member_id), control=control, now=now
        )
        tx.execute(
            "INSERT INTO clearinghouse_exchanges (at, answer_kind, request, response) VALUES (?, ?, ?, ?)",
            (call.now, kind, text, answer),
        )
        call.wrote = True
    call.touch(answer=kind)
    return Reply(status=200, raw=answer.encode(), content_type=EDI, headers={"X-Answer-Kind": kind}, drift=False)


def exchanges(call: Call) -> Reply:
    rows = call.state.db.query("SELECT id, at, answer_kind, request, response FROM clearinghouse_exchanges ORDER BY id")
    return Reply(
        body={"exchanges": [dict(row) for row in rows]},
        content_type="application/json",
        drift=False,
    )


def edit_member(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace) a member the clearinghouse answers for, outside athena's insurances."""
    member_id = "".join(str(edit.get("member_id", "")).upper().split())
    if not member_id:
        raise ApiError(400, "member_id is required")
    case = str(edit.get("eligibility", "active"))
    if case not in x12.CLEARINGHOUSE_CASES:
        raise ApiError(400, f"eligibility must be one of {', '.join(x12.CLEARINGHOUSE_CASES)}")
    misread = str(edit.get("misread") or "") or None
    if misread is not None and misread not in MISREAD_ANSWERS:
        raise ApiError(400, f"misread must be one of {', '.join(MISREAD_ANSWERS)}")
    raw_dob = str(edit.get("dob", ""))
    dob = parse_athena_date(raw_dob) if "/" in raw_dob else (dt.date.fromisoformat(raw_dob) if raw_dob else None)
    data = {
        "first_name": str(edit.get("first_name", "")).upper(),
        "last_name": str(edit.get("last_name", "")).upper(),
        "dob": dob.isoformat() if dob else "",
        "sex": str(edit.get("sex", "U")).upper()[:1],
        "group_number": str(edit.get("group_number", "")),
        "plan_name": str(edit.get("plan_name", "EXAMPLE PPO")),
        "insurance_type": str(edit.get("insurance_type", "PPO")),
        "payer_name": str(edit.get("payer_name", "EXAMPLE HEALTH PLAN")),
        "payer_id": str(edit.get("payer_id", "EX001")),
    }
    tx.execute(
        "INSERT INTO clearinghouse_members (member_id, eligibility_case, unavailable_left, misread_answer, data) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(member_id) DO UPDATE SET eligibility_case = excluded.eligibility_case, "
        "unavailable_left = excluded.unavailable_left, misread_answer = excluded.misread_answer, data = excluded.data",
        (member_id, case, int(edit.get("unavailable_times", 0) or 0), misread, json.dumps(data)),
    )
    return {"member_id": member_id, "eligibility": case, "events": []}


ROUTES: list[Route] = [
    Route("/_clearinghouse/270", ("POST",), eligibility, "clearinghouse"),
    Route("/_clearinghouse/exchanges", ("GET",), exchanges, "clearinghouse"),
]
