"""Liveness and readiness probes against the real PostgreSQL and Redis (nothing mocked)."""

import pytest

PROBE_HOST = "10.1.2.3:8000"  # what an orchestrator sends: the container's own address


def test_liveness_answers_without_touching_dependencies(client, settings):
    # No database access is allowed here (no django_db mark), and the broker is unreachable.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.get("/healthz/").status_code == 200


@pytest.mark.django_db
def test_readiness_checks_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())


@pytest.mark.django_db
def test_readiness_is_503_naming_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.django_db
def test_probes_work_over_plain_http_from_any_host_with_production_security(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["cellserve.example.com"]
    assert client.get("/healthz", HTTP_HOST=PROBE_HOST).status_code == 200
    assert client.get("/readyz", HTTP_HOST=PROBE_HOST).status_code == 200
    # Everything else still gets the host check and the redirect.
    assert client.get("/api/v1/predictions/", HTTP_HOST=PROBE_HOST).status_code == 400
    redirect = client.get("/api/v1/predictions/", HTTP_HOST="cellserve.example.com")
    assert redirect.status_code == 301
    assert redirect["Location"].startswith("https://cellserve.example.com/")


def test_probes_need_no_credentials_and_only_answer_reads(client):
    assert client.post("/healthz").status_code == 404
    assert client.head("/healthz").status_code == 200
