from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "voronka.contacts"
    label = "contacts"
    verbose_name = "Contacts"
