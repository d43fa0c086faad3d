"""The queued path (task run in-process) and the import command."""

import pytest
from django.core.management import CommandError, call_command

from depth_images import synthetic
from depth_images.models import DepthDataset
from depth_images.tests.conftest import csv_upload, snapshot

pytestmark = pytest.mark.django_db
URL = "/api/v1/depth-datasets/"


@pytest.fixture
def queue_everything(settings):
    settings.CELLSERVE_DEPTH_SYNC_MAX_BYTES = 0


def post_queued(client, data, capture):
    with capture(execute=True):
        return client.post(URL, {"name": "big", "file": csv_upload(data)}, format="multipart")


def test_large_upload_is_202_then_ingested_by_the_task(
    api_client, eager_celery, queue_everything, django_capture_on_commit_callbacks, small_csv
):
    response = post_queued(api_client, small_csv, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    body = response.json()
    assert body["dataset"]["status"] == "pending"
    assert body["ingest"] is None
    assert response["Location"] == body["status_url"]
    done = api_client.get(body["status_url"]).json()
    assert done["status"] == "ready"
    assert done["row_count"] == 50
    assert done["last_upload"]["skipped_empty_rows"] == 1
    assert not DepthDataset.objects.get(pk=done["id"]).pending_file


def test_bad_large_upload_ends_failed_with_the_message_and_rows_unchanged(
    api_client, user, eager_celery, queue_everything, django_capture_on_commit_callbacks
):
    post_queued(api_client, synthetic.csv_bytes(30), django_capture_on_commit_callbacks)
    before = snapshot(user)
    lines = synthetic.csv_bytes(30, seed=5).decode().split("\n")
    lines[20] = "9002.0,1.0,abc" + ",1.0" * 198
    response = post_queued(
        api_client, "\n".join(lines).encode(), django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    failed = api_client.get(response.json()["status_url"]).json()
    assert failed["status"] == "failed"
    assert failed["error_message"] == "line 21: col2 value 'abc' is not a number"
    after = snapshot(user)
    assert after["big"][1:] == before["big"][1:]  # everything but the status


def test_large_upload_with_a_bad_header_is_refused_at_once(api_client, queue_everything, user):
    response = api_client.post(
        URL, {"name": "big", "file": csv_upload(b"depth,a\n1,2\n")}, format="multipart"
    )
    assert response.status_code == 400
    assert "line 1: the header" in response.json()["file"][0]
    assert snapshot(user) == {}


def test_import_command(tmp_path, user, capsys):
    path = synthetic.write_csv(tmp_path / "well.csv", 2_500, block=1_000)
    call_command("import_depth_csv", str(path), "--user", "alice", "--dataset", "well")
    assert "2500 rows into 'well' (2500 added, 0 replaced, 1 empty rows skipped)" in (
        capsys.readouterr().out
    )
    dataset = DepthDataset.objects.get(name="well")
    assert (dataset.row_count, dataset.depth_min, dataset.depth_max) == (2500, 9000.1, 9250.0)


def test_import_command_errors(tmp_path, user):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(synthetic.csv_bytes(5).replace(b"9000.3,", b"9000.2,"))
    with pytest.raises(CommandError, match=r"line 4: depth 9000\.2 repeats the depth of line 3"):
        call_command("import_depth_csv", str(bad), "--user", "alice")
    with pytest.raises(CommandError, match="no user named 'zed'"):
        call_command("import_depth_csv", str(bad), "--user", "zed")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_depth_csv", str(tmp_path / "none.csv"), "--user", "alice")
    assert snapshot(user) == {}
