"""The project's URLs plus /__boom__/, whose view raises with a marker that must not leak."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from voronka.config import urls as project_urls

BOOM_MARKER = "boom-marker-7f3a9c"


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"{BOOM_MARKER}: secret internals")


urlpatterns = [path("__boom__/", boom), *project_urls.urlpatterns]
handler404 = project_urls.handler404
handler500 = project_urls.handler500
handler403 = project_urls.handler403
