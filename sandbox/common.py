"""Small shared pieces: the sandbox clock, seeded draws, and athena's date formats."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import uuid
from zoneinfo import ZoneInfo

UTC = dt.UTC
EASTERN = ZoneInfo("America/New_York")

_DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_DATETIME_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$")
_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


class Clock:
    """The sandbox's "now": wall-clock time shifted by a configurable offset."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = float(offset_seconds)

    def time(self) -> float:
        return time.time() + self.offset_seconds

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), tz=UTC)

    def today_in(self, tz: ZoneInfo) -> dt.date:
        return self.now().astimezone(tz).date()


def draw(*parts: object) -> float:
    """A number in [0, 1) that depends only on `parts` (seed, route, counter...): reproducible across runs."""
    digest = hashlib.blake2b("|".join(str(part) for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def seeded_uuid(*parts: object) -> str:
    """A version-4-shaped UUID derived from `parts`."""
    digest = hashlib.blake2b("|".join(str(part) for part in parts).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def weighted_choice(weights: dict[str, float], unit: float) -> str | None:
    """Pick a key of `weights` with probability proportional to its weight, using `unit` in [0, 1)."""
    total = sum(weight for weight in weights.values() if weight > 0)
    if total <= 0:
        return None
    target = unit * total
    running = 0.0
    chosen = None
    for key, weight in weights.items():
        if weight <= 0:
            continue
        chosen = key
        running += weight
        if target < running:
            return key
    return chosen


def parse_athena_date(value: str | None) -> dt.date | None:
    """mm/dd/yyyy → date; None when missing or malformed (also for impossible dates like 02/30)."""
    if not value:
        return None
    match = _DATE_RE.match(value)
    if not match:
        return None
    month, day, year = (int(group) for group in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_athena_datetime(value: str | None, tz: ZoneInfo = EASTERN) -> dt.datetime | None:
    """mm/dd/yyyy [hh24:mi[:ss]] in `tz` (athena's feeds use Eastern time) → aware datetime."""
    if not value:
        return None
    match = _DATETIME_RE.match(value)
    if not match:
        return None
    month, day, year, hour, minute, second = match.groups()
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:
        return None


def parse_time(value: str | None) -> str | None:
    """HH:MM (24 h) → normalised "HH:MM"; None when malformed."""
    if not value:
        return None
    match = _TIME_RE.match(value)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def athena_date(value: dt.date) -> str:
    return value.strftime("%m/%d/%Y")


def iso_to_athena_date(value: str) -> str:
    return athena_date(dt.date.fromisoformat(value))


def athena_datetime(timestamp: float, tz: ZoneInfo = EASTERN) -> str:
    """A Unix time as athena's mm/dd/yyyy hh24:mi:ss in `tz` (Eastern by default)."""
    return dt.datetime.fromtimestamp(timestamp, tz=tz).strftime("%m/%d/%Y %H:%M:%S")


def iso_utc(timestamp: float, *, millis: bool = False) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=UTC)
    if millis:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def local_timestamp(date_iso: str, hhmm: str, tz: ZoneInfo) -> float:
    """Unix time of a department-local date and HH:MM."""
    day = dt.date.fromisoformat(date_iso)
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp()


def digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())
