from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "voronka.deals"
    label = "deals"
    verbose_name = "Deals"
