"""The staff site: Django's admin with a second factor, read-only roles, a home page of work and the audit tools.

- Sign-in: password (django-axes counts failures), then a TOTP code (`hub.two_factor`) whenever
  `HUB_REQUIRE_2FA` is on; until then the user is treated as not signed in to the site.
- Read-only roles (compliance): every POST/PUT/PATCH/DELETE through the site is refused, for
  every app's ModelAdmin and action, except signing out, changing one's own password and
  running the audit-chain verification.
- Home page (`index`): the panels of `hub.staff_home`, most urgent first.
- Audit browser, detail, export and verification (`hub.audit_browser`), location dashboard
  (`hub.dashboard`), all under the site's own URLs and permission checks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from hub import two_factor
from hub.staff_access import is_integration_admin, is_read_only

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Views a read-only user may POST to: none of them changes hub data.
READ_ONLY_POST_ALLOWED = {"logout", "password_change", "hub_audit_verify"}


class HubAdminSite(admin.AdminSite):
    site_header = "Integration Hub"
    site_title = "Integration Hub"
    index_title = "Today at your locations"
    index_template = "hub/home.html"
    site_url = None  # the hub has no public site to "view"
    enable_nav_sidebar = True

    # --- who may use the site ------------------------------------------------------------------

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not two_factor.needs_second_factor(request)

    def admin_view(  # type: ignore[override]
        self, view: Callable[..., HttpResponseBase], cacheable: bool = False
    ) -> Callable[..., HttpResponseBase]:
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in SAFE_METHODS and is_read_only(request.user):
                match = getattr(request, "resolver_match", None)
                if match is None or match.url_name not in READ_ONLY_POST_ALLOWED:
                    raise PermissionDenied("Your role can look but not change anything.")
            return view(request, *args, **kwargs)

        update_wrapper(guarded, view)
        return super().admin_view(guarded, cacheable)

    def _signed_in_only(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """For the sign-in steps themselves: no second-factor requirement, CSRF and no caching."""
        return update_wrapper(never_cache(csrf_protect(view)), view)

    # --- sign-in -------------------------------------------------------------------------------

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET" and two_factor.needs_second_factor(request):
            return self._second_step(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and request.user.is_authenticated and two_factor.needs_second_factor(request):
            return self._second_step(request)
        return response

    def _second_step(self, request: HttpRequest) -> HttpResponse:
        target = request.POST.get("next") or request.GET.get("next") or reverse("admin:index", current_app=self.name)
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index", current_app=self.name)
        step = "admin:hub_2fa_verify" if two_factor.confirmed_device(request.user) else "admin:hub_2fa_enrol"
        from urllib.parse import urlencode

        return HttpResponseRedirect(f"{reverse(step, current_app=self.name)}?{urlencode({'next': target})}")

    def _sign_in_context(self, request: HttpRequest) -> dict[str, Any]:
        context = self.each_context(request)
        context["has_permission"] = False  # no navigation until the second step is done
        return context

    def two_factor_verify(self, request: HttpRequest) -> HttpResponse:
        return two_factor.verify_view(request, self._sign_in_context(request))

    def two_factor_enrol(self, request: HttpRequest) -> HttpResponse:
        return two_factor.enrol_view(request, self._sign_in_context(request))

    # --- pages ---------------------------------------------------------------------------------

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        user = request.user
        context["hub_alerts"] = []
        context["hub_links"] = []
        if context.get("has_permission"):
            from hub.alerts import visible_open_alerts

            context["hub_alerts"] = list(visible_open_alerts(user)[:10])
            links = []
            if user.has_perm("hub.browse_auditevent"):
                links.append(("Audit trail", reverse("admin:hub_audit_browser", current_app=self.name)))
            if user.has_perm("hub.view_location_dashboard"):
                links.append(("Locations", reverse("admin:hub_location_dashboard", current_app=self.name)))
            if user.has_perm("hub.view_alert"):
                links.append(("Alerts", reverse("admin:hub_alert_changelist", current_app=self.name)))
            context["hub_links"] = links
            context["hub_is_integration_admin"] = is_integration_admin(user)
        return context

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from hub.access_log import phi_list_record
        from hub.staff_home import panels_for

        panels = panels_for(request)
        response = super().index(request, {"panels": panels, **(extra_context or {})})
        for rendered in panels:
            data = rendered.data
            if data is not None and data.phi_object_type and data.rows:
                phi_list_record(request, object_type=data.phi_object_type, count=len(data.rows), filter_fields=["home"])
        return response

    def audit_browser(self, request: HttpRequest) -> HttpResponse:
        from hub.audit_browser import browser_view

        return browser_view(request, self.each_context(request))

    def audit_detail(self, request: HttpRequest, sequence: int) -> HttpResponse:
        from hub.audit_browser import detail_view

        return detail_view(request, sequence, self.each_context(request))

    def audit_export(self, request: HttpRequest) -> HttpResponseBase:
        from hub.audit_browser import export_view

        return export_view(request)

    def audit_verify(self, request: HttpRequest) -> HttpResponse:
        from hub.audit_browser import verify_view

        return verify_view(request, self.each_context(request))

    def location_dashboard(self, request: HttpRequest) -> HttpResponse:
        from hub.dashboard import dashboard_view

        return dashboard_view(request, self.each_context(request))

    def get_urls(self) -> list[URLPattern | URLResolver]:
        hub_urls = [
            # Ahead of the admin's own logout, which would bounce a user still on the second step.
            path("logout/", self._signed_in_only(self._logout_any_stage), name="logout"),
            path("2fa/", self._signed_in_only(self.two_factor_verify), name="hub_2fa_verify"),
            path("2fa/enrol/", self._signed_in_only(self.two_factor_enrol), name="hub_2fa_enrol"),
            path("audit/", self.admin_view(self.audit_browser), name="hub_audit_browser"),
            path("audit/export.csv", self.admin_view(self.audit_export), name="hub_audit_export"),
            path("audit/verify/", self.admin_view(self.audit_verify), name="hub_audit_verify"),
            path("audit/<int:sequence>/", self.admin_view(self.audit_detail), name="hub_audit_detail"),
            path("locations/", self.admin_view(self.location_dashboard), name="hub_location_dashboard"),
        ]
        return hub_urls + super().get_urls()

    def _logout_any_stage(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            return self.logout(request)
        return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
