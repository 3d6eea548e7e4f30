from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KernelConfig(AppConfig):
    name = "voronka.kernel"
    label = "kernel"
    verbose_name = "Kernel"

    def ready(self) -> None:
        from voronka.kernel.events import discover
        from voronka.kernel.outbox import positions_ensure_after_migrate

        discover()  # the event catalogue, the consumers and the periodic jobs of every app
        post_migrate.connect(positions_ensure_after_migrate, sender=self)
