"""What goes over the wire: replies, athena's error bodies, type drift, request parameters, pagination."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ATHENA_JSON = "application/json; charset=UTF-8"

# Error texts athena is recorded answering (athena-api.md section 5).
MISSING_FIELDS = "Additional fields are required."
INVALID_DATA = "The data provided is invalid."
SLOT_TAKEN_ERROR = "That appointment time was already booked or not available for booking."
SLOT_TAKEN_DETAIL = (
    "The appointment ID is already booked or is not marked as being available to be scheduled via the API."
)
NOT_SUBSCRIBED = "Changed messages require setup (subscription) that has not been done."


@dataclass
class Reply:
    """A response before it is serialised: a JSON-able body (or raw bytes) with status and headers."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = ATHENA_JSON
    headers: dict[str, str] = field(default_factory=dict)
    error: bool = False
    # athena bodies go through type drift; simulator-internal bodies (control, twilio...) do not.
    drift: bool = True


class ApiError(Exception):
    """Raised by handlers to answer an athena-style error body."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        detailedmessage: str | None = None,
        missingfields: list[str] | None = None,
        invalidfields: list[str] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        if body is not None:
            self.body = dict(body)
        else:
            payload: dict[str, Any] = {}
            if invalidfields is not None:
                payload["invalidfields"] = invalidfields
            if missingfields is not None:
                payload["missingfields"] = missingfields
            if detailedmessage is not None:
                payload["detailedmessage"] = detailedmessage
            payload["error"] = error
            self.body = payload
        self.headers = dict(headers or {})

    def reply(self) -> Reply:
        return Reply(status=self.status, body=self.body, headers=self.headers, error=True)


def missing(fields: list[str], detailedmessage: str | None = None) -> ApiError:
    return ApiError(400, MISSING_FIELDS, missingfields=fields, detailedmessage=detailedmessage)


def invalid(detailedmessage: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, INVALID_DATA, detailedmessage=detailedmessage, invalidfields=fields)


# Keys whose numbers stayed numbers in the older recordings (`{"totalcount":1,...}` in 2016).
LEGACY_NUMERIC_KEYS = frozenset({"totalcount"})


def legacy_types(value: Any) -> Any:
    """Older athena: booleans as "true"/"false", numbers as strings, recursively."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [legacy_types(item) for item in value]
    if isinstance(value, dict):
        return {key: item if key in LEGACY_NUMERIC_KEYS else legacy_types(item) for key, item in value.items()}
    return value


def public(value: Any) -> Any:
    """Strip the sandbox's private keys (those starting with "_") before answering."""
    if isinstance(value, dict):
        return {key: public(item) for key, item in value.items() if not key.startswith("_")}
    if isinstance(value, list):
        return [public(item) for item in value]
    return value


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Params:
    """Request parameters: query string plus form body (form wins), names case-insensitive.

    athena's `next` links may come back with upper-cased names (`DEPARTMENTID=162`), and PUT
    parameters are accepted in the query string too, so both sources are merged.
    """

    def __init__(self, sources: Iterable[Iterable[tuple[str, str]]]) -> None:
        self._values: dict[str, builtins.list[str]] = {}
        for source in sources:
            seen_here: dict[str, builtins.list[str]] = {}
            for name, value in source:
                seen_here.setdefault(name.lower(), []).append(value)
            self._values.update(seen_here)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(name)
        if not values:
            return default
        value = values[-1]
        return value if value != "" else default

    def raw(self, name: str) -> str | None:
        """The value as sent, empty string included."""
        values = self._values.get(name)
        return values[-1] if values else None

    def has(self, name: str) -> bool:
        return name in self._values

    def list(self, name: str) -> builtins.list[str]:
        """Multi-values: repeated parameters and comma lists, both accepted."""
        out: builtins.list[str] = []
        for value in self._values.get(name, []):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        return value.strip().lower() in ("true", "1", "yes", "y")

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise invalid(f"Expecting type integer, but value is {value}", [name]) from None

    def names(self) -> builtins.list[str]:
        return builtins.list(self._values)

    def items(self) -> builtins.list[tuple[str, str]]:
        return [(name, values[-1]) for name, values in self._values.items()]

    def update(self, mapping: Mapping[str, Any]) -> None:
        for name, value in mapping.items():
            if isinstance(value, builtins.list):
                self._values[name.lower()] = [str(item) for item in value]
            elif value is not None:
                self._values[name.lower()] = [value if isinstance(value, str) else json.dumps(value)]


def page(
    *,
    items: list[Any],
    total: int,
    collection: str,
    offset: int,
    limit: int,
    path: str,
    query: list[tuple[str, str]],
) -> dict[str, Any]:
    """athena's list envelope: the collection, `totalcount`, and relative `next`/`previous` links."""
    body: dict[str, Any] = {collection: items, "totalcount": total}
    kept = [(name, value) for name, value in query if name.lower() not in ("offset", "limit")]
    if offset + len(items) < total:
        body["next"] = f"{path}?{urlencode([*kept, ('limit', str(limit)), ('offset', str(offset + limit))])}"
    if offset > 0:
        previous = max(0, offset - limit)
        body["previous"] = f"{path}?{urlencode([*kept, ('limit', str(limit)), ('offset', str(previous))])}"
    return body


def limit_offset(params: Params, default_limit: int, max_limit: int) -> tuple[int, int]:
    limit = params.int("limit", default_limit) or default_limit
    offset = params.int("offset", 0) or 0
    return max(1, min(limit, max_limit)), max(0, offset)
