"""Who a staff user is, in terms of the hub's roles: read-only, integration admin, their locations.

Roles are Django groups (see `hub.roles`); a user may hold several. Compliance is the one
read-only role: a user whose only roles are read-only ones may look but never change anything.
"""

from __future__ import annotations

from typing import Any

from hub.roles import COMPLIANCE, FRONT_DESK, INTEGRATION_ADMIN

READ_ONLY_ROLES = frozenset({COMPLIANCE})


def user_roles(user: Any) -> set[str]:
    """The hub role names this user holds (cached on the user object for the request)."""
    if user is None or not user.is_authenticated:
        return set()
    cached = getattr(user, "_hub_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._hub_roles = cached
    return cached


def is_read_only(user: Any) -> bool:
    """True for users whose every role is read-only (compliance); superusers never are."""
    if user is None or not user.is_authenticated or user.is_superuser:
        return False
    roles = user_roles(user)
    return bool(roles) and roles <= READ_ONLY_ROLES


def is_integration_admin(user: Any) -> bool:
    return bool(
        user is not None and user.is_authenticated and (user.is_superuser or INTEGRATION_ADMIN in user_roles(user))
    )


def is_front_desk(user: Any) -> bool:
    return FRONT_DESK in user_roles(user)


def sees_all_locations(user: Any) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    profile = getattr(user, "staff_profile", None)
    return bool(profile is not None and profile.all_locations)


def location_ids(user: Any) -> list[int] | None:
    """The department ids this user may see, or None when they see every location."""
    if sees_all_locations(user):
        return None
    profile = getattr(user, "staff_profile", None) if user is not None and user.is_authenticated else None
    if profile is None:
        return []
    return list(profile.departments.values_list("pk", flat=True))
