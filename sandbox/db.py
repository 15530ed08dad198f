"""The sandbox's own SQLite state: schema, a small connection pool, and write transactions.

Werkzeug's server closes every connection after one response and runs each request in a fresh
thread, so "one connection per thread" would mean one connection per request. A pool hands each
request thread a connection of its own for the duration of the request instead. Writes take one
process-wide lock and `BEGIN IMMEDIATE`, which keeps SQLite from failing a read-then-write upgrade.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS departments (departmentid INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS providers (
    providerid INTEGER PRIMARY KEY, departmentid INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS appointment_types (appointmenttypeid INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reasons (
    reasonid INTEGER PRIMARY KEY, reasontype TEXT NOT NULL, appointmenttypeid INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cancel_reasons (appointmentcancelreasonid INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS insurance_packages (insurancepackageid INTEGER PRIMARY KEY, data TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS patients (
    patientid INTEGER PRIMARY KEY,
    firstname_key TEXT NOT NULL,
    lastname_key TEXT NOT NULL,
    dob TEXT NOT NULL,
    departmentid INTEGER,
    status TEXT NOT NULL,
    email_key TEXT,
    phones TEXT,
    zip TEXT,
    ssn_digits TEXT,
    created_at REAL NOT NULL,
    created_via TEXT NOT NULL,
    created_by TEXT,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_name_dob ON patients (lastname_key, firstname_key, dob);
CREATE INDEX IF NOT EXISTS patients_dob ON patients (dob);
CREATE INDEX IF NOT EXISTS patients_department ON patients (departmentid);

CREATE TABLE IF NOT EXISTS insurances (
    insuranceid INTEGER PRIMARY KEY,
    patientid INTEGER NOT NULL,
    sequencenumber INTEGER NOT NULL,
    insurancepackageid INTEGER NOT NULL,
    insuranceidnumber TEXT,
    cancelled INTEGER NOT NULL DEFAULT 0,
    eligibility_case TEXT NOT NULL DEFAULT 'active',
    created_at REAL NOT NULL,
    created_via TEXT NOT NULL,
    created_by TEXT,
    updated_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS insurances_patient ON insurances (patientid);
CREATE INDEX IF NOT EXISTS insurances_member ON insurances (insuranceidnumber);

CREATE TABLE IF NOT EXISTS insurance_images (
    insuranceid INTEGER PRIMARY KEY, image TEXT NOT NULL, updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS benefit_checks (
    id INTEGER PRIMARY KEY,
    insuranceid INTEGER NOT NULL,
    servicetypecode TEXT NOT NULL,
    dateofservice TEXT NOT NULL,
    checked_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    ansi271 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS benefit_checks_insurance ON benefit_checks (insuranceid);

CREATE TABLE IF NOT EXISTS appointments (
    appointmentid INTEGER PRIMARY KEY,
    departmentid INTEGER NOT NULL,
    providerid INTEGER NOT NULL,
    appointmenttypeid INTEGER NOT NULL,
    patientid INTEGER,
    status TEXT NOT NULL,
    date TEXT NOT NULL,
    starttime TEXT NOT NULL,
    start_at REAL NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0,
    api_bookable INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    created_via TEXT NOT NULL,
    lastmodified_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_open ON appointments (departmentid, status, date);
CREATE INDEX IF NOT EXISTS appointments_patient ON appointments (patientid);
CREATE INDEX IF NOT EXISTS appointments_modified ON appointments (lastmodified_at);

CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    appointmentid INTEGER NOT NULL,
    patientid INTEGER NOT NULL,
    booked_at REAL NOT NULL,
    via TEXT NOT NULL,
    booked_by TEXT
);
CREATE INDEX IF NOT EXISTS bookings_appointment ON bookings (appointmentid);

CREATE TABLE IF NOT EXISTS appointment_notes (
    noteid INTEGER PRIMARY KEY,
    appointmentid INTEGER NOT NULL,
    notetext TEXT NOT NULL,
    displayonschedule INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    createdby TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS appointment_notes_appointment ON appointment_notes (appointmentid);

CREATE TABLE IF NOT EXISTS changed_events (
    seq INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    eventname TEXT NOT NULL,
    entityid TEXT NOT NULL,
    departmentid TEXT,
    patientid TEXT,
    providerid TEXT,
    created_at REAL NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changed_events_feed ON changed_events (feed, seq);

CREATE TABLE IF NOT EXISTS changed_subscriptions (
    client_id TEXT NOT NULL,
    feed TEXT NOT NULL,
    eventname TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (client_id, feed, eventname)
);
CREATE TABLE IF NOT EXISTS changed_processed (
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (client_id, seq)
);
CREATE INDEX IF NOT EXISTS changed_processed_time ON changed_processed (client_id, processed_at);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    event_number INTEGER NOT NULL,
    topic TEXT NOT NULL,
    focus TEXT NOT NULL,
    departmentid TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    committed_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    first_attempt_at REAL,
    last_attempt_at REAL,
    acked_at REAL,
    last_status INTEGER,
    last_error TEXT,
    duplicate_of INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_event ON webhook_deliveries (event_id);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    attempted_at REAL NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id);

CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    system TEXT NOT NULL,
    client_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    route TEXT,
    status INTEGER,
    handler_status INTEGER,
    fault TEXT,
    wrote INTEGER NOT NULL DEFAULT 0,
    patientid TEXT,
    appointmentid TEXT,
    insuranceid TEXT,
    ids TEXT,
    request_id TEXT,
    client_request_id TEXT,
    duration_ms REAL
);
CREATE INDEX IF NOT EXISTS request_log_route ON request_log (route, method);

CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS twilio_messages (
    sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, created_at REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clover_charges (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clover_refunds (
    id TEXT PRIMARY KEY, charge_id TEXT NOT NULL, created_at REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clover_idempotency (
    token TEXT NOT NULL,
    key TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (token, key)
);
CREATE TABLE IF NOT EXISTS twilio_optouts (
    account_sid TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    opted_out_at REAL NOT NULL,
    PRIMARY KEY (account_sid, sender, recipient)
);
CREATE TABLE IF NOT EXISTS outbound_callbacks (
    id INTEGER PRIMARY KEY,
    system TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    last_attempt_at REAL,
    last_status INTEGER,
    last_error TEXT,
    response TEXT,
    duplicate_of INTEGER
);
CREATE INDEX IF NOT EXISTS outbound_callbacks_due ON outbound_callbacks (status, due_at);
CREATE TABLE IF NOT EXISTS portal_deliveries (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    webhook_id TEXT,
    webhook_timestamp TEXT,
    verified INTEGER NOT NULL,
    secret_index INTEGER,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_deliveries_webhook ON portal_deliveries (webhook_id);
CREATE TABLE IF NOT EXISTS clearinghouse_exchanges (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, answer_kind TEXT NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clearinghouse_members (
    member_id TEXT PRIMARY KEY,
    eligibility_case TEXT NOT NULL,
    unavailable_left INTEGER NOT NULL DEFAULT 0,
    misread_answer TEXT,
    data TEXT NOT NULL
);
"""

# Tables a reset empties. Tokens survive unless asked (they belong to the client, not to the world).
DATA_TABLES = (
    "departments",
    "providers",
    "appointment_types",
    "reasons",
    "cancel_reasons",
    "insurance_packages",
    "patients",
    "insurances",
    "insurance_images",
    "benefit_checks",
    "appointments",
    "bookings",
    "appointment_notes",
    "changed_events",
    "changed_subscriptions",
    "changed_processed",
    "webhook_deliveries",
    "webhook_attempts",
    "request_log",
    "twilio_messages",
    "clover_charges",
    "clover_refunds",
    "clover_idempotency",
    "twilio_optouts",
    "outbound_callbacks",
    "portal_deliveries",
    "clearinghouse_exchanges",
    "clearinghouse_members",
    "meta",
)


class Transaction:
    """A write transaction: the connection plus callbacks to run once it has committed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)


class Database:
    """A pool of SQLite connections to one file in WAL mode."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._write_lock = threading.RLock()
        self._closed = False
        with self.connection() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (autocommit) for the duration of the block."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            if self._closed or self._pool.qsize() >= 16:
                conn.close()
            else:
                self._pool.put(conn)

    @contextlib.contextmanager
    def write(self) -> Iterator[Transaction]:
        """A serialized write transaction; commits at the end of the block, rolls back on error."""
        with self._write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            tx = Transaction(conn)
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        for callback in tx._after_commit:
            callback()

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def insert_autocommit(self, sql: str, params: Any = ()) -> int:
        """One INSERT outside any larger transaction (the request log); returns the new row id."""
        with self._write_lock, self.connection() as conn:
            cursor = conn.execute(sql, params)
            return int(cursor.lastrowid or 0)

    def empty_tables(self, tx: Transaction, *, include_tokens: bool) -> None:
        for table in DATA_TABLES:
            tx.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        if include_tokens:
            tx.execute("DELETE FROM tokens")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break


def meta_get(conn: sqlite3.Connection | Transaction, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row["value"] if row else default


def meta_set(tx: Transaction, key: str, value: str) -> None:
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def meta_increment(tx: Transaction, key: str) -> int:
    """Increment a counter kept in meta and return its new value."""
    row = tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value",
        (key,),
    ).fetchone()
    return int(row["value"])
