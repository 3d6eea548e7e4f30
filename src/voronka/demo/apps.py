from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo company (`voronka demo`) and the synthetic benchmark data (`voronka seed`).

    An interface above the domain: it writes through the services (the demo) or in bulk (the
    seed), and nothing in the domain imports it."""

    name = "voronka.demo"
    label = "demo"
    verbose_name = "Demo data"
