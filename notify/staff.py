"""What staff see of patient texts: a home panel of texts needing a person, a location column, an alert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from hub.alerts import Finding, register_alert_condition
from hub.staff_home import PanelData, PanelRow, register_panel, relative
from notify.models import OutboundMessage
from notify.services import messages_needing_staff

ROW_LIMIT = 20


def texts_needing_staff(request: HttpRequest) -> PanelData:
    """Parked, failed and undelivered texts at the user's locations, oldest first."""
    now = timezone.now()
    waiting = messages_needing_staff().filter(pk__in=OutboundMessage.objects.for_user(request.user).values("pk"))
    rows = list(waiting.select_related("department").order_by("updated_at")[:ROW_LIMIT])
    oldest = rows[0].updated_at if rows else None
    return PanelData(
        columns=["Since", "Location", "Patient", "Kind", "State", "Why"],
        rows=[
            PanelRow(
                cells=[
                    relative(message.updated_at, now),
                    message.department.name,
                    f"#{message.patient_id}",
                    message.get_kind_display(),
                    message.delivery_status if message.state == "succeeded" else message.get_state_display(),
                    message.last_error
                    or (f"Twilio error {message.delivery_error_code}" if message.delivery_error_code else ""),
                ],
                url=reverse("admin:notify_outboundmessage_change", args=[message.pk]),
                urgent=message.state == "parked",
                age=now - message.updated_at,
            )
            for message in rows
        ],
        count=waiting.count(),
        oldest_age=(now - oldest) if oldest else None,
        more_url=reverse("admin:notify_outboundmessage_changelist") + "?needs_staff=1",
        empty_message="Every text went out or was skipped for a reason.",
    )


def check_parked_texts(now: dt.datetime) -> Iterable[Finding]:
    parked = OutboundMessage.objects.filter(state="parked").count()
    if parked:
        yield Finding(subject="parked", summary=f"{parked} text message(s) parked for staff")


def register() -> None:
    register_panel(
        "texts-needing-staff",
        "Text messages that need a person",
        texts_needing_staff,
        permission="notify.view_outboundmessage",
        priority=30,
    )
    register_alert_condition("texts-parked", "Patient text messages are parked", check_parked_texts)
