"""Template filters for the staff pages: ages people can read at a glance."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django import template

from hub.staff_home import human_delta, relative

register = template.Library()


@register.filter
def ago(value: dt.datetime | None) -> str:
    """ "3 h ago" / "in 5 min" for a datetime; "never" for None."""
    if value is None:
        return "never"
    return relative(value)


@register.filter
def duration(value: dt.timedelta | None) -> str:
    """ "3 h" for a timedelta; "—" for None."""
    if value is None:
        return "—"
    return human_delta(value)


@register.filter
def qs(values: dict[str, str]) -> str:
    """A dict as a query string (for keyset links that keep the current filters)."""
    return urlencode(values)


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, "")


@register.filter
def split_words(text: str) -> list[str]:
    return text.split()
