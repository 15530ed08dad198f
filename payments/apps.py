from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from payments import staff
        from payments.schedules import ensure_schedules

        staff.register()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="payments.ensure_schedules")
