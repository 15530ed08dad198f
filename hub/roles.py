"""Staff roles as Django groups, declared as data and kept in step with the installed models.

A migration creates the groups; a post_migrate hook re-applies this table so permissions of
models added later (conflicts, OCR reviews, intents) reach the roles without a new migration.
"""

from __future__ import annotations

from typing import Any

FRONT_DESK = "Front desk"
COMPLIANCE = "Compliance"
INTEGRATION_ADMIN = "Integration admin"
ROLE_NAMES = (FRONT_DESK, COMPLIANCE, INTEGRATION_ADMIN)

# "app_label.codename" patterns; "app_label.view_*" grants every view permission of that app.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    FRONT_DESK: (
        "hub.view_patient",
        "hub.view_patientinsurance",
        "hub.view_appointment",
        "hub.view_department",
        "hub.view_provider",
        "hub.view_appointmenttype",
        "sync.view_conflict",
        "sync.change_conflict",
        "sync.resolve_conflict",
        "sync.view_writeintent",
        # Parked writes at their own locations only; failed ones need an integration admin
        # (`sync.staff_services.may_replay`).
        "sync.replay_writeintent",
        "intake.view_ocrreview",
        "intake.change_ocrreview",
        "intake.review_ocrreview",
        "intake.view_cardimage",
        "intake.view_cardupload",  # issue 6: the cards a location received and what became of them
        "eligibility.view_eligibilitycheck",
        "eligibility.add_eligibilitycheck",
        "eligibility.view_denialrisk",
        # Patient texts and payments (issue 8): see them, resolve copay mismatches.
        "notify.view_outboundmessage",
        "payments.view_payment",
        "payments.view_appointmentcopay",
        "payments.resolve_appointmentcopay",
    ),
    COMPLIANCE: (
        "hub.view_*",
        "sync.view_*",
        "intake.view_*",
        "eligibility.view_*",
        "auth.view_user",
        "auth.view_group",
        "auditlog.view_logentry",
        "hub.browse_auditevent",
        "hub.export_auditevent",
        "hub.verify_auditevent",
        "notify.view_*",
        "payments.view_*",
    ),
    INTEGRATION_ADMIN: (
        "hub.view_*",
        "hub.add_department",
        "hub.change_department",
        "hub.add_staffprofile",
        "hub.change_staffprofile",
        "sync.*",
        "intake.view_*",
        "intake.add_portalclient",
        "intake.change_portalclient",
        "eligibility.view_*",
        "eligibility.change_denialmodel",
        "django_q.*",
        # Issue 8: message templates are theirs to edit; texts and payments theirs to retry or reverse.
        "notify.*",
        "payments.*",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
    ),
}

# Permissions no role may hold, whatever a wildcard matched: the audit trail is append-only.
NEVER_GRANTED = {"hub.change_auditevent", "hub.delete_auditevent", "hub.add_auditevent"}


def _matches(pattern: str, app_label: str, codename: str) -> bool:
    pattern_app, _, pattern_code = pattern.partition(".")
    if pattern_app != app_label:
        return False
    if pattern_code.endswith("*"):
        return codename.startswith(pattern_code[:-1])
    return codename == pattern_code


def roles_sync(*, apps: Any = None, **_: Any) -> None:
    """Create the role groups and set their permissions from ROLE_PERMISSIONS."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.select_related("content_type"))
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        granted = [
            perm
            for perm in permissions
            if f"{perm.content_type.app_label}.{perm.codename}" not in NEVER_GRANTED
            and any(_matches(p, perm.content_type.app_label, perm.codename) for p in ROLE_PERMISSIONS[role])
        ]
        group.permissions.set(granted)
