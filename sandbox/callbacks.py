"""Calls the Twilio and Clover look-alikes make to the hub: status callbacks, inbound SMS, Clover webhooks.

The outbox is the `outbound_callbacks` table: a row is written in the same transaction as the change
it reports and sent by one dispatcher thread when it is due, in due order (so one message's
`queued` → `sent` → `delivered` arrive in that order unless a duplicate says otherwise). Each system
registers a `prepare` function that runs just before a send: it may change state first (a Twilio
message becomes `sent` when its `sent` callback is due) and returns the URL, headers and body to
post, or None when there is nothing to send. Every row keeps its outcome for `GET /_sandbox/callbacks`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from sandbox.common import draw
from sandbox.db import Transaction

if TYPE_CHECKING:
    from sandbox.state import SandboxState


@dataclass(frozen=True)
class Outgoing:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float = 5.0


# kind -> prepare(state, row) -> Outgoing | None
PREPARERS: dict[str, Callable[[SandboxState, dict[str, Any]], Outgoing | None]] = {}


def register_preparer(kind: str, prepare: Callable[[SandboxState, dict[str, Any]], Outgoing | None]) -> None:
    PREPARERS[kind] = prepare


def queue_callback(
    tx: Transaction,
    state: SandboxState,
    *,
    system: str,
    kind: str,
    ref: str,
    payload: dict[str, Any],
    delay: float = 0.0,
    max_attempts: int = 1,
    drop_rate: float = 0.0,
    synchronous: bool = False,
) -> int:
    """Add one callback to the outbox (sent after `delay` seconds); returns its id.

    A synchronous row is held back from the dispatcher: the caller sends it with `deliver_by_id`
    once its transaction has committed.
    """
    now = state.clock.time()
    cursor = tx.execute(
        "INSERT INTO outbound_callbacks (system, kind, ref, payload, status, due_at, max_attempts, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            system,
            kind,
            ref,
            json.dumps(payload),
            "sending" if synchronous else "pending",
            now + delay,
            max_attempts,
            now,
        ),
    )
    row_id = int(cursor.lastrowid or 0)
    if synchronous:
        return row_id
    if drop_rate > 0 and draw(state.seed, "callback-drop", kind, ref, row_id) < drop_rate:
        tx.execute("UPDATE outbound_callbacks SET status = 'dropped' WHERE id = ?", (row_id,))
    tx.on_commit(state.callbacks.wake)
    return row_id


def public_row(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["payload"] = json.loads(item["payload"])
    return item


class CallbackDispatcher:
    """One thread that sends due callbacks in order; started on first use."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                with self.state.db.write() as tx:
                    tx.execute("UPDATE outbound_callbacks SET status = 'pending' WHERE status = 'sending'")
                self._thread = threading.Thread(target=self._run, name="sandbox-callbacks", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._send_due()
            except Exception:
                wait = 0.2
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _send_due(self) -> float:
        now = self.state.clock.time()
        with self.state.db.write() as tx:
            row = tx.execute(
                "UPDATE outbound_callbacks SET status = 'sending' WHERE id = ("
                "SELECT id FROM outbound_callbacks WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT 1"
                ") RETURNING *",
                (now,),
            ).fetchone()
        if row is not None:
            self.deliver(dict(row))
            return 0.0
        upcoming = self.state.db.query_one("SELECT MIN(due_at) AS due FROM outbound_callbacks WHERE status = 'pending'")
        if upcoming is None or upcoming["due"] is None:
            return 1.0
        return max(0.0, min(1.0, upcoming["due"] - self.state.clock.time()))

    def deliver(self, row: dict[str, Any]) -> dict[str, Any]:
        """Send one claimed row now (also used for synchronous deliveries); returns its outcome."""
        prepare = PREPARERS.get(row["kind"])
        outgoing = prepare(self.state, row) if prepare else None
        if outgoing is None:
            return self._finish(row, "skipped", None, None, 0)
        status: int | None = None
        error: str | None = None
        response_body = ""
        attempts = row["attempts"]
        while attempts < max(1, int(row["max_attempts"])):
            attempts += 1
            try:
                response = self._session.post(
                    outgoing.url, data=outgoing.body, headers=outgoing.headers, timeout=outgoing.timeout
                )
                status, error = response.status_code, None
                response_body = response.text[:2000]
                break
            except requests.ConnectionError as exc:
                # Twilio retries once, only when the connection could not be made.
                status, error = None, type(exc).__name__
            except requests.RequestException as exc:
                status, error = None, type(exc).__name__
                break
        ok = status is not None and 200 <= status < 300
        outcome = self._finish(row, "delivered" if ok else "failed", status, error, attempts, response_body)
        if ok:
            duplicate_rate = float(self._duplicate_rate(row))
            if (
                duplicate_rate > 0
                and draw(self.state.seed, "callback-duplicate", row["kind"], row["id"]) < duplicate_rate
            ):
                with self.state.db.write() as tx:
                    tx.execute(
                        "INSERT INTO outbound_callbacks (system, kind, ref, payload, status, due_at, max_attempts, "
                        "created_at, duplicate_of) SELECT system, kind, ref, payload, 'pending', ?, max_attempts, "
                        "created_at, id FROM outbound_callbacks WHERE id = ?",
                        (self.state.clock.time() + 0.05, row["id"]),
                    )
                self._wake.set()
        return outcome

    def _duplicate_rate(self, row: dict[str, Any]) -> float:
        if row.get("duplicate_of") is not None:
            return 0.0
        config = self.state.config
        if row["system"] == "twilio":
            return float(config["twilio"]["callbacks"]["duplicate_rate"])
        if row["system"] == "clover":
            return float(config["clover"]["webhook"]["duplicate_rate"])
        return 0.0

    def _finish(
        self,
        row: dict[str, Any],
        status: str,
        http_status: int | None,
        error: str | None,
        attempts: int,
        response_body: str = "",
    ) -> dict[str, Any]:
        with self.state.db.write() as tx:
            tx.execute(
                "UPDATE outbound_callbacks SET status = ?, attempts = ?, last_attempt_at = ?, last_status = ?, "
                "last_error = ?, response = ? WHERE id = ? AND status = 'sending'",
                (status, attempts, self.state.clock.time(), http_status, error, response_body, row["id"]),
            )
        return {"id": row["id"], "status": status, "http_status": http_status, "error": error, "attempts": attempts}


def deliver_by_id(state: SandboxState, row_id: int) -> dict[str, Any]:
    """Send a row queued with `synchronous=True` now, in the caller's thread."""
    row = state.db.query_one("SELECT * FROM outbound_callbacks WHERE id = ?", (row_id,))
    if row is None:
        return {"id": row_id, "status": "missing", "http_status": None, "error": None, "attempts": 0}
    return state.callbacks.deliver(dict(row))
