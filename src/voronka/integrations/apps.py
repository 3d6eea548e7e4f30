from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "voronka.integrations"
    label = "integrations"
    verbose_name = "Integrations"
