"""The staff's sync queues: conflict review, parked and failed writes with a guarded replay,
athena events, portal events and the portal's webhook endpoint.

- Lists and pages show only the user's locations (`for_user`); another location's row answers
  404 and is never listed.
- Compliance sees everything and changes nothing: the site refuses their POSTs, and no button
  is offered to them.
- Pages that show PHI (a conflict's values, athena's own message, a dry run's form) write a PHI
  access row. Each action calls one service (`sync.conflicts`, `sync.staff_services`,
  `sync.portal_events`) and reports with `message_user`.
- Conflict decisions and replays carry a fingerprint of what the page showed and are refused
  when it changed meanwhile (`sync.staff_forms`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from hub.access_log import PHIAccessAdminMixin, phi_list_record, phi_view_record
from hub.admin import LocationScopedAdmin, ReadOnlyAdminMixin, UserLocationFilter
from hub.models import AuditEvent, Department
from hub.staff_access import is_integration_admin, is_read_only, sees_all_locations
from hub.staff_home import human_delta, relative
from sync import ledger
from sync.conflicts import conflict_resolve
from sync.models import Conflict, InboundEvent, PortalDelivery, PortalEvent, WebhookEndpoint, WriteIntent
from sync.portal_events import endpoint as portal_endpoint
from sync.portal_events import portal_endpoint_enable
from sync.services import IllegalTransition
from sync.staff_forms import AssignForm, ConflictResolveForm, ReplayForm, fingerprint
from sync.staff_registry import short_text
from sync.staff_services import (
    conflict_assign,
    conflict_assignees,
    conflicts_resolve_identical,
    identical_open_conflicts,
    inbound_event_requeue,
    intent_replay,
    may_replay,
    needs_staff,
    open_replay,
)

State = WriteIntent.State
NO_VALUE = "—"
EMPTY_VALUE = "(empty)"
# A conflict waiting longer than this is overdue: the patient may be at the desk before it is settled.
CONFLICT_OVERDUE = dt.timedelta(hours=24)
DRY_RUN_MASKED = {"ssn"}


def _patient_link(patient_id: int | None) -> str:
    if patient_id is None:
        return NO_VALUE
    return format_html('<a href="{}">#{}</a>', reverse("admin:hub_patient_change", args=[patient_id]), patient_id)


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()][:500]


def _can_act(request: HttpRequest, permission: str) -> bool:
    return request.user.has_perm(permission) and not is_read_only(request.user)


# --- conflicts ------------------------------------------------------------------------------------


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Me"), ("nobody", "Nobody"), ("someone", "Someone")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user)
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        if value == "someone":
            return queryset.filter(assignee__isnull=False)
        return queryset


@admin.register(Conflict)
class ConflictAdmin(PHIAccessAdminMixin, LocationScopedAdmin):
    """The conflict queue: open first, oldest first; a side-by-side page to decide each one."""

    phi_object_type = "conflict"
    change_list_template = "sync/conflict_change_list.html"
    list_display = ["conflict", "waiting", "department", "patient_cell", "field", "values", "status", "assignee"]
    list_display_links = ["conflict"]
    list_filter = ["status", ("department", UserLocationFilter), "field", AssigneeFilter]
    list_select_related = ["patient", "department", "assignee"]
    search_fields = ["=id", "=patient__id"]
    actions = ["assign_to_me", "resolve_identical"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        open_first = Case(
            When(status=Conflict.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        # Annotated before the admin orders by it (ModelAdmin.get_queryset orders an unannotated set).
        rows = Conflict.objects.for_user(request.user).annotate(open_rank=open_first)
        return rows.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("open_rank", "opened_at", "pk")

    # Decisions go through the review page; nothing is added, edited in a form or deleted here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return _can_act(request, "sync.resolve_conflict")

    # --- columns ---

    @admin.display(description="Conflict", ordering="pk")
    def conflict(self, obj: Conflict) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Waiting", ordering="opened_at")
    def waiting(self, obj: Conflict) -> str:
        end = obj.resolved_at if obj.status != Conflict.Status.OPEN and obj.resolved_at else timezone.now()
        text = human_delta(end - obj.opened_at)
        if obj.status == Conflict.Status.OPEN and end - obj.opened_at > CONFLICT_OVERDUE:
            return format_html('<span class="hub-warn">{}</span>', text)
        return text

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: Conflict) -> str:
        return format_html("{} <span class='quiet'>#{}</span>", obj.patient.display_name, obj.patient_id)

    @admin.display(description="Portal / EHR value")
    def values(self, obj: Conflict) -> str:
        return format_html(
            '{} <span class="quiet">portal</span><br>{} <span class="quiet">EHR</span>',
            obj.portal_value or EMPTY_VALUE,
            obj.ehr_value or EMPTY_VALUE,
        )

    # --- list ---

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        visible_open = Conflict.objects.for_user(request.user).filter(status=Conflict.Status.OPEN)
        now = timezone.now()
        oldest = visible_open.order_by("opened_at").values_list("opened_at", flat=True).first()
        summary = {
            "open": visible_open.count(),
            "oldest": human_delta(now - oldest) if oldest else "",
            "overdue": visible_open.filter(opened_at__lt=now - CONFLICT_OVERDUE).count(),
            "mine": visible_open.filter(assignee=request.user).count(),
            "fields": sorted(Counter(visible_open.values_list("field", flat=True)).items()),
        }
        return super().changelist_view(request, {"queue_summary": summary, **(extra_context or {})})

    @admin.action(description="Assign to me", permissions=["resolve"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> None:
        done = 0
        for conflict in queryset.filter(status=Conflict.Status.OPEN):
            try:
                conflict_assign(conflict=conflict, assignee=request.user, actor=request.user)
            except ValueError as exc:
                self.message_user(request, f"Conflict #{conflict.pk}: {exc}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{done} conflict{'s' if done != 1 else ''} assigned to you.")

    @admin.action(description="Resolve identical conflicts together…", permissions=["resolve"])
    def resolve_identical(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> HttpResponse | None:
        chosen = list(queryset.filter(status=Conflict.Status.OPEN))
        if not chosen:
            self.message_user(request, "None of the selected conflicts is open.", messages.WARNING)
            return None
        if len({(c.field, c.portal_value, c.ehr_value) for c in chosen}) != 1:
            self.message_user(
                request,
                "Only identical conflicts can be resolved together: the same field with the same portal "
                "and EHR values. Narrow the list with the field filter.",
                messages.ERROR,
            )
            return None
        ids = ",".join(str(c.pk) for c in chosen)
        return HttpResponseRedirect(f"{reverse('admin:sync_conflict_bulk')}?ids={ids}")

    # --- pages ---

    def get_urls(self) -> list[URLPattern]:
        own = [path("bulk/", self.admin_site.admin_view(self.bulk_view), name="sync_conflict_bulk")]
        return own + super().get_urls()  # type: ignore[return-value]

    page_related = ("patient", "department", "assignee")
    not_found = "No such conflict at your locations."

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The side-by-side review: portal, EHR and last agreed values; decide, or assign."""
        conflict = self._visible(request, object_id)
        expected = fingerprint(conflict.portal_value, conflict.ehr_value, conflict.baseline_value)
        may_decide = self.has_resolve_permission(request) and conflict.status == Conflict.Status.OPEN
        assignees = conflict_assignees(conflict=conflict)
        resolve_form = ConflictResolveForm(field_name=conflict.field, expected=expected)
        assign_form = AssignForm(assignees=assignees, initial={"assignee": conflict.assignee_id})
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied("You cannot decide this conflict.")
            action = request.POST.get("action", "")
            if action == "resolve":
                resolve_form = ConflictResolveForm(request.POST, field_name=conflict.field, expected=expected)
                if resolve_form.is_valid():
                    try:
                        conflict_resolve(
                            conflict=conflict,
                            choice=resolve_form.cleaned_data["choice"],
                            value=resolve_form.cleaned_value,
                            reason=resolve_form.cleaned_data["reason"],
                            actor=request.user,
                        )
                    except ValueError as exc:
                        resolve_form.add_error(None, str(exc))
                    else:
                        return self._after_resolve(request, conflict)
            elif action in ("assign", "assign-me"):
                assign_form = AssignForm(request.POST, assignees=assignees)
                if action == "assign-me" or assign_form.is_valid():
                    assignee = request.user if action == "assign-me" else assign_form.cleaned_data["assignee"]
                    try:
                        conflict_assign(conflict=conflict, assignee=assignee, actor=request.user)
                    except ValueError as exc:
                        self.message_user(request, str(exc), messages.ERROR)
                    else:
                        who = "you" if assignee == request.user else (assignee.get_username() if assignee else "nobody")
                        self.message_user(request, f"Conflict #{conflict.pk} assigned to {who}.")
                    return HttpResponseRedirect(request.path)
            else:
                raise PermissionDenied("Unknown action.")
        else:
            phi_view_record(
                request,
                object_type="conflict",
                object_id=conflict.pk,
                patient_ref=conflict.patient_id,
                department_ref=conflict.department_id,
            )
        identical = identical_open_conflicts(conflict=conflict, among=self.get_queryset(request))
        others = (
            self.get_queryset(request)
            .filter(status=Conflict.Status.OPEN)
            .filter(patient_id=conflict.patient_id)
            .exclude(pk=conflict.pk)
            .order_by("opened_at")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Conflict #{conflict.pk}",
            "subtitle": None,
            "opts": self.model._meta,
            "conflict": conflict,
            "values": self._sides(conflict),
            "waiting": human_delta((conflict.resolved_at or timezone.now()) - conflict.opened_at),
            "overdue": conflict.status == Conflict.Status.OPEN
            and timezone.now() - conflict.opened_at > CONFLICT_OVERDUE,
            "may_decide": may_decide,
            "resolve_form": resolve_form,
            "assign_form": assign_form,
            "identical": identical,
            "identical_ids": ",".join(str(c.pk) for c in [conflict, *identical]),
            "other_conflicts": list(others),
            "read_only": is_read_only(request.user),
        }
        return TemplateResponse(request, "sync/conflict_review.html", context)

    @staticmethod
    def _sides(conflict: Conflict) -> list[dict[str, Any]]:
        baseline = conflict.baseline_value
        return [
            {
                "key": "portal",
                "label": "Portal (the patient)",
                "value": conflict.portal_value,
                "changed": conflict.portal_value != baseline,
            },
            {
                "key": "ehr",
                "label": "EHR (athena, the front desk)",
                "value": conflict.ehr_value,
                "changed": conflict.ehr_value != baseline,
            },
            {"key": "baseline", "label": "Last agreed (baseline)", "value": baseline, "changed": False},
        ]

    def _after_resolve(self, request: HttpRequest, conflict: Conflict) -> HttpResponse:
        self.message_user(request, f"Conflict #{conflict.pk} resolved: applied to the hub, athena and the portal.")
        following = (
            self.get_queryset(request)
            .filter(status=Conflict.Status.OPEN)
            .exclude(pk=conflict.pk)
            .order_by("opened_at")
            .values_list("pk", flat=True)
        )
        next_pk = following.first()
        if next_pk is not None:
            return HttpResponseRedirect(reverse("admin:sync_conflict_change", args=[next_pk]))
        return HttpResponseRedirect(reverse("admin:sync_conflict_changelist"))

    def bulk_view(self, request: HttpRequest) -> HttpResponse:
        """Identical conflicts (same field, same portal and EHR values) settled together, each audited."""
        if not self.has_resolve_permission(request):
            raise PermissionDenied("You cannot resolve conflicts.")
        ids = _ids(request.POST.get("ids") or request.GET.get("ids", ""))
        conflicts = list(
            self.get_queryset(request)
            .filter(status=Conflict.Status.OPEN)
            .filter(pk__in=ids)
            .select_related("patient", "department")
            .order_by("pk")
        )
        if not conflicts:
            raise Http404("None of these conflicts is open at your locations.")
        first = conflicts[0]
        if len({(c.field, c.portal_value, c.ehr_value) for c in conflicts}) != 1:
            self.message_user(request, "These conflicts are not identical; resolve them one by one.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:sync_conflict_changelist"))
        expected = fingerprint([(c.pk, c.portal_value, c.ehr_value) for c in conflicts])
        form = ConflictResolveForm(field_name=first.field, expected=expected)
        if request.method == "POST":
            form = ConflictResolveForm(request.POST, field_name=first.field, expected=expected)
            if form.is_valid():
                outcome = conflicts_resolve_identical(
                    conflicts=conflicts,
                    choice=form.cleaned_data["choice"],
                    value=form.cleaned_value,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
                self.message_user(
                    request,
                    f"{len(outcome.resolved)} conflict{'s' if len(outcome.resolved) != 1 else ''} resolved: "
                    "applied to the hub, athena and the portal.",
                )
                for pk, problem in outcome.skipped:
                    self.message_user(request, f"Conflict #{pk} skipped: {problem}", messages.WARNING)
                return HttpResponseRedirect(reverse("admin:sync_conflict_changelist"))
        else:
            phi_list_record(request, object_type="conflict", count=len(conflicts), filter_fields=["bulk"])
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve {len(conflicts)} identical conflicts",
            "opts": self.model._meta,
            "conflicts": conflicts,
            "first": first,
            "values": self._sides(first),
            "form": form,
            "ids": ",".join(str(c.pk) for c in conflicts),
        }
        return TemplateResponse(request, "sync/conflict_bulk.html", context)


# --- write intents --------------------------------------------------------------------------------


ATTENTION_RANK = [State.PARKED, State.FAILED, State.AMBIGUOUS, State.RECONCILING, State.PENDING, State.IN_FLIGHT]


class QueueFilter(admin.SimpleListFilter):
    """Defaults to the work waiting for staff, not the whole history."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("staff", "Needs staff (parked, failed)"),
            ("open", "In progress"),
            ("done", "Finished"),
            ("all", "Everything"),
        ]

    def value(self) -> str:
        return super().value() or "staff"

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "staff":
            return needs_staff(queryset)
        if value == "open":
            return queryset.filter(state__in=[s for s in WriteIntent.OPEN_STATES if s != State.PARKED])
        if value == "done":
            return queryset.filter(state__in=WriteIntent.FINAL_STATES)
        return queryset


@admin.register(WriteIntent)
class WriteIntentAdmin(ReadOnlyAdminMixin, LocationScopedAdmin):
    """Writes to athena: why one failed, its history, and a replay after a dry run."""

    list_display = ["intent", "operation", "patient_cell", "department", "state", "tries", "why", "updated", "links"]
    list_display_links = ["intent"]
    list_filter = [QueueFilter, "state", "operation", ("department", UserLocationFilter), "last_error_kind"]
    list_select_related = ["department", "replay_of"]
    search_fields = ["=id", "=patient__id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rank = Case(
            *[When(state=state, then=Value(index)) for index, state in enumerate(ATTENTION_RANK)],
            default=Value(len(ATTENTION_RANK)),
            output_field=IntegerField(),
        )
        rows = WriteIntent.objects.for_user(request.user).annotate(state_rank=rank)
        return rows.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("state_rank", "updated_at", "pk")

    # The row is the ledger's truth: staff replay it through the dry run, never edit it.
    @admin.display(description="Intent", ordering="pk")
    def intent(self, obj: WriteIntent) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Patient", ordering="patient_id")
    def patient_cell(self, obj: WriteIntent) -> str:
        return _patient_link(obj.patient_id)

    @admin.display(description="Attempts")
    def tries(self, obj: WriteIntent) -> str:
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="Why")
    def why(self, obj: WriteIntent) -> str:
        if not obj.last_error:
            return NO_VALUE
        return short_text(f"{obj.last_error_kind}: {obj.last_error}" if obj.last_error_kind else obj.last_error, 60)

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj: WriteIntent) -> str:
        return relative(obj.updated_at)

    @admin.display(description="Linked")
    def links(self, obj: WriteIntent) -> str:
        if obj.replay_of_id:
            url = reverse("admin:sync_writeintent_change", args=[obj.replay_of_id])
            return format_html('replay of <a href="{}">#{}</a>', url, obj.replay_of_id)
        return ""

    # --- pages ---

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<int:pk>/dry-run/", self.admin_site.admin_view(self.dry_run_view), name="sync_writeintent_dry_run"),
            path(
                "<int:pk>/replay/",
                self.admin_site.admin_view(require_POST(self.replay_view)),
                name="sync_writeintent_replay",
            ),
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    page_related = ("patient", "department", "replay_of", "depends_on")
    not_found = "No such write at your locations."

    def _page_context(self, request: HttpRequest, intent: WriteIntent, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "intent": intent,
            "may_replay": may_replay(request.user, intent),
            "replay_rule": self._replay_rule(request, intent),
            "read_only": is_read_only(request.user),
        }

    @staticmethod
    def _replay_rule(request: HttpRequest, intent: WriteIntent) -> str:
        """Why this user may not replay this intent ('' when they may)."""
        if intent.state not in (State.PARKED, State.FAILED):
            return "Only parked or failed writes can be replayed."
        if is_read_only(request.user) or not request.user.has_perm("sync.replay_writeintent"):
            return "Your role can look at writes but not replay them."
        if intent.state == State.FAILED and not is_integration_admin(request.user):
            return "athena refused this write; an integration admin decides whether to send it again."
        return ""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Why it failed (our summary, athena's own words), attempts, history, calls, replays."""
        intent = self._visible(request, object_id)
        phi_view_record(
            request,
            object_type="write_intent",
            object_id=intent.pk,
            patient_ref=intent.patient_id,
            department_ref=intent.department_id,
        )
        calls = []
        since = intent.created_at - dt.timedelta(seconds=5)
        from hub.audit_browser import sequence_range

        bounds = sequence_range(since, None)
        if bounds is not None:
            calls = list(
                AuditEvent.objects.filter(
                    sequence__gte=bounds[0], intent_id=str(intent.pk), system=AuditEvent.System.ATHENA
                ).order_by("-sequence")[:20]
            )
        context = {
            **self._page_context(request, intent, f"Write #{intent.pk}: {intent.get_operation_display()}"),
            "history": list(intent.events.all()),
            "replays": list(intent.replays.order_by("pk")),  # type: ignore[attr-defined]
            "dependents": list(intent.dependents.order_by("pk")),  # type: ignore[attr-defined]
            "calls": calls,
            "live_replay": open_replay(intent),
            "target_json": json.dumps(intent.target, indent=2, sort_keys=True),
            "result_json": json.dumps(intent.result, indent=2, sort_keys=True) if intent.result else "",
        }
        return TemplateResponse(request, "sync/intent_detail.html", context)

    @staticmethod
    def _dry_run(intent: WriteIntent) -> tuple[dict[str, Any] | None, str]:
        try:
            plan = ledger.dry_run(intent)
        except ledger.NeedsStaff as exc:
            return None, str(exc)
        except Exception as exc:
            # A row the write needs is gone (e.g. the insurance): say so, without its values.
            return None, f"no dry run possible: {type(exc).__name__}"
        return plan, ""

    @staticmethod
    def _display_form(form: dict[str, Any]) -> list[tuple[str, str]]:
        rows = []
        for key, value in sorted(form.items()):
            text = "" if value is None else str(value)
            if key in DRY_RUN_MASKED and text:
                text = f"•••••{text[-4:]}"
            rows.append((key, text))
        return rows

    def dry_run_view(self, request: HttpRequest, pk: int, form: ReplayForm | None = None) -> HttpResponse:
        """Exactly what a replay would send to athena, and the replay form under it."""
        intent = self._visible(request, pk)
        plan, problem = self._dry_run(intent)
        expected = fingerprint(intent.pk, intent.state, intent.updated_at, plan)
        if request.method == "GET":
            phi_view_record(
                request,
                object_type="write_intent",
                object_id=intent.pk,
                patient_ref=intent.patient_id,
                department_ref=intent.department_id,
                detail={"page": "dry-run"},
            )
        linked = intent.state == State.FAILED
        context = {
            **self._page_context(request, intent, f"Dry run of write #{intent.pk}"),
            "plan": plan,
            "problem": problem,
            "form_rows": self._display_form(plan.get("form", {})) if plan else [],
            "linked": linked,
            "live_replay": open_replay(intent) if linked else None,
            "form": form or ReplayForm(expected=expected),
        }
        return TemplateResponse(request, "sync/intent_dry_run.html", context)

    def replay_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Replay after a dry run: reason required, refused if the dry run changed since it was shown."""
        intent = self._visible(request, pk)
        if not may_replay(request.user, intent):
            raise PermissionDenied(self._replay_rule(request, intent) or "You cannot replay this write.")
        plan, _ = self._dry_run(intent)
        expected = fingerprint(intent.pk, intent.state, intent.updated_at, plan)
        form = ReplayForm(request.POST, expected=expected)
        if not form.is_valid():
            return self.dry_run_view(request, pk, form=form)
        try:
            replayed = intent_replay(intent=intent, actor=request.user, reason=form.cleaned_data["reason"])
        except (ValueError, IllegalTransition) as exc:
            form.add_error(None, str(exc))
            return self.dry_run_view(request, pk, form=form)
        if replayed.pk == intent.pk:
            self.message_user(request, f"Write #{intent.pk} is queued again; it reads athena back before it writes.")
        else:
            self.message_user(
                request,
                f"Replay #{replayed.pk} of write #{intent.pk} is queued; it reads athena back before it writes.",
            )
        return HttpResponseRedirect(reverse("admin:sync_writeintent_change", args=[replayed.pk]))


# --- inbound athena events ------------------------------------------------------------------------


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdminMixin, LocationScopedAdmin):
    """What athena told us, and where each event ended; parked ones can be processed again."""

    change_form_template = "sync/inbound_event_change_form.html"
    list_display = ["event", "received", "source_name", "topic", "resource", "department", "state", "lag", "error"]
    list_display_links = ["event"]
    list_per_page = 50
    list_filter = ["state", "source", "resource_type", ("department", UserLocationFilter)]
    list_select_related = ["department"]
    search_fields = ["=resource_id", "=event_id"]
    date_hierarchy = "received_at"
    readonly_fields = [field.name for field in InboundEvent._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Events of a location the hub does not know yet belong to nobody's locations: staff who
        # see every location see them too (they are often the parked ones).
        if sees_all_locations(request.user):
            return InboundEvent.objects.all()
        return super().get_queryset(request)

    @admin.display(description="Event", ordering="pk")
    def event(self, obj: InboundEvent) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Received", ordering="received_at")
    def received(self, obj: InboundEvent) -> str:
        return relative(obj.received_at)

    @admin.display(description="Source", ordering="source")
    def source_name(self, obj: InboundEvent) -> str:
        return {"athena-webhook": "webhook", "athena-feed": "feed"}.get(obj.source, obj.source)

    @admin.display(description="Resource")
    def resource(self, obj: InboundEvent) -> str:
        return f"{obj.resource_type} {obj.resource_id}"

    @admin.display(description="athena → hub")
    def lag(self, obj: InboundEvent) -> str:
        if obj.processed_at is None:
            return f"waiting {human_delta(timezone.now() - obj.received_at)}"
        return human_delta(obj.processed_at - obj.occurred_at)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/process-again/",
                self.admin_site.admin_view(require_POST(self.process_again_view)),
                name="sync_inboundevent_process_again",
            )
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not str(object_id).isdigit() or not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404("No such event at your locations.")
        may = _can_act(request, "sync.change_inboundevent")
        return super().change_view(request, object_id, form_url, {"may_process_again": may, **(extra_context or {})})

    def process_again_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        event = self.get_queryset(request).filter(pk=pk).first()
        if event is None:
            raise Http404("No such event at your locations.")
        if not _can_act(request, "sync.change_inboundevent"):
            raise PermissionDenied("You cannot process athena events again.")
        try:
            inbound_event_requeue(event=event, actor=request.user)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Event #{event.pk} is queued again: the hub fetches it from athena anew.")
        return HttpResponseRedirect(reverse("admin:sync_inboundevent_change", args=[event.pk]))


# --- portal events and the portal endpoint -------------------------------------------------------


class PortalDeliveryInline(admin.TabularInline):
    model = PortalDelivery
    extra = 0
    can_delete = False
    fields = ("attempt", "attempted_at", "status_code", "succeeded", "latency_ms", "error")
    readonly_fields = ("attempt", "attempted_at", "status_code", "succeeded", "latency_ms", "error")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PortalEvent)
class PortalEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the portal is told (thin: ids and field names) and each delivery attempt."""

    list_display = ["public_id", "type", "department", "patient_cell", "state", "attempts", "created_at", "delivered"]
    list_filter = ["state", "type", ("department", UserLocationFilter)]
    list_select_related = ["department"]
    search_fields = ["=public_id"]
    readonly_fields = [field.name for field in PortalEvent._meta.fields]
    inlines = [PortalDeliveryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).for_departments(Department.objects.for_user(request.user))  # type: ignore[attr-defined]

    @admin.display(description="Patient")
    def patient_cell(self, obj: PortalEvent) -> str:
        return _patient_link(obj.patient_id)

    @admin.display(description="Delivered", ordering="delivered_at")
    def delivered(self, obj: PortalEvent) -> str:
        return relative(obj.delivered_at) if obj.delivered_at else NO_VALUE


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The portal's receiver: delivering, or held after a 410 until an admin re-enables it."""

    change_form_template = "sync/endpoint_change_form.html"
    list_display = ["url", "status", "last_success", "last_failure", "held_events", "failures_last_hour"]
    readonly_fields = ["url", "disabled_at", "disabled_reason", "last_success_at", "last_failure_at"]

    @admin.display(description="Status")
    def status(self, obj: WebhookEndpoint) -> str:
        if obj.disabled_at:
            return format_html('<span class="hub-warn">Held since {}</span>', relative(obj.disabled_at))
        return "Delivering"

    @admin.display(description="Last success")
    def last_success(self, obj: WebhookEndpoint) -> str:
        return relative(obj.last_success_at) if obj.last_success_at else "never"

    @admin.display(description="Last failure")
    def last_failure(self, obj: WebhookEndpoint) -> str:
        return relative(obj.last_failure_at) if obj.last_failure_at else "never"

    @admin.display(description="Held events")
    def held_events(self, obj: WebhookEndpoint) -> int:
        return PortalEvent.objects.filter(state=PortalEvent.State.HELD).count()

    @admin.display(description="Failed deliveries, last hour")
    def failures_last_hour(self, obj: WebhookEndpoint) -> int:
        since = timezone.now() - dt.timedelta(hours=1)
        return PortalDelivery.objects.filter(attempted_at__gte=since, succeeded=False).count()

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/enable/",
                self.admin_site.admin_view(require_POST(self.enable_view)),
                name="sync_webhookendpoint_enable",
            )
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "may_enable": _can_act(request, "sync.change_webhookendpoint"),
            "held_count": PortalEvent.objects.filter(state=PortalEvent.State.HELD).count(),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def enable_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
        if endpoint is None:
            raise Http404
        if not _can_act(request, "sync.change_webhookendpoint"):
            raise PermissionDenied("You cannot re-enable the portal endpoint.")
        if endpoint.url != portal_endpoint().url:
            self.message_user(request, "This is not the portal endpoint the hub delivers to now.", messages.ERROR)
        elif endpoint.disabled_at is None:
            self.message_user(request, "The endpoint is already delivering.", messages.INFO)
        else:
            count = portal_endpoint_enable(actor=request.user.get_username())
            self.message_user(
                request, f"Delivery re-enabled; {count} held event{'s' if count != 1 else ''} queued again."
            )
        return HttpResponseRedirect(reverse("admin:sync_webhookendpoint_change", args=[endpoint.pk]))
