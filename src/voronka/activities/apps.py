from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "voronka.activities"
    label = "activities"
    verbose_name = "Activities"
