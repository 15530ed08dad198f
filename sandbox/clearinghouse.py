"""A minimal real-time eligibility clearinghouse: raw X12 270 in, 271 (or 999 / TA1) out."""

from __future__ import annotations

import datetime as dt

from sandbox import x12
from sandbox.athena.insurances import member_for
from sandbox.common import EASTERN
from sandbox.context import Call
from sandbox.routing import Route
from sandbox.wire import Reply

EDI = "application/edi-x12"


def eligibility(call: Call) -> Reply:
    text = call.request.get_data(as_text=True)
    now = dt.datetime.fromtimestamp(call.now, tz=EASTERN)

    def lookup(payer_id: str, member_id: str) -> x12.Member | None:
        if not member_id:
            return None
        with call.state.db.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM insurances WHERE insuranceidnumber = ? AND cancelled = 0 ORDER BY insuranceid",
                (member_id,),
            ).fetchall()
            for row in rows:
                member, _patient = member_for(conn, row)
                if not payer_id or member.payer_id == payer_id:
                    call.touch(patientid=row["patientid"], insuranceid=row["insuranceid"])
                    return member
        return None

    with call.state.db.write() as tx:
        control = tx.execute("SELECT COUNT(*) FROM clearinghouse_exchanges").fetchone()[0] + 200001
        kind, answer = x12.answer_270(text, lookup=lookup, control=control, now=now)
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


ROUTES: list[Route] = [
    Route("/_clearinghouse/270", ("POST",), eligibility, "clearinghouse"),
    Route("/_clearinghouse/exchanges", ("GET",), exchanges, "clearinghouse"),
]
