"""Which fault, if any, a request gets: per-route rules first, then the global rate (`faults.systems`).

Draws come from a hash of (seed, method, route template, n) where n counts earlier requests to the
same method and route, so the same seed and the same request sequence give the same faults, even
when requests to other routes interleave differently.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.common import draw, weighted_choice

if TYPE_CHECKING:
    from sandbox.state import SandboxState

WRITE_KINDS = ("error_after", "hang_after", "drop_after")


@dataclass(frozen=True)
class Fault:
    kind: str
    hang_seconds: float
    slow_seconds: float
    retry_after_seconds: int
    error_status: int
    source: str  # "rule:<index>" or "global"


def _kind_from(rule: dict[str, Any], unit: float) -> str | None:
    if "kind" in rule:
        return str(rule["kind"])
    kinds = rule["kinds"]
    weights = dict(kinds) if isinstance(kinds, dict) else dict.fromkeys(kinds, 1.0)
    return weighted_choice(weights, unit)


def _matches(rule: dict[str, Any], method: str, route: str, path: str) -> bool:
    wanted_method = str(rule.get("method", "*")).upper()
    if wanted_method not in ("*", method):
        return False
    pattern = str(rule.get("route", "*"))
    return fnmatch.fnmatchcase(route, pattern) or fnmatch.fnmatchcase(path, pattern)


def decide(state: SandboxState, *, system: str, method: str, route: str, path: str) -> Fault | None:
    """The fault for this request, or None. Never called for the control surface."""
    settings = state.config["faults"]
    seed = state.seed
    with state.counters_lock:
        n = state.fault_counters.get((method, route), 0)
        state.fault_counters[(method, route)] = n + 1
    for index, rule in enumerate(settings["rules"]):
        if not _matches(rule, method, route, path):
            continue
        limit = rule.get("count")
        with state.counters_lock:
            if limit is not None and state.rule_uses.get(index, 0) >= int(limit):
                continue
        if draw(seed, "rule", index, method, route, n) >= float(rule.get("rate", 1.0)):
            continue
        kind = _kind_from(rule, draw(seed, "rule-kind", index, method, route, n))
        if kind is None:
            continue
        with state.counters_lock:
            if limit is not None and state.rule_uses.get(index, 0) >= int(limit):
                continue
            state.rule_uses[index] = state.rule_uses.get(index, 0) + 1
        return _fault(settings, kind, f"rule:{index}", rule)
    rate = float(settings["rate"])
    if rate <= 0 or system not in settings["systems"]:
        return None
    if system == "athena" and not route.startswith("/v1/"):
        return None  # the token endpoint has its own limit; faults there come from rules only
    methods = settings["methods"]
    if methods is not None and method not in [str(item).upper() for item in methods]:
        return None
    if draw(seed, "global", method, route, n) >= rate:
        return None
    kind = weighted_choice(
        {key: float(value) for key, value in settings["kinds"].items()}, draw(seed, "global-kind", method, route, n)
    )
    if kind is None:
        return None
    return _fault(settings, kind, "global", {})


def _fault(settings: dict[str, Any], kind: str, source: str, rule: dict[str, Any]) -> Fault:
    return Fault(
        kind=kind,
        hang_seconds=float(rule.get("hang_seconds", settings["hang_seconds"])),
        slow_seconds=float(rule.get("slow_seconds", settings["slow_seconds"])),
        retry_after_seconds=int(settings["retry_after_seconds"]),
        error_status=int(settings["error_status"]),
        source=source,
    )
