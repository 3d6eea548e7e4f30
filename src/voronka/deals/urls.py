from django.urls import path

from voronka.deals import views, views_settings
from voronka.web import files as web_files

app_name = "deals"

urlpatterns = [
    path("pipelines/<int:pipeline_id>/board/", views.pipeline_board, name="pipeline-board"),
    path(
        "pipelines/<int:pipeline_id>/board/<int:stage_id>/more/",
        views.board_column_more,
        name="board-more",
    ),
    path("deals/", views.deal_list, name="deal-list"),
    path("deals/new/", views.deal_create, name="deal-create"),
    path("deals/<int:deal_id>/", views.deal_detail, name="deal-detail"),
    path("deals/<int:deal_id>/move/", views.deal_move, name="deal-move"),
    path("deals/<int:deal_id>/comment/", views.deal_comment, name="deal-comment"),
    path("deals/<int:deal_id>/delete/", views.deal_delete, name="deal-delete"),
    # Every entity's files (web.files); the address is kept where links already point.
    path("files/<slug:file_token>/", web_files.file_download, name="file-download"),
    path("settings/pipelines/", views_settings.pipelines, name="settings-pipelines"),
    path(
        "settings/pipelines/<int:pipeline_id>/",
        views_settings.pipeline_edit,
        name="settings-pipeline",
    ),
    path("settings/fields/", views_settings.custom_fields, name="settings-fields"),
    path(
        "settings/fields/<int:field_id>/toggle/",
        views_settings.custom_field_toggle,
        name="settings-field-toggle",
    ),
]
