"""What a text message says: the built-in wording per kind, admins' templates, and their checks.

Minimum necessary: a message may name the patient's first name, the practice, the visit's date
and time and a link to the portal, nothing else — no diagnosis, no visit reason, no insurance
detail, no clinic (a clinic's name can reveal a specialty). Templates are checked against that
list, so an admin cannot add `{last_name}` or reach into an object with `{first_name.__class__}`.
"""

from __future__ import annotations

import string

from notify.models import MessageKind, MessageTemplate

PLACEHOLDERS = ("first_name", "practice", "date", "time", "link")
MAX_TEMPLATE_LENGTH = 300
OPT_OUT_LINE = "Reply STOP to opt out."

DEFAULT_WORDING: dict[str, str] = {
    MessageKind.BOOKING_CONFIRMATION: "Hi {first_name}, your visit with {practice} on {date} at {time} is booked. "
    "Details: {link}",
    MessageKind.REMINDER_48H: "Hi {first_name}, a reminder of your visit with {practice} on {date} at {time}. "
    "Details or changes: {link}",
    MessageKind.REMINDER_2H: "Hi {first_name}, see you today at {time}. Visit details: {link}",
    MessageKind.CHECK_IN_LINK: "Hi {first_name}, you can check in for your {time} visit today here: {link}",
    MessageKind.NEEDS_ATTENTION: "Hi {first_name}, please review some details in your patient portal before "
    "your next visit: {link}",
}


def template_problems(body: str) -> list[str]:
    """Why a template cannot be used ([] when it can)."""
    problems: list[str] = []
    if not body.strip():
        return ["The message cannot be empty."]
    if len(body) > MAX_TEMPLATE_LENGTH:
        problems.append(f"Keep the message under {MAX_TEMPLATE_LENGTH} characters.")
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(body) if name is not None
        ]
    except ValueError:
        return [*problems, "Braces must enclose a placeholder, like {first_name}."]
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS:
            problems.append(
                f"{{{name}}} is not an allowed placeholder; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}."
            )
        elif spec or conversion:
            problems.append(f"{{{name}}} takes no format options.")
    return problems


def wording_for(kind: str) -> str:
    """The active template for a kind, or the built-in wording."""
    template = MessageTemplate.objects.filter(kind=kind, is_active=True).values_list("body", flat=True).first()
    if template and not template_problems(template):
        return template
    return DEFAULT_WORDING[kind]


def render(kind: str, *, values: dict[str, str], marker: str) -> str:
    """The body to send: the template filled in, then the opt-out line and the reference code."""
    text = wording_for(kind).format(**{name: values.get(name, "") for name in PLACEHOLDERS})
    return f"{text} {OPT_OUT_LINE} Ref {marker}"


def ensure_default_templates() -> None:
    """One editable template row per kind, holding the built-in wording (existing rows keep admins' edits)."""
    for kind, body in DEFAULT_WORDING.items():
        MessageTemplate.objects.get_or_create(kind=kind, defaults={"body": body})
