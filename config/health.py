"""Liveness and readiness probes for Docker health checks and Kubernetes.

``/healthz`` (liveness) answers 200 while the process serves requests and touches nothing
else, so an outage of the database or the broker never gets healthy API processes restarted.
``/readyz`` (readiness) checks what requests need: the database (``SELECT 1``) and the Celery
broker (a connection with a short timeout). It answers 200 with one entry per check, or 503
naming the check that failed, so the instance is taken out of the load balancer until it
recovers. Error details go to the log, not to the unauthenticated response.

Both are answered by a middleware at the top of the stack, before host validation, the HTTPS
redirect, sessions and authentication: orchestrators probe the container's own address over
plain HTTP, and that address is neither in ALLOWED_HOSTS nor HTTPS.
"""

import logging
import time

from django.conf import settings
from django.db import connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)

# Seconds one readiness check may wait for the broker; keep it below the probes' timeout.
BROKER_TIMEOUT_S = 2.0


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    from kombu import Connection

    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "socket_connect_timeout": BROKER_TIMEOUT_S,
        "socket_timeout": BROKER_TIMEOUT_S,
    }
    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_S, transport_options=options
    ) as connection:
        # One attempt, no retries: connecting to Redis includes a PING.
        connection.ensure_connection(max_retries=0)


READINESS_CHECKS = {"database": check_database, "broker": check_broker}


def liveness(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness(request) -> JsonResponse:
    checks, ready = {}, True
    for name, check in READINESS_CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %r failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = {"ok": False, "error": type(exc).__name__}
            ready = False
        else:
            checks[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


PROBES = {"/healthz": liveness, "/readyz": readiness}


class HealthCheckMiddleware:
    """Answers GET/HEAD ``/healthz`` and ``/readyz`` (with or without a trailing slash)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path.rstrip("/"))
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        response = probe(request)
        response["Cache-Control"] = "no-store"
        return response
