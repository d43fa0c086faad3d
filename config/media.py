"""Sending stored files: always as a download, with the type of what the file really is.

Stored names end in extensions we chose (``predictions.services.images.EXTENSIONS`` and the
result files), so the type comes from a fixed table and never from what a user uploaded;
anything else is sent as ``application/octet-stream``. Nothing is rendered by the browser.
With ``CELLSERVE_MEDIA_ACCEL_REDIRECT`` set, nginx sends the bytes (``X-Accel-Redirect``).
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header
from rest_framework.exceptions import NotFound

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".tif": "image/tiff",
    ".npy": "application/octet-stream",
    ".npz": "application/octet-stream",
    ".zip": "application/zip",
    ".json": "application/json",
    ".csv": "text/csv",
    ".geojson": "application/geo+json",
}
DEFAULT_TYPE = "application/octet-stream"


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), DEFAULT_TYPE)


def serve_file(field: FieldFile, filename: str) -> HttpResponse | FileResponse:
    """The stored file as an attachment named ``filename``."""
    kind = content_type(field.name)  # type: ignore[arg-type]  # django-stubs: FieldFile.name is Optional; a stored file has one
    prefix = settings.CELLSERVE_MEDIA_ACCEL_REDIRECT
    response: HttpResponse | FileResponse
    if prefix:
        response = HttpResponse(content_type=kind)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(field.name)  # type: ignore[arg-type]  # django-stubs: FieldFile.name is Optional
        response["Content-Disposition"] = content_disposition_header(True, filename)
    else:
        try:
            handle = field.open("rb")
        except FileNotFoundError:
            logger.error("stored file %s is missing", field.name)
            raise NotFound("the file is missing from storage") from None
        response = FileResponse(handle, as_attachment=True, filename=filename, content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
