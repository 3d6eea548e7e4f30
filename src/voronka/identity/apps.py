from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "voronka.identity"
    label = "identity"
    verbose_name = "Identity"
