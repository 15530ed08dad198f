"""A minimal Clover e-commerce payments look-alike under `/_clover/v1/...` (grown by a later issue).

Financial calls require an `Idempotency-Key` header; the same key with the same body answers the
stored response again (one charge), the same key with a different body is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sandbox.common import seeded_uuid
from sandbox.context import Call
from sandbox.db import Transaction
from sandbox.routing import Route
from sandbox.wire import Reply

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


def _new_id(tx: Transaction, call: Call, table: str) -> str:
    count = tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] + 1  # noqa: S608 - fixed table names
    raw = seeded_uuid(call.state.seed, table, count).replace("-", "").upper()
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
        charge_id = _new_id(tx, call, "clover_charges")
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
        }
        tx.execute(
            "INSERT INTO clover_charges (id, created_at, data) VALUES (?, ?, ?)",
            (charge_id, call.now, json.dumps(charge)),
        )
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


def create_refund(call: Call) -> Reply:
    body, problem = _json_body(call)
    if problem or body is None:
        return problem or _error(400, "invalid_request", "Bad request.")
    charge_id = str(body.get("charge", ""))
    if not charge_id:
        return _error(400, "missing_charge", "charge is required.")

    def create(tx: Transaction) -> Reply:
        row = tx.execute("SELECT data FROM clover_charges WHERE id = ?", (charge_id,)).fetchone()
        if row is None:
            return _error(404, "not_found", f"No charge with id {charge_id}.")
        charge = json.loads(row["data"])
        if charge["status"] != "succeeded":
            return _error(400, "charge_not_refundable", "Only a succeeded charge can be refunded.")
        left = charge["amount"] - charge["amount_refunded"]
        amount = _amount(body.get("amount", left))
        if amount is None or amount <= 0:
            return _error(400, "invalid_amount", "amount must be a positive integer number of cents.")
        if amount > left:
            return _error(400, "amount_too_large", f"Refund amount {amount} exceeds the refundable {left}.")
        refund_id = _new_id(tx, call, "clover_refunds")
        refund = {
            "id": refund_id,
            "amount": amount,
            "charge": charge_id,
            "created": int(call.now * 1000),
            "currency": charge["currency"],
            "status": "succeeded",
            "metadata": body.get("metadata") or {},
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        tx.execute("UPDATE clover_charges SET data = ? WHERE id = ?", (json.dumps(charge), charge_id))
        tx.execute(
            "INSERT INTO clover_refunds (id, charge_id, created_at, data) VALUES (?, ?, ?, ?)",
            (refund_id, charge_id, call.now, json.dumps(refund)),
        )
        call.touch(payment_id=charge_id, refund_id=refund_id)
        return Reply(status=200, body=refund, content_type=JSON, drift=False)

    return _idempotent(call, "/v1/refunds", body, create)


def get_refund(call: Call, refund_id: str) -> Reply:
    _token_value, problem = _token(call)
    if problem:
        return problem
    row = call.state.db.query_one("SELECT data FROM clover_refunds WHERE id = ?", (refund_id,))
    if row is None:
        return _error(404, "not_found", f"No refund with id {refund_id}.")
    return Reply(body=json.loads(row["data"]), content_type=JSON, drift=False)


ROUTES: list[Route] = [
    Route("/_clover/v1/charges", ("POST",), create_charge, "clover"),
    Route("/_clover/v1/charges/<charge_id>", ("GET",), get_charge, "clover"),
    Route("/_clover/v1/refunds", ("POST",), create_refund, "clover"),
    Route("/_clover/v1/refunds/<refund_id>", ("GET",), get_refund, "clover"),
]
