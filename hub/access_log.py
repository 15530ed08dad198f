"""The PHI access log: who looked at which patient's data, when and from where.

Every staff view of PHI writes one audit row (system "hub", direction "internal"):

- `view`  one record was shown: `object_type` + `object_id`, `patient_ref` and `department_id_ref`
          (hub ids) so compliance can ask "who looked at patient X" with a patient search.
- `list`  a list showing PHI was shown: `object_type` and, in `detail`, how many rows were shown
          and which filter/search fields were used (names only: a search term may be a name).

Who comes from the request's user, where from the address the middleware bound for the request.

Use from other apps:

- admin: mix `PHIAccessAdminMixin` into a ModelAdmin and set `phi_object_type` (defaults to the
  model name); override `phi_refs(obj)` when the patient or location is not at `obj.patient` /
  `obj.department` (it returns `(patient_id, department_id)`).
- any other view: call `phi_view_record(request, object_type=..., object_id=..., patient_ref=...,
  department_ref=...)` once the object is known to be visible to the user, or
  `phi_list_record(request, object_type=..., count=...)` for a list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.http import HttpRequest, HttpResponse

from hub import context
from hub.audit import audit_record
from hub.models import AuditEvent

VIEW = "view"
LIST = "list"


def _actor(request: HttpRequest) -> context.Actor:
    user = request.user
    if user.is_authenticated:
        return context.Actor(type="user", id=str(user.pk), label=user.get_username())
    return context.get_actor()


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else ""


def phi_view_record(
    request: HttpRequest,
    *,
    object_type: str,
    object_id: Any,
    patient_ref: Any = None,
    department_ref: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that the request's user was shown one record holding PHI."""
    return audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=VIEW,
        actor=_actor(request),
        method=request.method or "",
        route=_route(request),
        status_code=200,
        object_type=object_type,
        object_id=object_id,
        patient_ref=patient_ref,
        department_ref=department_ref,
        detail=detail,
    )


def phi_list_record(
    request: HttpRequest,
    *,
    object_type: str,
    count: int,
    filter_fields: Iterable[str] = (),
    searched: bool = False,
    department_ref: Any = None,
    total: int | None = None,
) -> AuditEvent:
    """Record that the request's user was shown a list of `count` records holding PHI."""
    detail: dict[str, Any] = {"count": count, "filters": sorted(set(filter_fields)), "search": searched}
    if total is not None:
        detail["total"] = total
    return audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=LIST,
        actor=_actor(request),
        method=request.method or "",
        route=_route(request),
        status_code=200,
        object_type=object_type,
        department_ref=department_ref,
        detail=detail,
    )


def default_refs(obj: models.Model) -> tuple[Any, Any]:
    """Patient and location ids of a row: itself if it is a patient, else its `patient`/`department`."""
    from hub.models import Patient

    if isinstance(obj, Patient):
        return obj.pk, obj.department_id
    patient_id = getattr(obj, "patient_id", None)
    department_id = getattr(obj, "department_id", None)
    if department_id is None and patient_id is not None:
        patient = getattr(obj, "patient", None)
        department_id = getattr(patient, "department_id", None)
    return patient_id, department_id


# Query-string keys of the admin changelist that are not filters.
_CHANGELIST_KEYS = {"o", "p", "q", "all", "_popup", "_to_field", "e"}


class PHIAccessAdminMixin:
    """ModelAdmin mixin: change views and change lists of PHI write access-log rows."""

    phi_object_type: str = ""

    def phi_type(self) -> str:
        return self.phi_object_type or self.model._meta.model_name  # type: ignore[attr-defined]

    def phi_refs(self, obj: models.Model) -> tuple[Any, Any]:
        return default_refs(obj)

    def phi_opened(self, request: HttpRequest, object_id: Any) -> Any:
        """The row of a page the admin does not render itself, found as the admin's `_visible` finds
        it (404 at another location), its opening logged as PHI access."""
        obj = self._visible(request, object_id)  # type: ignore[attr-defined]
        patient_ref, department_ref = self.phi_refs(obj)
        phi_view_record(
            request,
            object_type=self.phi_type(),
            object_id=obj.pk,
            patient_ref=patient_ref,
            department_ref=department_ref,
        )
        return obj

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200:
            obj = getattr(response, "context_data", {}).get("original") if hasattr(response, "context_data") else None
            if obj is not None:
                patient_ref, department_ref = self.phi_refs(obj)
                phi_view_record(
                    request,
                    object_type=self.phi_type(),
                    object_id=obj.pk,
                    patient_ref=patient_ref,
                    department_ref=department_ref,
                )
        return response

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        context_data = getattr(response, "context_data", None)
        if request.method == "GET" and response.status_code == 200 and context_data:
            changelist: ChangeList | None = context_data.get("cl")
            if changelist is not None:
                phi_list_record(
                    request,
                    object_type=self.phi_type(),
                    count=len(changelist.result_list),
                    filter_fields=[key.split("__")[0] for key in request.GET if key not in _CHANGELIST_KEYS],
                    searched=bool(request.GET.get("q")),
                )
        return response
