"""Webhook delivery against a real HTTP receiver on loopback (no mocked HTTP)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from predictions.models import JobStatus, WebhookDelivery
from predictions.services import notify
from tests.helpers.factories import PredictionJobFactory

pytestmark = pytest.mark.django_db
SECRET = "s3cret"


class Receiver:
    """A loopback HTTP server answering with a scripted list of status codes (or stalls)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                action = receiver.script.pop(0) if receiver.script else 200
                if action == "stall":
                    time.sleep(2)
                    return
                self.send_response(action)
                self.end_headers()
                self.wfile.write(b"ok" if action == 200 else b"receiver error")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory(settings):
    settings.MODAL_WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_BACKOFF_S = 0
    receivers = []

    def make(*script):
        receiver = Receiver(script)
        settings.MODAL_ENDPOINT_URL = receiver.url
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.close()


def finished_job(eager_celery, django_capture_on_commit_callbacks):
    # Eager retries run in place; the Retry that ends each eager attempt is not an error.
    eager_celery.conf.task_eager_propagates = False
    job = PredictionJobFactory()
    from predictions import tasks

    with django_capture_on_commit_callbacks(execute=True):
        tasks.segment_job.delay(str(job.id))
    job.refresh_from_db()
    return job


def test_completed_job_is_delivered_signed(
    receiver_factory, eager_celery, django_capture_on_commit_callbacks
):
    receiver = receiver_factory(200)
    job = finished_job(eager_celery, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert notify.verify(
        SECRET, headers[notify.TIMESTAMP_HEADER], body, headers[notify.SIGNATURE_HEADER]
    )
    assert not notify.verify("wrong", headers[notify.TIMESTAMP_HEADER], body,
                             headers[notify.SIGNATURE_HEADER])  # fmt: skip
    payload = json.loads(body)
    assert payload["job_id"] == str(job.id)
    assert payload["status"] == "completed"
    assert payload["num_cells"] == 3
    assert payload["mask_shape"] == [96, 128]
    assert payload["metrics_summary"]["total_cells"] == 3
    assert payload["result_urls"]["download_masks"].endswith(f"/{job.id}/download_masks/")
    delivery = WebhookDelivery.objects.get(job=job)
    assert delivery.succeeded
    assert delivery.status_code == 200
    assert delivery.attempt == 1


def test_receiver_failing_twice_then_succeeding(
    receiver_factory, eager_celery, django_capture_on_commit_callbacks
):
    receiver = receiver_factory(500, 503, 200)
    job = finished_job(eager_celery, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 3
    attempts = list(job.deliveries.values_list("attempt", "status_code", "succeeded"))
    assert attempts == [(1, 500, False), (2, 503, False), (3, 200, True)]
    assert "HTTP 500" in job.deliveries.first().error
    assert job.status == JobStatus.COMPLETED


def test_receiver_that_never_answers_times_out_and_gives_up(
    receiver_factory, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_S = 0.3
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver_factory("stall", "stall")
    job = finished_job(eager_celery, django_capture_on_commit_callbacks)
    deliveries = list(job.deliveries.all())
    assert [d.attempt for d in deliveries] == [1, 2]
    assert all(not d.succeeded and "timed out" in d.error for d in deliveries)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED  # the receiver never changes the job


def test_failed_jobs_are_notified_too(
    receiver_factory, eager_celery, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from predictions import tasks

    receiver = receiver_factory(200)
    job = PredictionJobFactory(input_image=ContentFile(b"junk", name="j.png"))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.segment_job.delay(str(job.id))
    payload = json.loads(receiver.requests[0][1])
    assert payload["status"] == "failed"
    assert "not a PNG" in payload["error_message"]


def test_no_endpoint_means_no_delivery(eager_celery, django_capture_on_commit_callbacks):
    job = finished_job(eager_celery, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.COMPLETED
    assert not job.deliveries.exists()


def test_stale_or_malformed_timestamps_do_not_verify():
    body = b"{}"
    old = str(int(time.time()) - 3600)
    assert not notify.verify(SECRET, old, body, notify.sign(SECRET, old, body))
    assert not notify.verify(SECRET, "yesterday", body, notify.sign(SECRET, "yesterday", body))
