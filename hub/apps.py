from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Integration Hub"

    def ready(self) -> None:
        from hub import auditlog_registry, cluster, queue, roles, seeding

        auditlog_registry.register_phi_models()
        cluster.install()
        queue.install()
        post_migrate.connect(roles.roles_sync, dispatch_uid="hub.roles_sync")
        post_migrate.connect(seeding.seed_reference_rows, sender=self, dispatch_uid="hub.seed_reference_rows")
