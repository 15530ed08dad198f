"""A Clover e-commerce payments look-alike under `/_clover/v1/...`.

Financial calls (charges, refunds, voids) require an `Idempotency-Key` header; the same key with the
same body answers the stored response again (one charge), the same key with a different body is
refused. Every change to a payment is announced by a Clover-style webhook (`X-Clover-Auth`, the
payment as `P:<id>` in `merchants.<mId>[].objectId`) when `clover.webhook.enabled`; like Clover's,
delivery is not guaranteed (`drop_rate`) and may repeat (`duplicate_rate`). The control edit
`clover.refund` is a refund made on the Clover dashboard, outside the hub.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from sandbox.callbacks import Outgoing, queue_callback, register_preparer
from sandbox.common import seeded_uuid
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.routing import Route
from sandbox.wire import ApiError, Reply

if TYPE_CHECKING:
    from sandbox.state import SandboxState

JSON = "application/json"


def _error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> Reply:
    body = {"message": message, "error": {"type": kind, "code": code, "message": message}}
    return Reply(status=status, body=body, content_type=JSON, drift=False, error=True)


def _token(call: Call) -> tuple[str | None, Reply | None]:
    header = call.request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token or not any(hmac.compare_digest(token, known) for known in call.config["clover"]["api_tokens"]):
        return None, _error(401, "unauthorized", "Invalid or missing API token.", "authentication_error")
    call.client_id = "clover:" + hashlib.sha256(token.encode()).hexdigest()[:8]
    return token, None


def _json_body(call: Call) -> tuple[dict[str, Any] | None, Reply | None]:
    if call.request.mimetype == "application/json":
        try:
            data = json.loads(call.request.get_data(as_text=True) or "{}")
        except json.JSONDecodeError:
            return None, _error(400, "invalid_json", "The request body is not valid JSON.")
        if not isinstance(data, dict):
            return None, _error(400, "invalid_json", "The request body must be a JSON object.")
        return data, None
    return {name: value for name, value in call.params.items()}, None


def _new_id(tx: Transaction, state: SandboxState, table: str) -> str:
    count = tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] + 1  # noqa: S608 - fixed table names
    raw = seeded_uuid(state.seed, table, count).replace("-", "").upper()
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(alphabet[int(raw[index : index + 2], 16) % 32] for index in range(0, 26, 2))


def _idempotent(call: Call, path: str, body: dict[str, Any], create: Any) -> Reply:
    """Run `create(tx)` once per (token, Idempotency-Key); replay the stored answer afterwards."""
    token, problem = _token(call)
    if problem:
        return problem
    key = call.request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return _error(400, "missing_idempotency_key", "An Idempotency-Key header is required for this request.")
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    with call.state.db.write() as tx:
        stored = tx.execute(
            "SELECT path, request_hash, status, body FROM clover_idempotency WHERE token = ? AND key = ?",
            (token, key),
        ).fetchone()
        if stored is not None:
            if stored["request_hash"] != fingerprint or stored["path"] != path:
                return _error(
                    400,
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with different request parameters.",
                )
            replay = Reply(status=stored["status"], body=json.loads(stored["body"]), content_type=JSON, drift=False)
            replay.headers["Idempotent-Replayed"] = "true"
            call.touch(payment_id=replay.body.get("id"))
            return replay
        reply = create(tx)
        tx.execute(
            "INSERT INTO clover_idempotency (token, key, path, request_hash, status, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token, key, path, fingerprint, reply.status, json.dumps(reply.body), call.now),
        )
        call.wrote = reply.status < 400 or call.wrote
    return reply


def _amount(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def create_charge(call: Call) -> Reply:
    body, problem = _json_body(call)
    if problem or body is None:
        return problem or _error(400, "invalid_request", "Bad request.")
    amount = _amount(body.get("amount"))
    if amount is None or amount <= 0:
        return _error(400, "invalid_amount", "amount must be a positive integer number of cents.")
    currency = str(body.get("currency", "usd")).lower()
    source = str(body.get("source", ""))
    if not source:
        return _error(400, "missing_source", "A payment source (card token) is required.")

    def create(tx: Transaction) -> Reply:
        charge_id = _new_id(tx, call.state, "clover_charges")
        declined = "decline" in source
        charge = {
            "id": charge_id,
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "created": int(call.now * 1000),
            "captured": not declined,
            "paid": not declined,
            "status": "failed" if declined else "succeeded",
            "ref_num": charge_id[:12],
            "auth_code": "" if declined else charge_id[-6:],
            "outcome": {
                "network_status": "declined_by_network" if declined else "approved_by_network",
                "type": "declined" if declined else "authorized",
            },
            "source": {"object": "card", "brand": "VISA", "last4": "4242", "exp_month": "12", "exp_year": "2030"},
            "description": body.get("description", ""),
            "metadata": body.get("metadata") or {},
            "refunded": False,
            "voided": False,
        }
        tx.execute(
            "INSERT INTO clover_charges (id, created_at, data) VALUES (?, ?, ?)",
            (charge_id, call.now, json.dumps(charge)),
        )
        announce(tx, call.state, charge_id, "CREATE")
        call.touch(payment_id=charge_id)
        if declined:
            declined_body = {
                "message": "Your card was declined.",
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                    "charge": charge_id,
                },
            }
            return Reply(status=402, body=declined_body, content_type=JSON, drift=False, error=True)
        return Reply(status=200, body=charge, content_type=JSON, drift=False)

    return _idempotent(call, "/v1/charges", body, create)


def get_charge(call: Call, charge_id: str) -> Reply:
    _token_value, problem = _token(call)
    if problem:
        return problem
    row = call.state.db.query_one("SELECT data FROM clover_charges WHERE id = ?", (charge_id,))
    if row is None:
        return _error(404, "not_found", f"No charge with id {charge_id}.")
    call.touch(payment_id=charge_id)
    return Reply(body=json.loads(row["data"]), content_type=JSON, drift=False)


def refund_charge(
    tx: Transaction, state: SandboxState, charge_id: str, requested: Any, metadata: Any, now: float
) -> tuple[Reply, str | None]:
    """Refund part or all of what is left of a charge; the reply and the new refund's id."""
    row = tx.execute("SELECT data FROM clover_charges WHERE id = ?", (charge_id,)).fetchone()
    if row is None:
        return _error(404, "not_found", f"No charge with id {charge_id}."), None
    charge = json.loads(row["data"])
    if charge["status"] != "succeeded":
        return _error(400, "charge_not_refundable", "Only a succeeded charge can be refunded."), None
    left = charge["amount"] - charge["amount_refunded"]
    amount = _amount(left if requested is None else requested)
    if amount is None or amount <= 0:
        return _error(400, "invalid_amount", "amount must be a positive integer number of cents."), None
    if amount > left:
        return _error(400, "amount_too_large", f"Refund amount {amount} exceeds the refundable {left}."), None
    refund_id = _new_id(tx, state, "clover_refunds")
    refund = {
        "id": refund_id,
        "amount": amount,
        "charge": charge_id,
        "created": int(now * 1000),
        "currency": charge["currency"],
        "status": "succeeded",
        "metadata": metadata or {},
    }
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    tx.execute("UPDATE clover_charges SET data = ? WHERE id = ?", (json.dumps(charge), charge_id))
    tx.execute(
        "INSERT INTO clover_refunds (id, charge_id, created_at, data) VALUES (?, ?, ?, ?)",
        (refund_id, charge_id, now, json.dumps(refund)),
    )
    announce(tx, state, charge_id, "UPDATE")
    return Reply(status=200, body=refund, content_type=JSON, drift=False), refund_id


def create_refund(call: Call) -> Reply:
    body, problem = _json_body(call)
    if problem or body is None:
        return problem or _error(400, "invalid_request", "Bad request.")
    charge_id = str(body.get("charge", ""))
    if not charge_id:
        return _error(400, "missing_charge", "charge is required.")

    def create(tx: Transaction) -> Reply:
        reply, refund_id = refund_charge(tx, call.state, charge_id, body.get("amount"), body.get("metadata"), call.now)
        if refund_id:
            call.touch(payment_id=charge_id, refund_id=refund_id)
        return reply

    return _idempotent(call, "/v1/refunds", body, create)


def void_charge(call: Call, charge_id: str) -> Reply:
    body, problem = _json_body(call)
    if problem or body is None:
        return problem or _error(400, "invalid_request", "Bad request.")

    def create(tx: Transaction) -> Reply:
        row = tx.execute("SELECT data FROM clover_charges WHERE id = ?", (charge_id,)).fetchone()
        if row is None:
            return _error(404, "not_found", f"No charge with id {charge_id}.")
        charge = json.loads(row["data"])
        if charge["status"] != "succeeded" or charge["amount_refunded"]:
            return _error(400, "charge_not_voidable", "Only a succeeded charge with no refunds can be voided.")
        if call.now * 1000 - charge["created"] > float(call.config["clover"]["void_window_seconds"]) * 1000:
            return _error(400, "void_window_closed", "The payment is past the void window; refund it instead.")
        charge.update({"status": "voided", "voided": True, "paid": False})
        tx.execute("UPDATE clover_charges SET data = ? WHERE id = ?", (json.dumps(charge), charge_id))
        announce(tx, call.state, charge_id, "UPDATE")
        call.touch(payment_id=charge_id)
        return Reply(status=200, body=charge, content_type=JSON, drift=False)

    return _idempotent(call, f"/v1/charges/{charge_id}/void", body, create)


def get_refund(call: Call, refund_id: str) -> Reply:
    _token_value, problem = _token(call)
    if problem:
        return problem
    row = call.state.db.query_one("SELECT data FROM clover_refunds WHERE id = ?", (refund_id,))
    if row is None:
        return _error(404, "not_found", f"No refund with id {refund_id}.")
    return Reply(body=json.loads(row["data"]), content_type=JSON, drift=False)


def announce(tx: Transaction, state: SandboxState, charge_id: str, change: str) -> None:
    """Queue the Clover webhook for a payment change (when webhooks are on)."""
    hook = state.config["clover"]["webhook"]
    if not hook["enabled"]:
        return
    queue_callback(
        tx,
        state,
        system="clover",
        kind="clover.webhook",
        ref=charge_id,
        payload={"type": change, "ts": int(state.clock.time() * 1000)},
        delay=float(hook["delay_seconds"]),
        drop_rate=float(hook["drop_rate"]),
    )


def _prepare_webhook(state: SandboxState, row: dict[str, Any]) -> Outgoing | None:
    config = state.config["clover"]
    hook = config["webhook"]
    if not hook["enabled"]:
        return None
    payload = json.loads(row["payload"])
    body = {
        "appId": hook["app_id"],
        "merchants": {
            config["merchant_id"]: [{"objectId": f"P:{row['ref']}", "type": payload["type"], "ts": payload["ts"]}]
        },
    }
    return Outgoing(
        url=hook["url"],
        body=json.dumps(body).encode(),
        headers={"Content-Type": JSON, "X-Clover-Auth": hook["auth_code"], "User-Agent": "Clover-Webhooks"},
    )


def edit_dashboard_refund(tx: Transaction, state: SandboxState, edit: dict[str, Any]) -> dict[str, Any]:
    """Someone refunds a payment on the Clover dashboard: no Idempotency-Key, no hub involved."""
    charge_id = str(edit.get("charge", ""))
    if not charge_id:
        raise ApiError(400, "charge is required")
    reply, refund_id = refund_charge(
        tx, state, charge_id, edit.get("amount"), {"source": "dashboard"}, state.clock.time()
    )
    if refund_id is None:
        raise ApiError(reply.status, str(reply.body.get("message", "refund refused")), body=reply.body)
    return {"charge": charge_id, "refund_id": refund_id, "amount": reply.body["amount"], "events": []}


def records_charges(state: SandboxState, args: Any) -> dict[str, Any]:
    """Every charge with its refunds, and which Idempotency-Keys were used: the ground truth for payments."""
    charges = [
        json.loads(row["data"]) for row in state.db.query("SELECT data FROM clover_charges ORDER BY created_at, id")
    ]
    refunds = [
        json.loads(row["data"]) for row in state.db.query("SELECT data FROM clover_refunds ORDER BY created_at, id")
    ]
    if args.get("status"):
        charges = [item for item in charges if item["status"] == args["status"]]
    keys = [
        {"key": row["key"], "path": row["path"], "status": row["status"]}
        for row in state.db.query("SELECT key, path, status FROM clover_idempotency ORDER BY created_at")
    ]
    return {"charges": charges, "count": len(charges), "refunds": refunds, "idempotency_keys": keys}


register_preparer("clover.webhook", _prepare_webhook)

ROUTES: list[Route] = [
    Route("/_clover/v1/charges", ("POST",), create_charge, "clover"),
    Route("/_clover/v1/charges/<charge_id>", ("GET",), get_charge, "clover"),
    Route("/_clover/v1/charges/<charge_id>/void", ("POST",), void_charge, "clover"),
    Route("/_clover/v1/refunds", ("POST",), create_refund, "clover"),
    Route("/_clover/v1/refunds/<refund_id>", ("GET",), get_refund, "clover"),
]
