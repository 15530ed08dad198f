"""SQLite with its writers taking turns, instead of racing through SQLite's busy handler.

SQLite has one writer at a time. A connection that finds the write lock taken sleeps and tries
again, with sleeps growing to 100 ms, while a newcomer that arrives just as the lock comes free
takes it at once. Under a burst of writes (a day's eligibility re-checks, a feed read) an unlucky
writer loses that race again and again: a portal request waited seconds for its audit row while
the database was busy for milliseconds at a time.

Here a transaction (`BEGIN IMMEDIATE`, the hub's transaction mode) first takes its turn: the
threads of a process queue on a lock of their own (they sleep until it is free), and the one
holding it takes an exclusive `flock` on `<database>.writers`, which the processes share, trying
every `WRITER_POLL_SECONDS`. Both are let go when the transaction ends (or its connection is
closed; the kernel lets the file lock go when a process dies). A writer that has waited the
database's `timeout` goes ahead without its turn and SQLite's own handler decides, as before.
Single statements outside a transaction (autocommit) do not queue.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from typing import Any

from django.db.backends.sqlite3 import base

WRITER_POLL_SECONDS = 0.0005
_turns: dict[str, threading.Lock] = {}  # database file → the lock its writers in this process queue on
_turns_lock = threading.Lock()


def _forget_turns() -> None:
    # A forked child (a task worker) starts with fresh locks: one held by another thread of the
    # parent at the fork would otherwise stay held in the child for good.
    global _turns, _turns_lock
    _turns, _turns_lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_turns)

# The transaction hooks below are Django's private API, which the type stubs leave out.
SQLiteWrapper: Any = base.DatabaseWrapper


class DatabaseWrapper(SQLiteWrapper):
    _writer_fd: int | None = None
    _writer_turn: threading.Lock | None = None  # held: this connection's transaction has the turn
    _writer_locked = False  # the file lock is held too

    def _writers_lock(self) -> None:
        if self.transaction_mode != "IMMEDIATE" or self.is_in_memory_db():
            return
        name = str(self.settings_dict["NAME"])
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        with _turns_lock:
            turn = _turns.setdefault(name, threading.Lock())
        if not turn.acquire(timeout=timeout):
            return  # SQLite's busy handler has the last word
        self._writer_turn = turn
        if self._writer_fd is None:
            self._writer_fd = os.open(f"{name}.writers", os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(self._writer_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(WRITER_POLL_SECONDS)
                continue
            self._writer_locked = True
            return

    def _writers_unlock(self) -> None:
        if self._writer_locked and self._writer_fd is not None:
            fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
        self._writer_locked = False
        if self._writer_turn is not None:
            self._writer_turn.release()
            self._writer_turn = None

    def _start_transaction_under_autocommit(self) -> None:
        try:
            self._writers_lock()
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._writers_unlock()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._writers_unlock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._writers_unlock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._writers_unlock()
            if self._writer_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._writer_fd)
                self._writer_fd = None
