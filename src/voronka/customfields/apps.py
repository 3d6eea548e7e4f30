from django.apps import AppConfig


class CustomFieldsConfig(AppConfig):
    """Custom field definitions (settings of deals, companies, contacts). The definitions live
    in `kernel.models.CustomField` (every app's values refer to them); their services are here,
    above identity, so that they can check the actor's settings permission."""

    name = "voronka.customfields"
    label = "customfields"
    verbose_name = "Custom fields"
