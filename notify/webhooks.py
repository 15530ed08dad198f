"""What Twilio posts to the hub: status callbacks and patients' replies, verified before anything else.

Each request is checked with Twilio's own `RequestValidator` against the URL Twilio called (see
`hub.integrations.twilio.signature`); a bad or missing signature answers 403 and leaves an audit
row. A good one is stored (unique on MessageSid, or MessageSid + status), applied — both are a
single-row change, cheaper than a queue hop — and answered at once. Repeats answer 2xx and change
nothing. The form's phone numbers and body never reach a row, a log line or the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hub.audit import audit_record
from hub.integrations.twilio.signature import public_url, signature_valid
from hub.models import AuditEvent, Practice
from notify import services
from notify.models import OutboundMessage

MAX_BODY_BYTES = 64_000
STATUS_ROUTE = "/webhooks/twilio/status/"
INBOUND_ROUTE = "/webhooks/twilio/inbound/"
TWIML = "text/xml"


def _problem(status: int, code: str, detail: str) -> JsonResponse:
    body = {"type": f"/api/problems/{code}", "title": detail, "status": status, "code": code, "detail": detail}
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _audit(route: str, status: int, detail: str, **refs: Any) -> None:
    audit_record(
        system=AuditEvent.System.TWILIO,
        direction=AuditEvent.Direction.INBOUND,
        action="webhook",
        method="POST",
        route=route,
        status_code=status,
        outcome=AuditEvent.Outcome.SUCCESS if status < 400 else AuditEvent.Outcome.SERIOUS_FAILURE,
        outcome_detail=detail,
        object_type="sms",
        **refs,
    )


def called_url(request: HttpRequest) -> str:
    """The URL Twilio called, as it signed it (public base URL, trusted proxy headers, or the request)."""
    forwarded = None
    if settings.HUB_TRUSTED_PROXY_COUNT > 0:
        forwarded = {
            "proto": request.META.get("HTTP_X_FORWARDED_PROTO", ""),
            "host": request.META.get("HTTP_X_FORWARDED_HOST", ""),
            "port": request.META.get("HTTP_X_FORWARDED_PORT", ""),
        }
    return public_url(
        path_with_query=request.get_full_path(),
        scheme=request.scheme or "http",
        host=request.get_host(),
        public_base_url=settings.TWILIO_WEBHOOK_BASE_URL,
        forwarded=forwarded,
    )


def _verified(route: str, handle: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            _audit(route, 413, "rejected: body too large")
            return _problem(413, "payload-too-large", "Callback body too large.")
        params = {key: request.POST.get(key, "") for key in request.POST}
        tokens = [settings.TWILIO_AUTH_TOKEN, settings.TWILIO_AUTH_TOKEN_PREVIOUS]
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature_valid(auth_tokens=tokens, url=called_url(request), params=params, signature=signature):
            _audit(route, 403, "rejected: signature missing or not valid")
            return _problem(403, "invalid-signature", "X-Twilio-Signature missing or not valid.")
        if params.get("AccountSid") and params["AccountSid"] != settings.TWILIO_ACCOUNT_SID:
            _audit(route, 403, "rejected: another account")
            return _problem(403, "wrong-account", "Not this hub's Twilio account.")
        return handle(request)

    return view


def _status(request: HttpRequest) -> HttpResponse:
    """POST /webhooks/twilio/status/: a message's status changed (queued, sent, delivered, undelivered...)."""
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "") or request.POST.get("SmsStatus", "")
    if not sid.startswith(("SM", "MM")) or not status.isalpha():
        _audit(STATUS_ROUTE, 400, "unreadable status callback")
        return _problem(400, "invalid-callback", "MessageSid and MessageStatus are required.")
    code = request.POST.get("ErrorCode", "")
    marker = request.GET.get("m", "")
    try:
        public_id = str(uuid.UUID(marker)) if marker else ""
    except ValueError:
        public_id = ""
    new = services.delivery_report_record(
        message_sid=sid,
        status=status.lower(),
        error_code=int(code) if code.isdigit() else None,
        message_public_id=public_id,
    )
    refs = OutboundMessage.objects.filter(message_sid=sid).values_list("patient_id", "department_id").first()
    patient_ref, department_ref = refs if refs else (None, None)
    _audit(
        STATUS_ROUTE,
        204,
        f"{status.lower()}{'' if new else ' (repeat)'}",
        object_id=sid,
        patient_ref=patient_ref,
        department_ref=department_ref,
    )
    return HttpResponse(status=204)


def _help_text() -> str:
    practice = Practice.objects.order_by("pk").values_list("name", flat=True).first() or "Your clinic"
    return f"{practice} appointment texts. Reply STOP to opt out, START to opt back in. Call your clinic for help."


def _inbound(request: HttpRequest) -> HttpResponse:
    """POST /webhooks/twilio/inbound/: a patient texted the hub's number (STOP, START, HELP or anything)."""
    sid = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if not sid.startswith(("SM", "MM")) or not sender:
        _audit(INBOUND_ROUTE, 400, "unreadable inbound message")
        return _problem(400, "invalid-callback", "MessageSid and From are required.")
    new, keyword = services.inbound_sms_accept(
        message_sid=sid,
        from_number=sender,
        body=request.POST.get("Body", ""),
        opt_out_type=request.POST.get("OptOutType", ""),
    )
    _audit(INBOUND_ROUTE, 200, f"{keyword or 'message'}{'' if new else ' (repeat)'}", object_id=sid)
    if keyword == "HELP" and new:
        reply = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(_help_text())}</Message></Response>'
        return HttpResponse(reply, content_type=TWIML)
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type=TWIML)


twilio_status = _verified(STATUS_ROUTE, _status)
twilio_inbound = _verified(INBOUND_ROUTE, _inbound)
