"""The download of a custom field's file. One view for every entity's files (deals, companies,
contacts), so it lives with the layout, not in one app; its URL stays /deals/files/<token>/
(`deals:file-download`, routed in deals/urls.py) so links already handed out keep working."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from voronka.identity.files import file_for_download
from voronka.kernel.errors import NotFound
from voronka.kernel.files import file_response
from voronka.web.http import not_found


@require_GET
def file_download(request: HttpRequest, file_token: str) -> HttpResponse | FileResponse:
    """A file of a custom field, by its random token, to whoever may see its record; always as
    an attachment, never rendered (identity.files decides who, kernel.files how)."""
    try:
        stored = file_for_download(user=request.user, token=file_token)
    except NotFound:
        return not_found(request)
    return file_response(stored)
