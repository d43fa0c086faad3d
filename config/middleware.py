"""Limits on a request's size, answered in JSON before anything reads the request.

- a query string above CELLSERVE_MAX_QUERY_BYTES: 414;
- headers above CELLSERVE_MAX_HEADER_BYTES in total: 431;
- a declared body (Content-Length) above CELLSERVE_MAX_REQUEST_BYTES: 413, at once, before
  the body is read. Bodies without a length are counted while they stream in
  (config.uploads).

gunicorn's own request-line and header limits are lifted (config/gunicorn.py) so that these
answers, which name the problem in JSON, are the ones clients get.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


def _too_big(status: int, detail: str, parameter: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "parameter": parameter}, status=status)


def header_bytes(meta: dict) -> int:
    return sum(len(key) + len(str(value)) for key, value in meta.items() if key.startswith("HTTP_"))


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self.refusal(request.META)
        return refusal or self.get_response(request)

    @staticmethod
    def refusal(meta: dict) -> JsonResponse | None:
        query = len(meta.get("QUERY_STRING", ""))
        if query > settings.CELLSERVE_MAX_QUERY_BYTES:
            return _too_big(
                414,
                f"the query string is {query:,} bytes, above the limit of "
                f"{settings.CELLSERVE_MAX_QUERY_BYTES:,}",
                "query",
            )
        headers = header_bytes(meta)
        if headers > settings.CELLSERVE_MAX_HEADER_BYTES:
            return _too_big(
                431,
                f"the request headers are {headers:,} bytes, above the limit of "
                f"{settings.CELLSERVE_MAX_HEADER_BYTES:,}",
                "headers",
            )
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _too_big(400, "Content-Length is not a number", "Content-Length")
        if length > settings.CELLSERVE_MAX_REQUEST_BYTES:
            return _too_big(
                413,
                f"the request body is {length:,} bytes, above the limit of "
                f"{settings.CELLSERVE_MAX_REQUEST_BYTES:,}",
                "body",
            )
        return None
