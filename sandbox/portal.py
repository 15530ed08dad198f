"""A tiny portal that receives the hub's Standard Webhooks deliveries, verifies and records them."""

from __future__ import annotations

import json
import time
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sandbox.context import Call
from sandbox.routing import Route
from sandbox.wire import Reply

JSON = "application/json"
HEADERS_KEPT = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


def verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> int | None:
    """Index of the first configured secret that verifies the delivery (either may, during rotation)."""
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError, TypeError):
            continue
        return index
    return None


def receive(call: Call) -> Reply:
    settings = call.config["portal"]
    body = call.request.get_data()
    headers = {name.lower(): value for name, value in call.request.headers.items()}
    secret_index = verify(list(settings["secrets"]), body, headers)
    verified = secret_index is not None
    status = int(settings["respond_status"]) if verified else 401
    text = body.decode("utf-8", errors="replace")
    with call.state.db.write() as tx:
        cursor = tx.execute(
            "INSERT INTO portal_deliveries (received_at, webhook_id, webhook_timestamp, verified, secret_index, "
            "status, body, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                headers.get("webhook-id"),
                headers.get("webhook-timestamp"),
                int(verified),
                secret_index,
                status,
                text,
                json.dumps({name: headers[name] for name in HEADERS_KEPT if name in headers}),
            ),
        )
        call.wrote = True
    call.touch(delivery=cursor.lastrowid, webhook_id=headers.get("webhook-id"))
    delay = float(settings["delay_seconds"])
    if delay > 0:
        time.sleep(delay)
    if not verified:
        return Reply(status=401, body={"error": "invalid signature"}, content_type=JSON, drift=False, error=True)
    if status == 204:
        return Reply(status=204, raw=b"", content_type=JSON, drift=False)
    return Reply(status=status, body={"received": status < 300}, content_type=JSON, drift=False, error=status >= 400)


def list_deliveries(call: Call) -> Reply:
    since = call.params.int("since", 0) or 0
    sql = "SELECT * FROM portal_deliveries WHERE id > ?"
    args: list[Any] = [since]
    if call.params.has("verified"):
        sql += " AND verified = ?"
        args.append(int(call.params.bool("verified")))
    if call.params.get("webhook_id"):
        sql += " AND webhook_id = ?"
        args.append(call.params.get("webhook_id"))
    rows = call.state.db.query(sql + " ORDER BY id", args)
    seen: dict[str, int] = {}
    deliveries = []
    for row in rows:
        try:
            payload: Any = json.loads(row["body"])
        except json.JSONDecodeError:
            payload = row["body"]
        webhook_id = row["webhook_id"] or ""
        seen[webhook_id] = seen.get(webhook_id, 0) + 1
        deliveries.append(
            {
                "id": row["id"],
                "received_at": row["received_at"],
                "webhook_id": row["webhook_id"],
                "webhook_timestamp": row["webhook_timestamp"],
                "verified": bool(row["verified"]),
                "secret_index": row["secret_index"],
                "status": row["status"],
                "headers": json.loads(row["headers"]),
                "payload": payload,
            }
        )
    return Reply(
        body={
            "deliveries": deliveries,
            "count": len(deliveries),
            "distinct_webhook_ids": len([key for key in seen if key]),
        },
        content_type=JSON,
        drift=False,
    )


ROUTES: list[Route] = [
    Route("/_portal/webhooks", ("POST",), receive, "portal"),
    Route("/_portal/webhooks", ("GET",), list_deliveries, "portal"),
]
