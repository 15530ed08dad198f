"""When and where a text may go: phone numbers (normalised, hashed) and quiet hours per location."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from zoneinfo import ZoneInfo

from django.conf import settings

_DIGITS = re.compile(r"\D+")


def to_e164(raw: str) -> str | None:
    """A US number in E.164 (+1XXXXXXXXXX), or None when it does not look like one."""
    text = (raw or "").strip()
    digits = _DIGITS.sub("", text)
    if text.startswith("+") and 11 <= len(digits) <= 15:
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def _hash_key() -> bytes:
    configured = settings.NOTIFY_PHONE_HASH_KEY
    if configured:
        return configured.encode()
    return hashlib.sha256(b"hub-phone-hash:" + settings.SECRET_KEY.encode()).digest()


def phone_hash(number: str) -> str:
    """Keyed hash of an E.164 number: rows can be matched on it, but it reveals nothing by itself."""
    return hmac.new(_hash_key(), number.encode(), hashlib.sha256).hexdigest()


def quiet_window(spec: str | None = None) -> tuple[dt.time, dt.time] | None:
    """The configured quiet hours ("21:00-08:00", local time); None when there are none."""
    text = (settings.NOTIFY_QUIET_HOURS if spec is None else spec).strip()
    if not text:
        return None
    start_text, _, end_text = text.partition("-")
    start = dt.time.fromisoformat(start_text.strip())
    end = dt.time.fromisoformat(end_text.strip())
    return None if start == end else (start, end)


def quiet_until(zone: ZoneInfo, now: dt.datetime, *, spec: str | None = None) -> dt.datetime | None:
    """If `now` falls in the location's quiet hours, when they end (aware UTC); else None."""
    window = quiet_window(spec)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(zone)
    moment = local.time()
    if start < end:
        inside = start <= moment < end
        end_day = local.date()
    else:  # the window wraps midnight
        inside = moment >= start or moment < end
        end_day = local.date() + dt.timedelta(days=1) if moment >= start else local.date()
    if not inside:
        return None
    return dt.datetime.combine(end_day, end, tzinfo=zone).astimezone(dt.UTC)
