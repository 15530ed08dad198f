"""Every change inside the sandbox's athena leaves two traces, written in the same transaction:
a row in the changed-data feed and, for patients/appointments/insurances, an outbound webhook
(FHIR-subscription-style, id-only) queued for the delivery thread.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sandbox.common import draw, iso_utc, seeded_uuid
from sandbox.db import Transaction, meta_increment

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# Changed-data feed event names per feed (athena-api.md section 9.1).
FEED_EVENTS: dict[str, tuple[str, ...]] = {
    "appointments": (
        "ScheduleAppointment",
        "CheckIn",
        "CheckOut",
        "UpdateAppointment",
        "CancelAppointment",
        "UpdateReminderCall",
        "UpdateSuggestedOverbooking",
        "FreezeAppointment",
        "UnfreezeAppointment",
        "DeleteAppointment",
        "AddAppointmentSlot",
    ),
    "patients": ("AddPatient", "UpdatePatient", "DeletePatient", "MergePatient", "UpdatePatientCustomField"),
    "providers": ("ProviderAdd", "ProviderUpdate", "ProviderDelete", "ProviderUndelete"),
}


def record_change(
    tx: Transaction,
    state: SandboxState,
    *,
    feed: str,
    eventname: str,
    entityid: str,
    snapshot: dict[str, Any],
    departmentid: str | None,
    patientid: str | None = None,
    providerid: str | None = None,
    topic: str | None = None,
    actor: str = "",
) -> dict[str, Any] | None:
    """Write the changed-feed row and, when `topic` is given, queue the webhook; returns the event summary."""
    now = state.clock.time()
    tx.execute(
        "INSERT INTO changed_events (feed, eventname, entityid, departmentid, patientid, providerid, created_at, "
        "snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (feed, eventname, entityid, departmentid, patientid, providerid, now, json.dumps(snapshot)),
    )
    if topic is None:
        return None
    return queue_notification(
        tx,
        state,
        topic=topic,
        entityid=entityid,
        departmentid=departmentid,
        patientid=patientid,
        actor=actor,
        committed_at=now,
    )


def queue_notification(
    tx: Transaction,
    state: SandboxState,
    *,
    topic: str,
    entityid: str,
    departmentid: str | None,
    patientid: str | None,
    actor: str,
    committed_at: float,
) -> dict[str, Any]:
    """Build the notification bundle and put it in the outbox (or record why it will not be sent)."""
    config = state.config
    hook = config["webhook"]
    seed = state.seed
    practice = config["practice_id"]
    event_number = meta_increment(tx, "event_number")
    since_start = meta_increment(tx, f"events_since:{topic}")
    event_id = seeded_uuid(seed, "event", event_number)
    body = notification_bundle(
        practice_id=practice,
        topic=topic,
        topic_base=hook["topic_base"],
        subscription_id=seeded_uuid(seed, "subscription", topic),
        event_id=event_id,
        event_number=since_start,
        bundle_id=seeded_uuid(seed, "bundle", event_number),
        status_id=seeded_uuid(seed, "status", event_number),
        entityid=entityid,
        departmentid=departmentid,
        patientid=patientid,
        actor=actor,
        committed_at=committed_at,
    )
    wanted = hook["topics"] is None or topic in hook["topics"]
    if not hook["enabled"] or not wanted:
        status = "suppressed"
    elif draw(seed, "webhook-drop", event_id) < hook["drop_rate"]:
        status = "dropped"
    else:
        status = "pending"
    due = committed_at
    if hook["shuffle"]:
        due += draw(seed, "webhook-shuffle", event_id) * float(hook["shuffle_window_seconds"])
    focus = _focus_reference(practice, topic, entityid)
    tx.execute(
        "INSERT INTO webhook_deliveries (event_id, event_number, topic, focus, departmentid, body, status, "
        "committed_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, event_number, topic, focus, departmentid, body, status, committed_at, due),
    )
    if status == "pending":
        tx.on_commit(state.webhooks.wake)
    return {
        "id": event_id,
        "sequence": event_number,
        "eventNumber": since_start,
        "topic": topic,
        "focus": focus,
        "delivery": status,
    }


def _focus_reference(practice_id: str, topic: str, entityid: str) -> str:
    resource = topic.split(".", 1)[0]
    if resource == "Patient":
        return f"Patient/a-{practice_id}.E-{entityid}"
    return f"{resource}/a-{practice_id}.{entityid}"


def notification_bundle(
    *,
    practice_id: str,
    topic: str,
    topic_base: str,
    subscription_id: str,
    event_id: str,
    event_number: int,
    bundle_id: str,
    status_id: str,
    entityid: str,
    departmentid: str | None,
    patientid: str | None,
    actor: str,
    committed_at: float,
) -> str:
    """An id-only notification Bundle (type history): SubscriptionStatus first, then one AuditEvent."""
    resource = topic.split(".", 1)[0]
    focus: dict[str, Any] = {
        "reference": _focus_reference(practice_id, topic, entityid),
        "identifier": {
            "system": f"urn:athenahealth:athenanet:{resource.lower()}:{practice_id}",
            "value": entityid,
        },
    }
    context: list[dict[str, Any]] = []
    audit_extensions: list[dict[str, Any]] = []
    if departmentid:
        department_ref = f"Organization/a-{practice_id}.Department-{departmentid}"
        context.append(
            {
                "type": "Organization",
                "reference": department_ref,
                "identifier": {"system": f"urn:athenahealth:athenanet:department:{practice_id}", "value": departmentid},
            }
        )
        audit_extensions.append(
            {
                "url": "https://fhir.athena.io/StructureDefinition/ah-department",
                "valueReference": {"reference": department_ref},
            }
        )
    if patientid and resource != "Patient":
        patient_ref = f"Patient/a-{practice_id}.E-{patientid}"
        context.append(
            {
                "type": "Patient",
                "reference": patient_ref,
                "identifier": {"system": f"urn:athenahealth:athenanet:patient:{practice_id}", "value": patientid},
            }
        )
    if patientid:
        audit_extensions.append(
            {
                "url": "https://fhir.athena.io/StructureDefinition/ah-patient",
                "valueReference": {"reference": f"Patient/a-{practice_id}.E-{patientid}"},
            }
        )
    audit_extensions.append(
        {
            "url": "https://fhir.athena.io/StructureDefinition/ah-chart-sharing-group",
            "valueReference": {"reference": f"Organization/a-{practice_id}.CSG-1"},
        }
    )
    notification_event: dict[str, Any] = {
        "id": event_id,
        "eventNumber": str(event_number),
        "timestamp": iso_utc(committed_at),
        "focus": focus,
    }
    if context:
        notification_event["additionalContext"] = context
    bundle = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification"
            ]
        },
        "type": "history",
        "timestamp": iso_utc(committed_at, millis=True),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{status_id}",
                "resource": {
                    "resourceType": "SubscriptionStatus",
                    "id": status_id,
                    "status": "active",
                    "type": "event-notification",
                    "eventsSinceSubscriptionStart": str(event_number),
                    "eventsInNotification": 1,
                    "notificationEvent": [notification_event],
                    "subscription": {"reference": f"Subscription/{subscription_id}"},
                    "topic": f"{topic_base}{topic}",
                },
                "request": {"method": "GET", "url": f"Subscription/{subscription_id}/$status"},
                "response": {"status": "200"},
            },
            {
                "fullUrl": f"urn:uuid:{event_id}",
                "resource": {
                    "resourceType": "AuditEvent",
                    "id": event_id,
                    "extension": audit_extensions,
                    "type": {
                        "system": "https://fhir.athena.io/CodeSystem/ah-event-topic",
                        "code": topic,
                    },
                    "recorded": iso_utc(committed_at),
                    "agent": [{"requestor": True, "who": {"display": actor or "athenaOne"}}],
                    "source": {"observer": {"display": "athenaOne"}},
                    "entity": [{"what": focus}],
                },
                "response": {"status": "200", "lastModified": iso_utc(committed_at)},
            },
        ],
    }
    return json.dumps(bundle, separators=(",", ":"))
