"""The per-request context handed to every handler."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from sandbox.wire import Params

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def api_username(client_id: str | None) -> str:
    """How athena names an API client in `scheduledby`/`lastmodifiedby` ("API-15378")."""
    if not client_id:
        return "API"
    return f"API-{10000 + zlib.crc32(client_id.encode()) % 90000}"


@dataclass
class Call:
    """One request as a handler sees it."""

    state: SandboxState
    config: dict[str, Any]
    request: Request
    params: Params
    system: str
    route: str
    method: str
    client_id: str | None = None
    via: str = "api"
    touched: dict[str, str] = field(default_factory=dict)
    wrote: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    quota: tuple[int, int] | None = None  # (daily limit, remaining) once this call was counted

    @property
    def actor(self) -> str:
        if self.via == "control":
            return "frontdesk"
        return api_username(self.client_id)

    @property
    def now(self) -> float:
        return self.state.clock.time()

    @property
    def practice_id(self) -> str:
        return str(self.config["practice_id"])

    def touch(self, **ids: Any) -> None:
        """Remember the ids this request touched, for the request log."""
        for key, value in ids.items():
            if value is not None and key not in self.touched:
                self.touched[key] = str(value)
