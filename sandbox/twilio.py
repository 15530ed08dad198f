"""A Twilio Messages API look-alike under `/_twilio/2010-04-01/...`.

Sending creates a message that moves on by itself (`queued` → `sent` → `delivered`, or `undelivered` /
`failed` for the recipients listed in `twilio.undeliverable` / `twilio.failing`), posting a signed
status callback (`X-Twilio-Signature`) at each step when the message named a StatusCallback. A patient's
reply is simulated with the control edit `twilio.inbound`: it is posted, signed, to `twilio.inbound_url`;
a STOP makes every later send from that number to that patient fail with 21610, as Twilio does.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.callbacks import Outgoing, deliver_by_id, queue_callback, register_preparer
from sandbox.common import seeded_uuid
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.routing import Route
from sandbox.wire import ApiError, Reply

if TYPE_CHECKING:
    from sandbox.state import SandboxState

API = "/_twilio/2010-04-01"
DEFAULT_NUMBER = "+16175550100"
STATUS_ORDER = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 4, "failed": 4, "received": 4}


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


OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
OPT_IN_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
FINAL_ERRORS = {"undelivered": 30003, "failed": 30008}


def signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """`X-Twilio-Signature`: base64 HMAC-SHA1 of the full URL followed by each sorted name+value pair."""
    data = url + "".join(name + value for name, value in sorted(params, key=lambda item: item[0]))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _keyword(body: str) -> str:
    word = " ".join(body.strip().upper().split())
    if word in OPT_OUT_WORDS or word == "STOP ALL":
        return "STOP"
    if word in OPT_IN_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return ""


def _final_status(config: dict[str, Any], to: str) -> str:
    twilio = config["twilio"]
    if to in twilio["failing"]:
        return "failed"
    if to in twilio["undeliverable"]:
        return "undelivered"
    return "delivered"


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
    call.touch(to=to)
    now = call.now
    settings = call.config["twilio"]["callbacks"]
    with call.state.db.write() as tx:
        opted_out = tx.execute(
            "SELECT 1 FROM twilio_optouts WHERE account_sid = ? AND sender = ? AND recipient = ?",
            (account_sid, sender, to),
        ).fetchone()
        if opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
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
        # The message moves on by itself; each step is also a status callback when one was asked for.
        delay = float(settings["delay_seconds"])
        steps = ("queued", "sent", _final_status(call.config, to))
        for index, status in enumerate(steps):
            queue_callback(
                tx,
                call.state,
                system="twilio",
                kind="twilio.status",
                ref=sid,
                payload={"status": status},
                delay=delay * (index + 1),
                max_attempts=2,
                drop_rate=float(settings["drop_rate"]),
            )
        call.wrote = True
    call.touch(message_sid=sid)
    return Reply(status=201, body=_public(message), content_type="application/json", drift=False)


def _prepare_status(state: SandboxState, row: dict[str, Any]) -> Outgoing | None:
    """Move the message to the row's status; post the signed callback when one was asked for."""
    status = json.loads(row["payload"])["status"]
    with state.db.write() as tx:
        found = tx.execute("SELECT data FROM twilio_messages WHERE sid = ?", (row["ref"],)).fetchone()
        if found is None:
            return None
        message = json.loads(found["data"])
        rank = STATUS_ORDER.get(status, 0)
        if row["duplicate_of"] is None and rank > STATUS_ORDER.get(message["status"], 0):
            message["status"] = status
            message["date_updated"] = _rfc2822(state.clock.time())
            if status == "sent":
                message["date_sent"] = message["date_updated"]
            if status in FINAL_ERRORS:
                message["error_code"] = FINAL_ERRORS[status]
                message["error_message"] = "Unknown destination handset" if status == "undelivered" else "Unknown"
            tx.execute("UPDATE twilio_messages SET data = ? WHERE sid = ?", (json.dumps(message), row["ref"]))
    url = message.get("_status_callback")
    config = state.config
    token = config["twilio"]["accounts"].get(message["account_sid"])
    if not url or not config["twilio"]["callbacks"]["enabled"] or token is None:
        return None
    params = [
        ("AccountSid", message["account_sid"]),
        ("ApiVersion", "2010-04-01"),
        ("From", message.get("from") or ""),
        ("MessageSid", message["sid"]),
        ("MessageStatus", status),
        ("SmsSid", message["sid"]),
        ("SmsStatus", status),
        ("To", message["to"]),
    ]
    if status in FINAL_ERRORS:
        params.append(("ErrorCode", str(FINAL_ERRORS[status])))
    return _signed_post(url, params, token)


def _signed_post(url: str, params: list[tuple[str, str]], token: str) -> Outgoing:
    return Outgoing(
        url=url,
        body=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(token, url, params),
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": hashlib.sha256(url.encode() + urlencode(params).encode()).hexdigest()[:32],
        },
    )


def _prepare_inbound(state: SandboxState, row: dict[str, Any]) -> Outgoing | None:
    payload = json.loads(row["payload"])
    token = state.config["twilio"]["accounts"].get(payload["account_sid"])
    if token is None:
        return None
    return _signed_post(payload["url"], [(name, str(value)) for name, value in payload["params"]], token)


def edit_inbound(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    """A patient texts one of the account's numbers (STOP, START, HELP or anything); Twilio posts it to the hub."""
    sender, text = str(edit.get("from", "")).strip(), str(edit.get("body", ""))
    if not sender or not text:
        raise ApiError(400, "from and body are required")
    account_sid = str(edit.get("account_sid") or next(iter(state.config["twilio"]["accounts"]), ""))
    to = str(edit.get("to", "")).strip()
    if not to:
        last = tx.execute(
            "SELECT data FROM twilio_messages WHERE json_extract(data, '$.to') = ? "
            "AND json_extract(data, '$.direction') = 'outbound-api' ORDER BY created_at DESC LIMIT 1",
            (sender,),
        ).fetchone()
        to = (json.loads(last["data"]).get("from") if last else None) or DEFAULT_NUMBER
    now = state.clock.time()
    count = tx.execute("SELECT COUNT(*) FROM twilio_messages").fetchone()[0] + 1
    sid = "SM" + seeded_uuid(state.seed, "twilio", count).replace("-", "")
    keyword = _keyword(text)
    message = {
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "to": to,
        "from": sender,
        "body": text,
        "status": "received",
        "direction": "inbound",
        "num_segments": "1",
        "num_media": "0",
        "date_created": _rfc2822(now),
        "date_updated": _rfc2822(now),
        "date_sent": _rfc2822(now),
    }
    tx.execute(
        "INSERT INTO twilio_messages (sid, account_sid, created_at, data) VALUES (?, ?, ?, ?)",
        (sid, account_sid, now, json.dumps(message)),
    )
    if keyword == "STOP":
        tx.execute(
            "INSERT OR IGNORE INTO twilio_optouts (account_sid, sender, recipient, opted_out_at) VALUES (?, ?, ?, ?)",
            (account_sid, to, sender, now),
        )
    elif keyword == "START":
        tx.execute(
            "DELETE FROM twilio_optouts WHERE account_sid = ? AND sender = ? AND recipient = ?",
            (account_sid, to, sender),
        )
    params: list[tuple[str, str]] = [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("Body", text),
        ("From", sender),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("To", to),
    ]
    if keyword:
        params.append(("OptOutType", keyword))
    row_id = queue_callback(
        tx,
        state,
        system="twilio",
        kind="twilio.inbound",
        ref=sid,
        payload={"url": state.config["twilio"]["inbound_url"], "account_sid": account_sid, "params": params},
        max_attempts=2,
        synchronous=True,
    )
    # Filled in once the edit has committed and the post has been answered (the result is copied, this is not).
    delivery: dict[str, Any] = {"status": "pending"}
    tx.on_commit(lambda: delivery.update(deliver_by_id(state, row_id)))
    return {"message_sid": sid, "keyword": keyword, "to": to, "delivery": delivery, "events": []}


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


def records_messages(state: SandboxState, args: Any) -> dict[str, Any]:
    """Every message (outbound and inbound), the ground truth tests count against."""
    rows = state.db.query("SELECT data FROM twilio_messages ORDER BY created_at, sid")
    messages = []
    for row in rows:
        data = json.loads(row["data"])
        item = {key: data.get(key) for key in ("sid", "to", "from", "body", "status", "direction", "error_code")}
        item["date_created"] = data.get("date_created")
        item["status_callback"] = data.get("_status_callback")
        messages.append(item)
    for name in ("to", "from", "direction", "status"):
        if args.get(name):
            messages = [item for item in messages if item[name] == args[name]]
    per_recipient: dict[str, int] = {}
    for item in messages:
        if item["direction"] == "outbound-api":
            per_recipient[item["to"]] = per_recipient.get(item["to"], 0) + 1
    optouts = [dict(row) for row in state.db.query("SELECT * FROM twilio_optouts ORDER BY opted_out_at")]
    return {"messages": messages, "count": len(messages), "per_recipient": per_recipient, "opt_outs": optouts}


register_preparer("twilio.status", _prepare_status)
register_preparer("twilio.inbound", _prepare_inbound)

ROUTES: list[Route] = [
    Route(f"{API}/Accounts/<account_sid>/Messages.json", ("POST",), send_message, "twilio"),
    Route(f"{API}/Accounts/<account_sid>/Messages.json", ("GET",), list_messages, "twilio"),
    Route(f"{API}/Accounts/<account_sid>/Messages/<sid>.json", ("GET",), get_message, "twilio"),
]
