"""The export addresses of the lists: /deals/export/, /companies/export/, /contacts/export/,
/tasks/export/ (each with `format=csv|xlsx` and the list's own filters)."""

from django.urls import path

from voronka.transfer import export_views

urlpatterns = [
    path("deals/export/", export_views.export_list, {"entity": "deals"}, name="deal-export"),
    path(
        "companies/export/",
        export_views.export_list,
        {"entity": "companies"},
        name="company-export",
    ),
    path(
        "contacts/export/", export_views.export_list, {"entity": "contacts"}, name="contact-export"
    ),
    path("tasks/export/", export_views.export_list, {"entity": "tasks"}, name="task-export"),
]
