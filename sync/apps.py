from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from sync import staff_registry
        from sync.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="sync.ensure_schedules")
        staff_registry.register()
