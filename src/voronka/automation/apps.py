from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AutomationConfig(AppConfig):
    name = "voronka.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from voronka.automation.defaults import rules_ensure_defaults_after_migrate

        post_migrate.connect(rules_ensure_defaults_after_migrate, sender=self)
