"""The OpenAPI schema describes the API: schemathesis against gunicorn, bounded and seeded.

Checks: no server error, and every status code, content type, header and body as the schema
says; requests that violate the schema are refused. (Requests the schema allows but the server
refuses for reasons a schema cannot state, such as a file that is not an image, or a region
whose right edge is left of its left edge, are not failures here.)
"""

import json
import subprocess
import sys

import pytest
from django.core.files.base import ContentFile

from depth_images.services import ingest
from depth_images.synthetic import csv_bytes
from tests.helpers import processes
from tests.helpers.jobs import completed_job
from tiles import tasks as tile_tasks

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection"
)
SEED, MAX_EXAMPLES, MAX_TIME_S = 42, 10, 120


@pytest.fixture
def server(user, eager_celery, media_root, tmp_path, prepared_jobs):
    """gunicorn (2 workers) with alice's completed job and depth dataset to find."""
    import redis
    from django.conf import settings
    from rest_framework.authtoken.models import Token

    completed_job(user, prepared_jobs["large"])
    outcome = ingest.upload(user, "default", ContentFile(csv_bytes(200, seed=4), "d.csv"))
    tile_tasks.build_dataset_tiles(str(outcome.dataset.pk))
    port = processes.free_port()
    env = processes.service_env(media_root, tmp_path)
    web = processes.start_web(env, tmp_path / "web.log", port, workers=2)
    yield f"http://127.0.0.1:{port}", Token.objects.create(user=user).key, web
    web.stop()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the jobs it created, never run


def test_the_api_answers_as_its_schema_says(server, tmp_path):
    base, token, web = server
    report = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/schema/",
         "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
         "--max-time", str(MAX_TIME_S), "--workers", "2", "--no-color",
         "--header", f"Authorization: Token {token}",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=MAX_TIME_S + 120,
    )  # fmt: skip
    (tmp_path / "schemathesis.txt").write_text(run.stdout)  # the whole report, for debugging
    [line for line in run.stdout.splitlines() if " in " in line and "==" in line]
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-2000:]}\n{web.tail()}"
    result = json.loads(report.read_text())
    assert result["failures"] == []
    assert result["errors"] == []
    assert result["operations"]["tested"] == result["operations"]["selected"] >= 78
