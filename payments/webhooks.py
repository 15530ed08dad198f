"""Clover's webhook receiver: check `X-Clover-Auth`, store the hinted payment ids, answer at once.

Clover signs nothing: each message carries the static auth code shown when the URL was verified,
compared here in constant time. Clover "does not guarantee when, or if" a webhook arrives, so its
content is only a hint: the payment is read back from Clover before anything changes, and a
scheduled poll catches what no webhook announced.
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hub.audit import audit_record
from hub.models import AuditEvent
from payments.services import clover_hints_store

MAX_BODY_BYTES = 256_000
ROUTE = "/webhooks/clover/"


def _problem(status: int, code: str, detail: str) -> JsonResponse:
    body = {"type": f"/api/problems/{code}", "title": detail, "status": status, "code": code, "detail": detail}
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _audit(status: int, detail: str) -> None:
    audit_record(
        system=AuditEvent.System.CLOVER,
        direction=AuditEvent.Direction.INBOUND,
        action="webhook",
        method="POST",
        route=ROUTE,
        status_code=status,
        outcome=AuditEvent.Outcome.SUCCESS if status < 400 else AuditEvent.Outcome.SERIOUS_FAILURE,
        outcome_detail=detail,
        object_type="clover-webhook",
    )


@csrf_exempt
@require_POST
def clover_webhook(request: HttpRequest) -> JsonResponse:
    """POST /webhooks/clover/: Clover says payments changed (or sends the URL's verification code)."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        _audit(413, "rejected: body too large")
        return _problem(413, "payload-too-large", "Webhook body too large.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if isinstance(body, dict) and set(body) == {"verificationCode"}:
        # The one-time set-up message carries no auth code yet; the integration admin copies the
        # code from the audit trail into Clover's dashboard to finish verifying the URL.
        _audit(200, f"verification code received: {str(body['verificationCode'])[:40]}")
        return JsonResponse({"received": 0})
    given = request.headers.get("X-Clover-Auth", "").encode()
    expected = settings.CLOVER_WEBHOOK_AUTH_CODE.encode()
    if not expected or not hmac.compare_digest(given, expected):
        _audit(401, "rejected: X-Clover-Auth missing or wrong")
        return _problem(401, "invalid-auth", "X-Clover-Auth missing or not valid.")
    if not isinstance(body, dict):
        _audit(400, "unreadable webhook")
        return _problem(400, "invalid-webhook", "Not a Clover webhook body.")
    new = clover_hints_store(body=body)
    _audit(200, f"{new} new payment hint(s)")
    return JsonResponse({"received": new})
