"""Route declarations shared by every simulated system."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Route:
    """One endpoint: a Werkzeug rule, its methods, the handler and the system it belongs to."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    system: str = "athena"

    @property
    def template(self) -> str:
        """The route as the request log and audit rows name it: `/v1/{practiceid}/patients/{patientid}`."""
        return _PLACEHOLDER.sub(lambda match: "{" + match.group(1) + "}", self.path)


def v1(path: str, methods: str, handler: Callable[..., Any]) -> Route:
    """An athena `/v1/{practiceid}/...` route."""
    return Route(f"/v1/<practiceid>{path}", tuple(methods.split()), handler, "athena")
