"""Coercion of athena's wire types at the client's edge.

athena answers the same field as a JSON boolean or the string "true", a number or a numeric
string, depending on the endpoint and the year; dates are mm/dd/yyyy and times HH:MM local to
the department. Everything past the client sees Python types.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def to_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in {"true", "t", "y", "yes", "1"}:
        return True
    if text in {"false", "f", "n", "no", "0"}:
        return False
    return default


def to_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value).strip()))
        except ValueError:
            return default


def to_str(value: Any) -> str:
    """Ids and codes: athena sends them as strings or numbers; we keep strings."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def to_date(value: Any) -> dt.date | None:
    """Parse athena's mm/dd/yyyy (tolerating a trailing time)."""
    if not value:
        return None
    text = str(value).strip().split(" ")[0]
    try:
        return dt.datetime.strptime(text, "%m/%d/%Y").date()  # noqa: DTZ007 - a date, no time zone
    except ValueError:
        return None


def to_datetime(value: Any, tz: dt.tzinfo | None = None) -> dt.datetime | None:
    """Parse mm/dd/yyyy hh24:mi:ss in the given zone (athena's changed feeds use Eastern time)."""
    if not value:
        return None
    text = str(value).strip()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            naive = dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - zone attached below
        except ValueError:
            continue
        return naive.replace(tzinfo=tz or dt.UTC)
    return None


def to_time(value: Any) -> dt.time | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(str(value).strip(), "%H:%M").time()  # noqa: DTZ007 - a wall-clock time
    except ValueError:
        return None


def from_date(value: dt.date | None) -> str:
    return value.strftime("%m/%d/%Y") if value else ""


def from_time(value: dt.time | None) -> str:
    return value.strftime("%H:%M") if value else ""


def from_bool(value: bool) -> str:
    return "true" if value else "false"


def first(value: Any) -> Any:
    """athena answers single-record GETs and many writes with an array of one."""
    if isinstance(value, list):
        return value[0] if value else None
    return value
