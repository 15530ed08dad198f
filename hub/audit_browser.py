"""The audit browser for compliance: search, detail, CSV export and chain verification.

Built to stay fast on millions of rows:

- every search narrows on an indexed column and reads the newest rows first, with keyset
  pagination on `sequence` (`?before=`/`?after=`): no OFFSET and no full COUNT, only
  "older"/"newer" links;
- a time range is turned into a `sequence` range through the `recorded_at` index, so a search by
  location (or user, or action) and time walks that index only inside the range;
- an outcome filter of several codes ("any failure") runs one indexed query per code and merges
  the pages, instead of sorting every matching row.

`audit_search` is the one query path: the browser, the export and `benchmarks/audit_search.py`
all use it. Audit action names written here: `search`, `export`, `verify` (and `view` through
the PHI access log when a row's detail is opened).
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from hub import context
from hub.access_log import phi_view_record
from hub.audit import HASHED_FIELDS, audit_record
from hub.audit_chain import chain_verify, full_walk_request, kept_rows, verify_record
from hub.models import AuditCheckpoint, AuditEvent, Department
from hub.queue import enqueue
from hub.staff_access import location_ids

PAGE_SIZE = 50
EXPORT_BATCH = 2000
FAILED = "failed"
FAILURE_CODES = (
    AuditEvent.Outcome.MINOR_FAILURE.value,
    AuditEvent.Outcome.SERIOUS_FAILURE.value,
    AuditEvent.Outcome.MAJOR_FAILURE.value,
)
# `recorded_at` is taken just before a writer waits for the chain lock, so it can run a little
# behind `sequence`; this slack keeps the time→sequence translation from cutting such rows off.
CLOCK_SLACK = dt.timedelta(minutes=10)

SEARCH = "search"
EXPORT = "export"
VERIFY = "verify"

EXPORT_COLUMNS = (*HASHED_FIELDS, "prev_hash", "row_hash")


@dataclass(frozen=True)
class AuditFilters:
    """What a compliance officer searches by. Every value is an id or a code, never PHI."""

    patient: str = ""
    user: str = ""
    client: str = ""
    system: str = ""
    action: str = ""
    outcome: str = ""
    location: str = ""
    object_type: str = ""
    object_id: str = ""
    correlation: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def describe(self) -> dict[str, str]:
        """The filters as recorded in an audit row's detail (ids and codes only)."""
        return {
            key: (value.isoformat() if isinstance(value, dt.datetime) else value)
            for key, value in asdict(self).items()
            if value
        }

    def as_query(self) -> dict[str, str]:
        """The filters as query-string values for the browser's own links."""
        return {
            key: (value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M") if isinstance(value, dt.datetime) else value)
            for key, value in asdict(self).items()
            if value
        }


@dataclass
class AuditPage:
    rows: list[AuditEvent]
    older_cursor: int | None = None
    newer_cursor: int | None = None
    errors: list[str] = field(default_factory=list)


def _clean(value: str | None, length: int = 64) -> str:
    return (value or "").strip()[:length]


def _parse_time(value: str) -> dt.datetime | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise ValueError(value)


def filters_from_query(query: Any) -> tuple[AuditFilters, list[str]]:
    """Read the browser's query string; unknown users and bad dates become error messages."""
    errors: list[str] = []
    user = _clean(query.get("user"))
    if user and not user.isdigit():
        found = get_user_model().objects.filter(username=user).values_list("pk", flat=True).first()
        if found is None:
            errors.append("No staff user has that username.")
        user = str(found) if found is not None else user
    times: dict[str, dt.datetime | None] = {}
    for key in ("since", "until"):
        try:
            times[key] = _parse_time(query.get(key, ""))
        except ValueError:
            errors.append(f"'{key}' is not a date and time (use YYYY-MM-DD HH:MM, UTC).")
            times[key] = None
    system = _clean(query.get("system"), 16)
    if system and system not in AuditEvent.System.values:
        errors.append("Unknown system.")
    outcome = _clean(query.get("outcome"), 8)
    if outcome and outcome != FAILED and outcome not in AuditEvent.Outcome.values:
        errors.append("Unknown outcome.")
    filters = AuditFilters(
        patient=_clean(query.get("patient"), 20),
        user=user,
        client=_clean(query.get("client")),
        system=system,
        action=_clean(query.get("action")),
        outcome=outcome,
        location=_clean(query.get("location"), 20),
        object_type=_clean(query.get("object_type"), 40),
        object_id=_clean(query.get("object_id")),
        correlation=_clean(query.get("correlation")),
        since=times["since"],
        until=times["until"],
    )
    return filters, errors


def sequence_range(since: dt.datetime | None, until: dt.datetime | None) -> tuple[int | None, int | None] | None:
    """Translate a time range into a `sequence` range via the recorded_at index; None if empty."""
    low = high = None
    if since is not None:
        low = (
            AuditEvent.objects.filter(recorded_at__gte=since - CLOCK_SLACK)
            .order_by("recorded_at")
            .values_list("sequence", flat=True)
            .first()
        )
        if low is None:
            return None
    if until is not None:
        high = (
            AuditEvent.objects.filter(recorded_at__lte=until + CLOCK_SLACK)
            .order_by("-recorded_at")
            .values_list("sequence", flat=True)
            .first()
        )
        if high is None:
            return None
    return low, high


def base_queryset(
    filters: AuditFilters, *, department_scope: Sequence[int] | None = None
) -> QuerySet[AuditEvent] | None:
    """Rows matching every filter except the outcome list and the cursor; None if provably empty."""
    rows = AuditEvent.objects.all()
    if filters.patient:
        rows = rows.filter(patient_ref=filters.patient)
    if filters.user:
        rows = rows.filter(actor_type="user", actor_id=filters.user)
    if filters.client:
        rows = rows.filter(actor_type="portal_client", actor_id=filters.client)
    if filters.system:
        rows = rows.filter(system=filters.system)
    if filters.action:
        rows = rows.filter(action=filters.action)
    if filters.location:
        rows = rows.filter(department_id_ref=filters.location)
    if department_scope is not None:
        rows = rows.filter(department_id_ref__in=[str(pk) for pk in department_scope])
    if filters.object_type:
        rows = rows.filter(object_type=filters.object_type)
    if filters.object_id:
        rows = rows.filter(object_id=filters.object_id)
    if filters.correlation:
        rows = rows.filter(correlation_id=filters.correlation)
    if filters.since or filters.until:
        bounds = sequence_range(filters.since, filters.until)
        if bounds is None:
            return None
        low, high = bounds
        if low is not None:
            rows = rows.filter(sequence__gte=low, recorded_at__gte=filters.since)
        if high is not None:
            rows = rows.filter(sequence__lte=high, recorded_at__lte=filters.until)
    return rows


def _outcome_codes(filters: AuditFilters) -> list[str | None]:
    if filters.outcome == FAILED:
        return list(FAILURE_CODES)
    return [filters.outcome or None]


def audit_search(
    filters: AuditFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
    department_scope: Sequence[int] | None = None,
) -> AuditPage:
    """One page of matching rows, newest first, keyset-paginated on `sequence`."""
    rows = base_queryset(filters, department_scope=department_scope)
    if rows is None:
        return AuditPage(rows=[])
    if before is not None:
        rows = rows.filter(sequence__lt=before)
    forwards = after is not None and before is None
    if forwards:
        rows = rows.filter(sequence__gt=after)
    order = "sequence" if forwards else "-sequence"
    # One indexed query per outcome code, merged: sorting every failure row would not scale.
    parts = []
    for code in _outcome_codes(filters):
        part = rows.filter(outcome=code) if code is not None else rows
        parts.append(list(part.order_by(order)[: limit + 1]))
    if len(parts) == 1:
        found = parts[0]
    else:
        found = list(heapq.merge(*parts, key=lambda row: row.sequence, reverse=not forwards))[: limit + 1]
    more = len(found) > limit
    found = found[:limit]
    if forwards:
        found.reverse()
    page = AuditPage(rows=found)
    if found:
        if forwards:
            # Came from an older page: the row at `after` matched, so older rows exist.
            page.older_cursor = found[-1].sequence
            page.newer_cursor = found[0].sequence if more else None
        else:
            page.older_cursor = found[-1].sequence if more else None
            page.newer_cursor = found[0].sequence if before is not None else None
    return page


def iter_matching(
    filters: AuditFilters, *, department_scope: Sequence[int] | None = None, batch: int = EXPORT_BATCH
) -> Iterator[AuditEvent]:
    """Every matching row, newest first, fetched in keyset batches (for the export)."""
    cursor: int | None = None
    while True:
        page = audit_search(filters, before=cursor, limit=batch, department_scope=department_scope)
        yield from page.rows
        if page.older_cursor is None or not page.rows:
            return
        cursor = page.rows[-1].sequence


# --- Views -----------------------------------------------------------------------------------


def _user_actor(request: HttpRequest) -> context.Actor:
    user = request.user
    return context.Actor(type="user", id=str(user.pk), label=user.get_username())


def _record(request: HttpRequest, *, action: str, outcome: str = AuditEvent.Outcome.SUCCESS, **extra: Any) -> None:
    match = getattr(request, "resolver_match", None)
    audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=action,
        actor=_user_actor(request),
        method=request.method or "",
        route=match.route if match is not None else "",
        outcome=outcome,
        object_type="auditevent",
        **extra,
    )


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _cursor(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _department_names() -> dict[str, str]:
    return {str(pk): name for pk, name in Department.objects.values_list("pk", "name")}


def browser_view(request: HttpRequest, site_context: dict[str, Any]) -> TemplateResponse:
    """Search the audit trail (permission `hub.browse_auditevent`)."""
    _require(request, "hub.browse_auditevent")
    filters, errors = filters_from_query(request.GET)
    scope = location_ids(request.user)
    page = AuditPage(rows=[], errors=errors)
    if not errors:
        page = audit_search(
            filters,
            before=_cursor(request.GET.get("before")),
            after=_cursor(request.GET.get("after")),
            department_scope=scope,
        )
        # Who searched for what is itself evidence ("who looked into patient X's trail").
        _record(request, action=SEARCH, detail={"filters": filters.describe(), "rows": len(page.rows)})
    departments = Department.objects.for_user(request.user).order_by("name")
    query = filters.as_query()
    return TemplateResponse(
        request,
        "hub/audit_browser.html",
        {
            **site_context,
            "title": "Audit trail",
            "filters": filters,
            "query": query,
            "page": page,
            "errors": errors,
            "systems": AuditEvent.System.choices,
            "outcomes": [(FAILED, "Any failure"), *AuditEvent.Outcome.choices],
            "departments": departments,
            "department_names": _department_names(),
            "can_export": request.user.has_perm("hub.export_auditevent"),
            "can_verify": request.user.has_perm("hub.verify_auditevent"),
            "scoped": scope is not None,
            "filtered": not filters.is_empty(),
        },
    )


def _visible_row(request: HttpRequest, sequence: int) -> AuditEvent:
    row = AuditEvent.objects.filter(sequence=sequence).first()
    scope = location_ids(request.user)
    if row is None or (scope is not None and row.department_id_ref not in {str(pk) for pk in scope}):
        raise Http404("No such audit row.")
    return row


def detail_view(request: HttpRequest, sequence: int, site_context: dict[str, Any]) -> TemplateResponse:
    """One audit row in full; opening it is itself logged as an access."""
    _require(request, "hub.browse_auditevent")
    row = _visible_row(request, sequence)
    phi_view_record(
        request,
        object_type="auditevent",
        object_id=row.sequence,
        patient_ref=row.patient_ref or None,
        department_ref=row.department_id_ref or None,
    )
    values = [(name, getattr(row, name)) for name in EXPORT_COLUMNS]
    return TemplateResponse(
        request,
        "hub/audit_detail.html",
        {
            **site_context,
            "title": f"Audit row #{row.sequence}",
            "row": row,
            "values": values,
            "department_name": _department_names().get(row.department_id_ref, ""),
            "detail_json": json.dumps(row.detail, sort_keys=True),
            "has_previous": AuditEvent.objects.filter(sequence=row.sequence - 1).exists(),
            "has_next": AuditEvent.objects.filter(sequence=row.sequence + 1).exists(),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    # Spreadsheet apps run cells starting with these as formulas; quote them as text.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_rows(filters: AuditFilters, *, department_scope: Sequence[int] | None = None) -> Iterator[str]:
    """CSV lines of every matching row (header first), produced batch by batch."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in iter_matching(filters, department_scope=department_scope):
        yield writer.writerow([_csv_cell(getattr(row, name)) for name in EXPORT_COLUMNS])


def export_view(request: HttpRequest) -> HttpResponseBase:
    """Stream the filtered trail as CSV (permission `hub.export_auditevent`), audited first."""
    _require(request, "hub.export_auditevent")
    filters, errors = filters_from_query(request.GET)
    if errors:
        return HttpResponse("; ".join(errors), status=400, content_type="text/plain")
    scope = location_ids(request.user)
    # Recorded before the first byte: an export that is cut off half-way still happened.
    _record(request, action=EXPORT, detail={"filters": filters.describe(), "format": "csv"})
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(export_rows(filters, department_scope=scope), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response


def last_verification() -> AuditEvent | None:
    return AuditEvent.objects.filter(action=VERIFY, object_type="auditevent").order_by("-sequence").first()


def verify_view(request: HttpRequest, site_context: dict[str, Any]) -> HttpResponse:
    """Show the last verification; POST verifies the whole chain (permission `hub.verify_auditevent`).

    A chain small enough is walked within the request; a bigger one is handed to the queue,
    which walks it a time budget at a time and records the result under the requester's name.
    """
    _require(request, "hub.verify_auditevent")
    if request.method == "POST":
        match = getattr(request, "resolver_match", None)
        if kept_rows() <= settings.HUB_AUDIT_VERIFY_INLINE_MAX_ROWS:
            report = chain_verify()
            verify_record(
                report, actor=_user_actor(request), route=match.route if match else "", method=request.method or ""
            )
        else:
            full_walk_request(user_actor=_user_actor(request))
            enqueue("hub.tasks.audit_chain_walk_task")
            messages.info(request, "The full check has started on the task queue; its result will appear here.")
        return HttpResponseRedirect(reverse("admin:hub_audit_verify"))
    latest = last_verification()
    checkpoint = AuditCheckpoint.objects.filter(pk=1).first()
    return TemplateResponse(
        request,
        "hub/audit_verify.html",
        {
            **site_context,
            "title": "Verify the audit chain",
            "latest": latest,
            "latest_ok": latest is not None and latest.outcome == AuditEvent.Outcome.SUCCESS,
            "head": _chain_head(),
            "checkpoint": checkpoint,
            "walk_pending": checkpoint is not None
            and (checkpoint.full_walk_sequence is not None or bool(checkpoint.full_walk_requested_by)),
        },
    )


def _chain_head() -> dict[str, Any]:
    from hub.models import AuditChainHead

    head = AuditChainHead.objects.filter(pk=1).first()
    oldest = AuditEvent.objects.order_by("sequence").values_list("sequence", "recorded_at").first()
    return {
        "last_sequence": head.last_sequence if head else 0,
        "oldest_sequence": oldest[0] if oldest else None,
        "oldest_recorded_at": oldest[1] if oldest else None,
    }
