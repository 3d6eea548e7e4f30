"""The application's URLs plus /api/bench/plain-deals: the same 50 rows as GET /api/v1/deals
from a plain Django view (under /api/ so the login middleware lets it through, like the API)."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("api/bench/plain-deals", views.plain_deals),
    path("", include("voronka.config.urls")),
]
