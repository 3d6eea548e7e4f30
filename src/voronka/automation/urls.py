from django.urls import path

from voronka.automation import views

app_name = "automation"

urlpatterns = [
    path("settings/automation/", views.automation_home, name="home"),
    path(
        "settings/pipelines/<int:pipeline_id>/automation/",
        views.pipeline_automation,
        name="pipeline",
    ),
    path(
        "settings/pipelines/<int:pipeline_id>/automation/new/",
        views.rule_new,
        name="rule-new",
    ),
    path("settings/automation/rules/<int:rule_id>/", views.rule_edit, name="rule-edit"),
    path("settings/automation/rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("settings/automation/rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path("settings/automation/rules/<int:rule_id>/move/", views.rule_move, name="rule-move"),
    path(
        "settings/automation/rules/<int:rule_id>/dry-run/",
        views.rule_dry_run,
        name="rule-dry-run",
    ),
    path("settings/automation/monitors/", views.monitors, name="monitors"),
    path("settings/automation/monitors/new/", views.monitor_new, name="monitor-new"),
    path("settings/automation/runs/", views.runs, name="runs"),
    path("settings/automation/runs/<int:run_id>/retry/", views.run_retry, name="run-retry"),
]
