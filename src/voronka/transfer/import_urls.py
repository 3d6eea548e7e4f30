from django.urls import path

from voronka.transfer import import_views as views

urlpatterns = [
    path("imports/", views.import_list, name="list"),
    path("imports/<int:job_id>/", views.import_job, name="job"),
    path("imports/<int:job_id>/errors.csv", views.import_errors_csv, name="errors"),
    path("import/<str:entity>/", views.import_upload, name="upload"),
]
