from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.defaults import page_not_found, server_error
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hub import health, metrics
from intake.api.problems import json_problem
from intake.oauth import PortalTokenView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("o/token/", PortalTokenView.as_view(), name="oauth2-token"),
    path("api/v1/", include("intake.api.urls")),
    path("webhooks/", include("sync.urls")),
    path("webhooks/twilio/", include("notify.urls")),  # issue 8: SMS status callbacks and replies
    path("webhooks/clover/", include("payments.urls")),  # issue 8: Clover payment webhooks
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(("/api/", "/o/", "/webhooks/")):
        return json_problem(request, 404, "not-found", "No such resource.")
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(("/api/", "/o/", "/webhooks/")):
        return json_problem(request, 500, "internal-error", "Something went wrong; the request id helps support.")
    return server_error(request)
