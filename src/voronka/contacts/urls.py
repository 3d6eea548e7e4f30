from django.urls import path

from voronka.contacts import views, views_duplicates, views_merge

app_name = "contacts"

urlpatterns = [
    path("companies/", views.company_list, name="company-list"),
    path("companies/new/", views.company_create, name="company-create"),
    path("companies/picker/", views.company_picker, name="company-picker"),
    path("contacts/picker/", views.contact_picker, name="contact-picker"),
    path("companies/quick-create/", views.company_quick_create, name="company-quick-create"),
    path("companies/requisites/", views.company_requisites, name="company-requisites"),
    path("companies/families/", views.families, name="families"),
    path("companies/<int:company_id>/", views.company_detail, name="company-detail"),
    path("companies/<int:company_id>/edit/", views.company_edit, name="company-edit"),
    path("contacts/", views.contact_list, name="contact-list"),
    path("contacts/new/", views.contact_create, name="contact-create"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit, name="contact-edit"),
    path("merge/", views_merge.merge, name="merge"),
    path("merges/", views_merge.merges, name="merges"),
    path("merges/undo/", views_merge.merge_undo, name="merge-undo"),
    path("duplicates/", views_duplicates.duplicates, name="duplicates"),
    path("duplicates/check/", views_duplicates.duplicate_check, name="duplicate-check"),
    path("duplicates/scan/", views_duplicates.duplicate_scan, name="duplicate-scan"),
    path(
        "duplicates/scans/<int:scan_id>/",
        views_duplicates.duplicate_scan_status,
        name="duplicate-scan-status",
    ),
    path(
        "duplicates/<int:group_id>/dismiss/",
        views_duplicates.duplicate_dismiss,
        name="duplicate-dismiss",
    ),
]
