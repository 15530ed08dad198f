"""Outbound webhook delivery: at-least-once, unordered, signed, retried with exponential backoff.

The outbox is the `webhook_deliveries` table (rows are written in the same transaction as the change).
One dispatcher thread claims due rows and hands them to a small pool of sender threads; a 2xx within
the timeout marks a row delivered, anything else schedules the next attempt until the give-up age,
after which the row is dead-lettered (kept, listed, replayable).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import requests

from sandbox.common import draw

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def sign(body: bytes, secret: str) -> str:
    """`X-Hub-Signature` value: sha256=<lowercase hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDispatcher:
    """Claims due deliveries from the outbox and sends them; started on first use."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._local = threading.local()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            # Rows left "sending" by a previous process never got an answer: send them again.
            with self.state.db.write() as tx:
                tx.execute("UPDATE webhook_deliveries SET status = 'pending' WHERE status = 'sending'")
            workers = max(1, int(self.state.config["webhook"]["workers"]))
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-webhook")
            self._thread = threading.Thread(target=self._run, name="sandbox-webhook-dispatcher", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        if self._thread is None:
            self.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._dispatch_due()
            except Exception:
                wait = 0.2
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _dispatch_due(self) -> float:
        """Claim what is due (up to free sender capacity); return how long to sleep before looking again."""
        workers = max(1, int(self.state.config["webhook"]["workers"]))
        with self._lock:
            capacity = workers * 2 - self._inflight
        now = self.state.clock.time()
        if capacity <= 0:
            return 0.05
        with self.state.db.write() as tx:
            rows = tx.execute(
                "UPDATE webhook_deliveries SET status = 'sending' WHERE id IN ("
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?) RETURNING id, body, event_id, attempts, committed_at",
                (now, capacity),
            ).fetchall()
        for row in rows:
            with self._lock:
                self._inflight += 1
            assert self._pool is not None
            self._pool.submit(self._deliver, dict(row))
        if rows:
            return 0.0
        upcoming = self.state.db.query_one(
            "SELECT MIN(next_attempt_at) AS due FROM webhook_deliveries WHERE status = 'pending'"
        )
        if upcoming is None or upcoming["due"] is None:
            return 1.0
        return max(0.0, min(1.0, upcoming["due"] - self.state.clock.time()))

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _deliver(self, row: dict[str, Any]) -> None:
        try:
            self._attempt(row)
        finally:
            with self._lock:
                self._inflight -= 1
            self._wake.set()

    def _attempt(self, row: dict[str, Any]) -> None:
        config = self.state.config
        hook = config["webhook"]
        body = row["body"].encode("utf-8")
        headers = {
            "Content-Type": "application/fhir+json",
            "X-Hub-Signature": sign(body, hook["secret"]),
            "User-Agent": "athenahealth-event-subscriptions-sandbox",
        }
        started = self.state.clock.time()
        status: int | None = None
        error: str | None = None
        try:
            response = self._session().post(
                hook["url"], data=body, headers=headers, timeout=float(hook["timeout_seconds"])
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        finished = sandbox_now = self.state.clock.time()
        ok = status is not None and 200 <= status < 300
        attempts = row["attempts"] + 1
        with self.state.db.write() as tx:
            current = tx.execute("SELECT status FROM webhook_deliveries WHERE id = ?", (row["id"],)).fetchone()
            if current is None or current["status"] != "sending":
                return  # the world was reset meanwhile
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempted_at, status, error, duration_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (row["id"], started, status, error, round((finished - started) * 1000, 3)),
            )
            if ok:
                tx.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?, acked_at = ?, "
                    "last_attempt_at = ?, first_attempt_at = COALESCE(first_attempt_at, ?), last_status = ?, "
                    "last_error = NULL WHERE id = ?",
                    (attempts, finished, started, started, status, row["id"]),
                )
                duplicate = draw(self.state.seed, "webhook-duplicate", row["event_id"], row["id"])
                if duplicate < hook["duplicate_rate"]:
                    tx.execute(
                        "INSERT INTO webhook_deliveries (event_id, event_number, topic, focus, departmentid, body, "
                        "status, committed_at, next_attempt_at, duplicate_of) "
                        "SELECT event_id, event_number, topic, focus, departmentid, body, 'pending', committed_at, "
                        "?, id FROM webhook_deliveries WHERE id = ?",
                        (sandbox_now + 0.05 + duplicate, row["id"]),
                    )
                return
            retry = hook["retry"]
            delay = min(
                float(retry["max_seconds"]),
                float(retry["initial_seconds"]) * float(retry["multiplier"]) ** (attempts - 1),
            )
            next_at = sandbox_now + delay
            dead = next_at - row["committed_at"] > float(retry["give_up_seconds"])
            tx.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?, "
                "first_attempt_at = COALESCE(first_attempt_at, ?), last_status = ?, last_error = ? WHERE id = ?",
                ("dead" if dead else "pending", attempts, next_at, started, started, status, error, row["id"]),
            )
