from django.contrib import admin
from django.urls import include, path

from voronka.config.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include(("voronka.transfer.export_urls", "transfer"))),
    path("", include(("voronka.transfer.import_urls", "imports"))),
    path("", include("voronka.deals.urls")),
    path("", include("voronka.contacts.urls")),
    path("", include("voronka.activities.urls")),
    path("", include("voronka.integrations.urls")),
    path("", include("voronka.automation.urls")),
    path("", include("voronka.web.urls")),
]

handler404 = "voronka.web.views.error_404"
handler500 = "voronka.web.views.error_500"
handler403 = "voronka.web.views.error_403"
