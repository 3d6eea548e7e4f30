from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "voronka.automation"
    label = "automation"
    verbose_name = "Automation"
