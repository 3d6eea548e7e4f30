"""The product's own 404 and 500 pages for HTML pages in every mode — DEBUG too.

Outside DEBUG Django already renders handler404/handler500 (web.views.error_404/500). With DEBUG
on (`make run` in development) it answers its technical pages instead: the URL patterns for an
unknown address, a traceback for an error — what a developer needs in the console, not what a
signed-in user should see. Here both become the product pages (in the base layout, in the
user's language, with a link home); a 500 is still logged with its traceback
(django.request, as Django logs it).

The API is not touched: /api/ answers JSON errors of its own (config/api_errors.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response

# Exceptions Django turns into 4xx itself (their pages are handler400/403 outside DEBUG).
CLIENT_ERRORS = (BadRequest, PermissionDenied, SuspiciousOperation, MultiPartParserError)


def is_page(request: HttpRequest) -> bool:
    """An address that answers HTML pages (not the API, not a static file)."""
    return not request.path.startswith(("/api/", "/static/"))


class ProductErrorPagesMiddleware:
    """Last in MIDDLEWARE: it sees the view's exceptions first and the resolver's 404 first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            # No URL pattern matched: Django rendered its technical "Page not found".
            and getattr(request, "resolver_match", None) is None
            and is_page(request)
        ):
            return self._page(request, 404) or response
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_page(request):
            return None
        if isinstance(exception, Http404):
            return self._page(request, 404)
        if settings.DEBUG and not isinstance(exception, CLIENT_ERRORS):
            response = self._page(request, 500)
            if response is not None:
                log_response(
                    "%s: %s",
                    "Internal Server Error",
                    request.path,
                    response=response,
                    request=request,
                    exception=exception,
                )
            return response
        return None

    @staticmethod
    def _page(request: HttpRequest, code: int) -> HttpResponse | None:
        from voronka.web.views import error_404, error_500

        try:
            return error_404(request) if code == 404 else error_500(request)
        except Exception:  # the page itself failed (the database is down…): Django's answer
            return None
