from django.urls import path

from voronka.contacts import views

app_name = "contacts"

urlpatterns = [
    path("companies/", views.company_list, name="company-list"),
    path("companies/new/", views.company_create, name="company-create"),
    path("companies/picker/", views.company_picker, name="company-picker"),
    path("companies/quick-create/", views.company_quick_create, name="company-quick-create"),
    path("companies/<int:company_id>/", views.company_detail, name="company-detail"),
    path("companies/<int:company_id>/edit/", views.company_edit, name="company-edit"),
    path("contacts/", views.contact_list, name="contact-list"),
    path("contacts/new/", views.contact_create, name="contact-create"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit, name="contact-edit"),
]
