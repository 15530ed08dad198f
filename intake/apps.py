from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"

    def ready(self) -> None:
        from intake.api import schema  # noqa: F401 - registers the OpenAPI security scheme
