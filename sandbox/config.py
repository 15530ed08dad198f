"""Settings of the sandbox: defaults, environment fallbacks, and validated partial updates.

The configuration is a plain nested dict so it travels unchanged through `GET/PUT /_sandbox/config`.
A running sandbox swaps in a new dict on every update (never mutates the old one), so a request
reads one consistent snapshot.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

DEFAULT_CLIENT_ID = "hub-local-client"
DEFAULT_CLIENT_SECRET = "hub-local-secret"  # noqa: S105 - documented local default, not a credential
DEFAULT_WEBHOOK_SECRET = "local-athena-webhook-secret"  # noqa: S105 - documented local default
DEFAULT_PORTAL_SECRET = "whsec_bG9jYWwtcG9ydGFsLXdlYmhvb2stc2VjcmV0LTAx"  # noqa: S105 - documented local default
DEFAULT_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000001"
DEFAULT_TWILIO_AUTH_TOKEN = "local-twilio-auth-token"  # noqa: S105 - documented local default
DEFAULT_CLOVER_TOKEN = "local-clover-private-token"  # noqa: S105 - documented local default
DEFAULT_CLOVER_WEBHOOK_AUTH = "local-clover-webhook-auth"
SYSTEMS = ("athena", "clearinghouse", "twilio", "clover", "portal")

FAULT_KINDS = ("error_before", "error_after", "hang_after", "drop_after", "rate_limited", "slow")
TYPE_DRIFT_MODES = ("modern", "legacy")

DEFAULTS: dict[str, Any] = {
    "practice_id": "195900",
    "practice_name": "Synthetic Medical Group",
    "seed": 1,
    # ISO date the seeded world starts from ("2026-01-15"); null = today in America/New_York at reset.
    "seed_date": None,
    # Shifts the sandbox's idea of "now" (slot windows, token expiry, quota day, feed timestamps).
    "clock_offset_seconds": 0.0,
    "type_drift": "modern",
    # "athena" answers timezonename like athena does ("US/Eastern"); "iana" answers "America/New_York".
    "timezonename_style": "athena",
    "accept_json_bodies": False,
    "oauth": {
        "clients": {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET},
        "token_lifetime_seconds": 3600,
        "tokens_per_minute": 5,
        "scope_prefixes": ["athena/service/", "system/"],
        "rate_limited_body": {"error": "rate_limit_exceeded", "error_description": "Token request limit reached."},
    },
    "throttle": {
        "enabled": True,
        "per_second": 10.0,
        "burst": None,  # bucket size; null = per_second
        "status": 429,
        "body": {"error": "Too many requests. Please slow down."},
    },
    "quota": {
        "enabled": True,
        "daily_limit": 50000,
        "status": 429,
        "body": {"error": "Daily API quota exceeded."},
    },
    "errors": {
        "blank_lines": 0,  # newlines written before an error body, as athena sometimes does
        "unauthorized": {"error": "Developer Inactive"},
        "not_found": {"error": "The requested resource does not exist."},
        "method_not_allowed": {"error": "Method not allowed."},
        "internal": {"error": "An unexpected error occurred."},
    },
    "scheduling": {
        "min_hours_ahead": 24,
        "max_days_ahead": 90,
        "default_window_days": 7,
        "cancel_requires_reason": False,
        "api_cancel_frees_slot": True,
    },
    "patients": {
        "match_requires_contact": True,
        "search_requires_criteria": False,
        "field_limits": None,  # e.g. {"firstname": 20, "lastname": 30}; null = no length checks
        "match_error_message": "A patient matching this data already exists.",
    },
    "insurances": {
        # "allow": a second active insurance with the same sequence number is created (nothing deduplicates);
        # "reject": 400 instead.
        "duplicate_sequence": "allow",
    },
    "changed": {"subscription_delay_seconds": 0.0},
    "benefits": {"check_delay_seconds": 0.0},
    "faults": {
        "rate": 0.0,
        "kinds": {"hang_after": 8, "drop_after": 5, "slow": 4, "rate_limited": 3},
        "methods": None,  # null = every method; e.g. ["POST", "PUT", "DELETE"]
        "systems": ["athena"],  # which systems the global rate applies to (rules apply to every system)
        "rules": [],
        "hang_seconds": 1.5,
        "slow_seconds": 0.5,
        "retry_after_seconds": 1,
        "error_status": 500,
    },
    "webhook": {
        "enabled": True,
        "url": "http://127.0.0.1:8000/webhooks/athena/",
        "secret": DEFAULT_WEBHOOK_SECRET,
        "timeout_seconds": 2.0,
        "workers": 4,
        "topics": None,  # null = every topic
        "topic_base": "https://api.preview.platform.athenahealth.com/fhir/r4/SubscriptionTopic/",
        "retry": {"initial_seconds": 1.0, "multiplier": 2.0, "max_seconds": 300.0, "give_up_seconds": 3600.0},
        "duplicate_rate": 0.0,
        "shuffle": False,
        "shuffle_window_seconds": 0.25,
        "drop_rate": 0.0,
    },
    "portal": {
        "secrets": [DEFAULT_PORTAL_SECRET],
        "respond_status": 204,
        "delay_seconds": 0.0,
    },
    "twilio": {
        "accounts": {DEFAULT_TWILIO_ACCOUNT_SID: DEFAULT_TWILIO_AUTH_TOKEN},
        # Where a patient's reply to one of the account's numbers is posted (the number's "A message comes in").
        "inbound_url": "http://127.0.0.1:8000/webhooks/twilio/inbound/",
        # Status callbacks to each message's StatusCallback: queued, sent, then delivered/undelivered/failed.
        "callbacks": {"enabled": True, "delay_seconds": 0.05, "duplicate_rate": 0.0, "drop_rate": 0.0},
        "undeliverable": [],  # recipients whose messages end `undelivered` (30003)
        "failing": [],  # recipients whose messages end `failed` (30008)
    },
    "clover": {
        "api_tokens": [DEFAULT_CLOVER_TOKEN],
        "merchant_id": "SBXMERCHANT01",
        "void_window_seconds": 1500,  # Clover voids a card payment only within 25 minutes
        "webhook": {
            "enabled": True,
            "url": "http://127.0.0.1:8000/webhooks/clover/",
            "auth_code": DEFAULT_CLOVER_WEBHOOK_AUTH,
            "app_id": "SBXHUBAPP0001",
            "delay_seconds": 0.05,
            "duplicate_rate": 0.0,
            "drop_rate": 0.0,
        },
    },
}

# Keys whose value is replaced as a whole by an update instead of merged key by key.
_REPLACE_PATHS = {
    ("faults", "kinds"),
    ("faults", "rules"),
    ("faults", "methods"),
    ("faults", "systems"),
    ("twilio", "undeliverable"),
    ("twilio", "failing"),
    ("portal", "secrets"),
    ("oauth", "scope_prefixes"),
    ("oauth", "rate_limited_body"),
    ("throttle", "body"),
    ("quota", "body"),
    ("errors", "unauthorized"),
    ("errors", "not_found"),
    ("errors", "method_not_allowed"),
    ("errors", "internal"),
    ("patients", "field_limits"),
    ("webhook", "topics"),
    ("clover", "api_tokens"),
}
# Open maps: any key may be added; a null value removes the key.
_OPEN_MAPS = {("oauth", "clients"), ("twilio", "accounts")}


class ConfigError(ValueError):
    """A configuration update names an unknown key or carries a value the sandbox cannot use."""


def default_config() -> dict[str, Any]:
    """A fresh copy of the defaults."""
    return copy.deepcopy(DEFAULTS)


def merge_config(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return `current` updated by `patch` (nested, partial), validated; `current` is left untouched."""
    merged = copy.deepcopy(dict(current))
    _merge_into(merged, patch, DEFAULTS, ())
    validate_config(merged)
    return merged


def _merge_into(target: dict[str, Any], patch: Mapping[str, Any], schema: Mapping[str, Any], path: tuple) -> None:
    if not isinstance(patch, Mapping):
        raise ConfigError(f"{'.'.join(path) or 'config'} must be an object")
    for key, value in patch.items():
        here = (*path, key)
        if path in _OPEN_MAPS:
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
            continue
        if key not in schema:
            raise ConfigError(f"unknown setting {'.'.join(here)}")
        if here in _REPLACE_PATHS or not isinstance(schema[key], Mapping):
            target[key] = copy.deepcopy(value)
        else:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{'.'.join(here)} must be an object")
            target.setdefault(key, {})
            _merge_into(target[key], value, schema[key], here)


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError when a value is out of range; checks what a typo would most likely break."""
    if config["type_drift"] not in TYPE_DRIFT_MODES:
        raise ConfigError(f"type_drift must be one of {', '.join(TYPE_DRIFT_MODES)}")
    if config["timezonename_style"] not in ("athena", "iana"):
        raise ConfigError("timezonename_style must be athena or iana")
    if config["insurances"]["duplicate_sequence"] not in ("allow", "reject"):
        raise ConfigError("insurances.duplicate_sequence must be allow or reject")
    faults = config["faults"]
    _check_rate("faults.rate", faults["rate"])
    for kind, weight in faults["kinds"].items():
        if kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(f"faults.kinds.{kind} must be a non-negative number")
    if not isinstance(faults["rules"], list):
        raise ConfigError("faults.rules must be a list")
    for index, rule in enumerate(faults["rules"]):
        if not isinstance(rule, Mapping):
            raise ConfigError(f"faults.rules[{index}] must be an object")
        unknown = set(rule) - {"route", "method", "kind", "kinds", "rate", "count", "hang_seconds", "slow_seconds"}
        if unknown:
            raise ConfigError(f"faults.rules[{index}] has unknown keys {sorted(unknown)}")
        if "kind" not in rule and "kinds" not in rule:
            raise ConfigError(f"faults.rules[{index}] needs kind or kinds")
        kinds = [rule["kind"]] if "kind" in rule else list(rule["kinds"])
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ConfigError(f"faults.rules[{index}]: unknown fault kind {kind!r}")
        _check_rate(f"faults.rules[{index}].rate", rule.get("rate", 1.0))
    systems = faults["systems"]
    if not isinstance(systems, list) or any(system not in SYSTEMS for system in systems):
        raise ConfigError(f"faults.systems must be a list of {', '.join(SYSTEMS)}")
    for key in ("duplicate_rate", "drop_rate"):
        _check_rate(f"webhook.{key}", config["webhook"][key])
        _check_rate(f"twilio.callbacks.{key}", config["twilio"]["callbacks"][key])
        _check_rate(f"clover.webhook.{key}", config["clover"]["webhook"][key])
    if not config["portal"]["secrets"]:
        raise ConfigError("portal.secrets needs at least one secret")
    if float(config["throttle"]["per_second"]) <= 0:
        raise ConfigError("throttle.per_second must be positive")


def _check_rate(name: str, value: Any) -> None:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number between 0 and 1")


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Partial configuration from SANDBOX_* environment variables (SANDBOX_CONFIG takes JSON or a file path)."""
    env = os.environ if environ is None else environ
    patch: dict[str, Any] = {}
    raw = env.get("SANDBOX_CONFIG", "").strip()
    if raw:
        if raw.startswith("{"):
            patch = json.loads(raw)
        else:
            with open(raw, encoding="utf-8") as handle:
                patch = json.load(handle)
    simple: dict[str, tuple[tuple[str, ...], Any]] = {
        "SANDBOX_SEED": (("seed",), int),
        "SANDBOX_SEED_DATE": (("seed_date",), str),
        "SANDBOX_TYPE_DRIFT": (("type_drift",), str),
        "SANDBOX_WEBHOOK_URL": (("webhook", "url"), str),
        "SANDBOX_WEBHOOK_SECRET": (("webhook", "secret"), str),
        "SANDBOX_WEBHOOK_ENABLED": (("webhook", "enabled"), parse_bool),
        "SANDBOX_FAULT_RATE": (("faults", "rate"), float),
        "SANDBOX_THROTTLE_PER_SECOND": (("throttle", "per_second"), float),
        "SANDBOX_DAILY_QUOTA": (("quota", "daily_limit"), int),
        "SANDBOX_TOKENS_PER_MINUTE": (("oauth", "tokens_per_minute"), int),
    }
    for name, (path, convert) in simple.items():
        if env.get(name, "") != "":
            node = patch
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = convert(env[name])
    return patch


def parse_bool(value: Any) -> bool:
    """athena-style boolean input: true/false, 1/0, yes/no, y/n (any case)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "y", "on")
