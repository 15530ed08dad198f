from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"

    def ready(self) -> None:
        from intake import events
        from intake.api import schema  # noqa: F401 - registers the OpenAPI security scheme
        from sync import ledger

        ledger.register_final_hook(events.submission_intent_settled)
