from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = "Patient text messages"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from notify import services, staff
        from notify.schedules import ensure_schedules, seed_templates
        from sync import ledger

        ledger.register_final_hook(services.booking_intent_settled)
        staff.register()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="notify.ensure_schedules")
        post_migrate.connect(seed_templates, sender=self, dispatch_uid="notify.seed_templates")
