from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "eligibility"
    verbose_name = "Eligibility and denial risk"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from eligibility import retention, risk_service, services
        from eligibility.schedules import ensure_schedules
        from hub.retention import register_payload_purger
        from hub.staff_home import register_denial_risk_provider
        from sync import ledger

        ledger.register_final_hook(services.booking_intent_settled)
        register_payload_purger("eligibility-x12", retention.purge_x12_payloads)
        register_denial_risk_provider(risk_service.denial_risk_labels)
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="eligibility.ensure_schedules")
