from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "voronka.kernel"
    label = "kernel"
    verbose_name = "Kernel"
