"""App config that makes the hub's staff site Django's default admin site.

Listed in INSTALLED_APPS in place of `django.contrib.admin`, so `admin.site` *is* the hub's site
and every app's `@admin.register` lands on it. Its `ready()` also wires the staff UI's signal
receivers and built-in registrations. This module must not import models (it is loaded while
the app registry is being populated).
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class HubAdminConfig(AdminConfig):
    default_site = "hub.admin_site.HubAdminSite"

    def ready(self) -> None:
        super().ready()
        # Imported for their side effects: signal receivers and the built-in panels, metrics,
        # alert conditions and purgers register themselves when their module loads.
        from hub import alerts, auth_audit, dashboard, retention, staff_home  # noqa: F401
        from hub.schedules import schedules_sync

        # Once per migrate (post_migrate is sent for every app), after every table exists.
        post_migrate.connect(schedules_sync, sender=apps.get_app_config("hub"), dispatch_uid="hub.schedules_sync")
