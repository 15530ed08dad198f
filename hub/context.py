"""Request/task context: the correlation id and the actor, carried from a request into its tasks.

Both live in context variables so the audit writer, auditlog and log records can read them
without every function passing them along. Tasks receive the correlation id as an argument
(an opaque id, never PHI) and restore it with `task_context`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

_correlation_id: ContextVar[str] = ContextVar("hub_correlation_id", default="")
_actor: ContextVar[Actor | None] = ContextVar("hub_actor", default=None)
_remote_addr: ContextVar[str] = ContextVar("hub_remote_addr", default="")

_VALID_CID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user, a portal client, a background task or an outside system."""

    type: str  # "user" | "portal_client" | "task" | "system" | "athena" | "anonymous"
    id: str
    label: str = ""


SYSTEM_ACTOR = Actor(type="system", id="hub", label="hub")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def clean_correlation_id(value: str | None) -> str:
    """Accept a caller's correlation id only when it is a plain token; otherwise make a new one."""
    if value and _VALID_CID.match(value):
        return value
    return new_correlation_id()


def get_correlation_id() -> str:
    return _correlation_id.get()


def get_actor() -> Actor:
    return _actor.get() or SYSTEM_ACTOR


def get_remote_addr() -> str:
    return _remote_addr.get()


@contextlib.contextmanager
def bind(
    *, correlation_id: str | None = None, actor: Actor | None = None, remote_addr: str | None = None
) -> Iterator[None]:
    """Set any of correlation id, actor and remote address for the duration of the block."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    if correlation_id is not None:
        tokens.append((_correlation_id, _correlation_id.set(correlation_id)))
    if actor is not None:
        tokens.append((_actor, _actor.set(actor)))
    if remote_addr is not None:
        tokens.append((_remote_addr, _remote_addr.set(remote_addr)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def push_actor(actor: Actor) -> Token[Actor | None]:
    """Make `actor` current until `pop_actor` (for code that cannot use a `with` block)."""
    return _actor.set(actor)


def pop_actor(token: Token[Actor | None]) -> None:
    _actor.reset(token)


class CorrelationIdLogFilter(logging.Filter):
    """Adds `correlation_id` to every log record so log lines join up with audit rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get() or "-"
        return True


_call_scope: ContextVar[dict[str, object] | None] = ContextVar("hub_call_scope", default=None)


def get_call_scope() -> dict[str, object]:
    """What the current outside call is for: intent, attempt, patient and location (hub ids)."""
    return _call_scope.get() or {}


@contextlib.contextmanager
def call_scope(**values: object) -> Iterator[None]:
    """Tag outside calls made in this block (their audit rows) with intent/patient/location ids."""
    merged = {**get_call_scope(), **{key: value for key, value in values.items() if value is not None}}
    token = _call_scope.set(merged)
    try:
        yield
    finally:
        _call_scope.reset(token)
