from django.urls import path

from voronka.integrations import views

app_name = "integrations"

urlpatterns = [
    path("settings/integrations/webhooks/", views.webhooks, name="webhooks"),
    path("settings/integrations/requisites/", views.requisites, name="requisites"),
    path(
        "settings/integrations/webhooks/<int:endpoint_id>/toggle/",
        views.endpoint_toggle,
        name="webhook-toggle",
    ),
    path(
        "settings/integrations/webhooks/<int:endpoint_id>/delete/",
        views.endpoint_delete,
        name="webhook-delete",
    ),
    path(
        "settings/integrations/webhooks/<int:endpoint_id>/test/",
        views.endpoint_test,
        name="webhook-test",
    ),
    path(
        "settings/integrations/webhooks/deliveries/<int:delivery_id>/retry/",
        views.delivery_retry,
        name="webhook-delivery-retry",
    ),
]
