"""The athena webhook receiver: verify, store, queue, answer — well inside athena's 2-second limit."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sync.inbound import InvalidNotification, InvalidSignature, athena_notification_accept

MAX_BODY_BYTES = 1_000_000
PROBLEM = "application/problem+json"


def _problem(status: int, code: str, detail: str) -> JsonResponse:
    body = {"type": f"/api/problems/{code}", "title": detail, "status": status, "code": code, "detail": detail}
    return JsonResponse(body, status=status, content_type=PROBLEM)


@csrf_exempt
@require_POST
def athena_webhook(request: HttpRequest) -> JsonResponse:
    """POST /webhooks/athena/: an id-only FHIR subscription notification from athena."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        return _problem(413, "payload-too-large", "Notification body too large.")
    raw = request.body
    try:
        new = athena_notification_accept(raw_body=raw, signature=request.headers.get("X-Hub-Signature", ""))
    except InvalidSignature:
        return _problem(401, "invalid-signature", "Signature missing or not valid.")
    except InvalidNotification:
        return _problem(400, "invalid-notification", "Not a notification bundle.")
    return JsonResponse({"received": new})
