from typing import Any

from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from hub.retention import register_payload_purger
        from intake import card_files, cards, events
        from intake.api import schema  # noqa: F401 - registers the OpenAPI security scheme
        from intake.schedules import ensure_schedules
        from sync import ledger

        ledger.register_final_hook(events.submission_intent_settled)
        # Insurance cards (issue 6): images follow their insurance to athena, and are purged on schedule.
        ledger.register_final_hook(cards.insurance_created_then_cards)
        ledger.register_card_image_source(card_files.card_image_for_athena)
        register_payload_purger("card-images", card_files.purge_card_images)
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="intake.ensure_schedules")
        # Any appointment change at a location makes its cached open-slot searches stale.
        post_save.connect(_appointment_changed, sender="hub.Appointment", dispatch_uid="intake.slots_forget")
        post_delete.connect(_appointment_changed, sender="hub.Appointment", dispatch_uid="intake.slots_forget_deleted")


def _appointment_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from intake.slots import slots_forget_on_commit

    if instance.department_id:
        slots_forget_on_commit(instance.department_id)
