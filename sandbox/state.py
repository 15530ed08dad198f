"""The state of one running sandbox: configuration, database, clock, counters, webhook dispatcher."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

from sandbox.callbacks import CallbackDispatcher
from sandbox.common import Clock
from sandbox.config import default_config, merge_config
from sandbox.db import Database, meta_get
from sandbox.seed import resolve_seed_date, seed_world
from sandbox.webhooks import WebhookDispatcher


class SandboxState:
    """Everything a request handler needs; one per running sandbox."""

    def __init__(self, config: Mapping[str, Any] | None = None, *, db_path: str | None = None) -> None:
        self._config = merge_config(default_config(), config or {})
        self.initial_config = self._config
        self._config_lock = threading.Lock()
        self._owned_dir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._owned_dir = tempfile.TemporaryDirectory(prefix="athena-sandbox-")
            db_path = os.path.join(self._owned_dir.name, "sandbox.sqlite3")
        else:
            directory = os.path.dirname(os.path.abspath(db_path))
            os.makedirs(directory, exist_ok=True)
        self.db_path = db_path
        self.db = Database(db_path)
        self.clock = Clock(self._config["clock_offset_seconds"])
        self.counters_lock = threading.Lock()
        self.fault_counters: dict[tuple[str, str], int] = {}
        self.rule_uses: dict[int, int] = {}
        self.request_counter = 0
        self.throttle_buckets: dict[str, tuple[float, float]] = {}
        self.quota_used: dict[tuple[str, str], int] = {}
        self.quota_default_used: dict[str, int] = {}
        self.token_minutes: dict[tuple[str, int], int] = {}
        self.token_cache: dict[str, tuple[str, float]] = {}
        self.webhooks = WebhookDispatcher(self)
        self.callbacks = CallbackDispatcher(self)  # Twilio status/inbound callbacks and Clover webhooks
        self.seed = int(self._config["seed"])

    # --- configuration ----------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The current configuration snapshot (never mutated in place)."""
        return self._config

    def update_config(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        with self._config_lock:
            updated = merge_config(self._config, patch)
            self._config = updated
            self.clock.offset_seconds = float(updated["clock_offset_seconds"])
        return updated

    # --- world --------------------------------------------------------------------------------

    def is_seeded(self) -> bool:
        with self.db.connection() as conn:
            return meta_get(conn, "seed") is not None

    def ensure_seeded(self) -> None:
        if self.is_seeded():
            with self.db.connection() as conn:
                self.seed = int(meta_get(conn, "seed") or self.seed)
            if self._config["seed"] != self.seed:
                self.update_config({"seed": self.seed})
            return
        self.reset()

    def reset(
        self,
        seed: int | None = None,
        *,
        clear_tokens: bool = False,
        seed_date: str | None = None,
        restore_config: bool = False,
    ) -> dict[str, Any]:
        """Empty every table and seed the world again (same seed unless one is given)."""
        if restore_config:
            with self._config_lock:
                self._config = self.initial_config
                self.clock.offset_seconds = float(self._config["clock_offset_seconds"])
        if seed is not None:
            self.update_config({"seed": int(seed)})
        if seed_date is not None:
            self.update_config({"seed_date": seed_date})
        self.seed = int(self._config["seed"])
        day = resolve_seed_date(self._config["seed_date"], self.clock.time())
        with self.db.write() as tx:
            self.db.empty_tables(tx, include_tokens=clear_tokens)
            counts = seed_world(
                tx, seed=self.seed, seed_date=day, practice_name=self._config["practice_name"], now=self.clock.time()
            )
        with self.counters_lock:
            self.fault_counters.clear()
            self.rule_uses.clear()
            self.request_counter = 0
            self.throttle_buckets.clear()
            self.quota_used.clear()
            self.quota_default_used.clear()
            self.token_minutes.clear()
            if clear_tokens:
                self.token_cache.clear()
        return {"seed": self.seed, "seed_date": day.isoformat(), "counts": counts}

    def seed_date(self) -> str:
        with self.db.connection() as conn:
            return meta_get(conn, "seed_date") or ""

    def close(self) -> None:
        self.webhooks.stop()
        self.callbacks.stop()
        self.db.close()
        if self._owned_dir is not None:
            self._owned_dir.cleanup()
