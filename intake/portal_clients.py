"""Creating portal clients and rotating their secrets without downtime."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import Application

from hub.models import Department
from intake.models import PortalClient, PortalClientSecret

ALL_SCOPES: tuple[str, ...] = tuple(settings.OAUTH2_PROVIDER["SCOPES"])  # type: ignore[arg-type]


def _new_secret() -> str:
    return secrets.token_urlsafe(36)


@transaction.atomic
def portal_client_create(
    *, name: str, department_ids: list[str] | None, scopes: list[str]
) -> tuple[PortalClient, str, str]:
    """A new portal client; returns it with its client id and (only now visible) secret."""
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    secret = _new_secret()
    application = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
    )
    client = PortalClient.objects.create(
        application=application, name=name, all_locations=department_ids is None, scopes=" ".join(sorted(set(scopes)))
    )
    if department_ids is not None:
        departments = list(Department.objects.filter(athena_department_id__in=department_ids))
        missing = set(department_ids) - {d.athena_department_id for d in departments}
        if missing:
            raise ValueError(f"unknown locations: {', '.join(sorted(missing))}")
        client.departments.set(departments)
    return client, application.client_id, secret


@transaction.atomic
def portal_client_rotate_secret(*, client: PortalClient, overlap: dt.timedelta | None = None) -> str:
    """Issue a new secret; the current one keeps working for `overlap` so the portal can roll over."""
    overlap = overlap if overlap is not None else dt.timedelta(hours=settings.HUB_PORTAL_SECRET_OVERLAP_HOURS)
    application = Application.objects.select_for_update().get(pk=client.application_id)
    PortalClientSecret.objects.create(
        client=client, secret_hash=application.client_secret, expires_at=timezone.now() + overlap
    )
    PortalClientSecret.objects.filter(client=client, expires_at__lte=timezone.now()).delete()
    secret = _new_secret()
    application.client_secret = secret
    application.save()
    return secret
