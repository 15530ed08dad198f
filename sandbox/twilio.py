"""A minimal Twilio Messages API look-alike under `/_twilio/2010-04-01/...` (grown by a later issue)."""

from __future__ import annotations

import base64
import binascii
import email.utils
import hmac
import json
from typing import Any

from sandbox.common import seeded_uuid
from sandbox.context import Call
from sandbox.routing import Route
from sandbox.wire import Reply

API = "/_twilio/2010-04-01"


def _error(status: int, code: int, message: str) -> Reply:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Reply(status=status, body=body, content_type="application/json", drift=False, error=True)


def _authenticate(call: Call, account_sid: str) -> Reply | None:
    header = call.request.headers.get("Authorization", "")
    accounts = call.config["twilio"]["accounts"]
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, password = "", ""
    token = accounts.get(user)
    if not header.lower().startswith("basic ") or token is None or not hmac.compare_digest(token, password):
        return _error(401, 20003, "Authenticate")
    if user != account_sid:
        return _error(404, 20404, f"The requested resource {call.request.path} was not found")
    call.client_id = user
    return None


def _rfc2822(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=False).replace("-0000", "+0000")


def send_message(call: Call, account_sid: str) -> Reply:
    problem = _authenticate(call, account_sid)
    if problem:
        return problem
    params = call.params
    to, sender, body = params.get("to"), params.get("from") or params.get("messagingservicesid"), params.get("body")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return _error(400, 21603, "A 'From' phone number is required.")
    if not body and not params.get("mediaurl"):
        return _error(400, 21602, "Message body is required.")
    now = call.now
    with call.state.db.write() as tx:
        count = tx.execute("SELECT COUNT(*) FROM twilio_messages").fetchone()[0] + 1
        sid = "SM" + seeded_uuid(call.state.seed, "twilio", count).replace("-", "")
        message = {
            "sid": sid,
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "to": to,
            "from": params.get("from"),
            "messaging_service_sid": params.get("messagingservicesid"),
            "body": body or "",
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(max(1, (len(body or "") + 152) // 153)),
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "_status_callback": params.get("statuscallback"),
        }
        tx.execute(
            "INSERT INTO twilio_messages (sid, account_sid, created_at, data) VALUES (?, ?, ?, ?)",
            (sid, account_sid, now, json.dumps(message)),
        )
        call.wrote = True
    call.touch(message_sid=sid)
    return Reply(status=201, body=_public(message), content_type="application/json", drift=False)


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if not key.startswith("_")}


def get_message(call: Call, account_sid: str, sid: str) -> Reply:
    problem = _authenticate(call, account_sid)
    if problem:
        return problem
    row = call.state.db.query_one(
        "SELECT data FROM twilio_messages WHERE sid = ? AND account_sid = ?", (sid, account_sid)
    )
    if row is None:
        return _error(404, 20404, f"The requested resource {call.request.path} was not found")
    return Reply(body=_public(json.loads(row["data"])), content_type="application/json", drift=False)


def list_messages(call: Call, account_sid: str) -> Reply:
    problem = _authenticate(call, account_sid)
    if problem:
        return problem
    rows = call.state.db.query(
        "SELECT data FROM twilio_messages WHERE account_sid = ? ORDER BY created_at DESC, sid", (account_sid,)
    )
    messages = [_public(json.loads(row["data"])) for row in rows]
    for name, key in (("to", "to"), ("from", "from")):
        wanted = call.params.get(name)
        if wanted:
            messages = [message for message in messages if message[key] == wanted]
    page_size = max(1, min(1000, call.params.int("pagesize", 50) or 50))
    page_number = max(0, call.params.int("page", 0) or 0)
    chunk = messages[page_number * page_size : (page_number + 1) * page_size]
    base = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    more = (page_number + 1) * page_size < len(messages)
    body = {
        "messages": chunk,
        "page": page_number,
        "page_size": page_size,
        "start": page_number * page_size,
        "end": page_number * page_size + max(0, len(chunk) - 1),
        "uri": f"{base}?PageSize={page_size}&Page={page_number}",
        "first_page_uri": f"{base}?PageSize={page_size}&Page=0",
        "next_page_uri": f"{base}?PageSize={page_size}&Page={page_number + 1}" if more else None,
        "previous_page_uri": f"{base}?PageSize={page_size}&Page={page_number - 1}" if page_number else None,
    }
    return Reply(body=body, content_type="application/json", drift=False)


ROUTES: list[Route] = [
    Route(f"{API}/Accounts/<account_sid>/Messages.json", ("POST",), send_message, "twilio"),
    Route(f"{API}/Accounts/<account_sid>/Messages.json", ("GET",), list_messages, "twilio"),
    Route(f"{API}/Accounts/<account_sid>/Messages/<sid>.json", ("GET",), get_message, "twilio"),
]
