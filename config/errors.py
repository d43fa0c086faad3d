"""JSON answers for requests that never reach a DRF view: unknown URLs and Django's own errors.

Clients of an API parse JSON; Django's HTML error pages (and, with DEBUG, its technical 404
page listing every URL pattern) are neither parseable nor meant for them.
"""

from __future__ import annotations

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # it changes nothing, whatever the method
def not_found(request, unmatched: str = "", exception=None):
    """The last URL pattern: every unrouted path is a JSON 404 (a hint when only "/" is missing)."""
    path = request.path
    body = {"detail": f"no endpoint at {path}"}
    if not path.endswith("/") and _routed(path + "/"):
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(path + "/" + (f"?{query}" if query else ""))
        body["detail"] += f"; did you mean {path}/ (with the trailing slash)?"
    return JsonResponse(body, status=404)


def _routed(path: str) -> bool:
    try:
        return resolve(path).func is not not_found
    except Resolver404:
        return False


def bad_request(request, exception=None):
    return JsonResponse({"detail": "bad request"}, status=400)


def permission_denied(request, exception=None):
    return JsonResponse({"detail": "permission denied"}, status=403)


def server_error(request):
    return JsonResponse({"detail": "internal server error; the failure is logged"}, status=500)


def csrf_failure(request, reason: str = ""):
    return JsonResponse(
        {"detail": f"CSRF check failed ({reason}); API clients authenticate with a token"},
        status=403,
    )
