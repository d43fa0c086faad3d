"""The client package against real HTTP servers in this process: retries, errors, downloads."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cellserve import ApiError, Client
from cellserve.api import attachment_name
from cellserve.cli import job_dirs, main

FAST = {"backoff_s": 0.01, "timeout_s": 5}


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """Answers each path with its scripted replies in turn (the last one repeats) and records
    every request it was sent."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.replies: dict[str, list[Reply]] = {}
        self.url = ""

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def answer(self, path: str) -> Reply:
        queue = self.replies.get(urlsplit(path).path)
        if not queue:
            return Reply(404, {"detail": "Not found."})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle_request(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fake.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = fake.answer(self.path)
                content = reply.body
                if not isinstance(content, bytes):
                    content = json.dumps(content).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = handle_request

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: pytest shows what failed."""

        return Handler


def start(fake: FakeServer, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), fake.handler())
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch) -> None:
    # A proxy set in the environment would stand between the client and the test servers.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("CELLSERVE_URL", raising=False)
    monkeypatch.delenv("CELLSERVE_TOKEN", raising=False)


@pytest.fixture
def servers() -> Iterator[list[ThreadingHTTPServer]]:
    """Servers a test starts, stopped when it ends."""
    started: list[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake(servers) -> FakeServer:
    fake = FakeServer()
    servers.append(start(fake))
    return fake


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "cells.png"
    path.write_bytes(os.urandom(200_000))
    return path


STATUS = "/api/v1/predictions/j1/status/"
STATUS_2 = "/api/v1/predictions/j2/status/"
PENDING = {"id": "j1", "status": "pending", "error_message": None}


@pytest.mark.parametrize("busy", [Reply(503), Reply(429, headers={"Retry-After": "0"})])
def test_a_busy_answer_is_retried(fake, busy):
    fake.script(STATUS, busy, Reply(200, PENDING))
    assert Client(fake.url, **FAST).status("j1") == PENDING
    assert len(fake.seen) == 2


def test_a_server_that_stays_down_raises_after_the_retries(fake):
    fake.script(STATUS, Reply(503, b"<html>down</html>"))
    with pytest.raises(ApiError, match="HTTP 503: <html>down") as raised:
        Client(fake.url, retries=2, **FAST).status("j1")
    assert raised.value.status == 503
    assert len(fake.seen) == 3


def test_a_refused_connection_is_retried_until_the_server_is_up(servers):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeServer()
    fake.script(STATUS, Reply(200, PENDING))

    def start_late() -> None:
        time.sleep(0.15)
        servers.append(start(fake, port))

    threading.Thread(target=start_late).start()
    client = Client(f"http://127.0.0.1:{port}", retries=6, backoff_s=0.05, timeout_s=5)
    assert client.status("j1") == PENDING
    assert len(fake.seen) == 1


def test_a_refused_request_names_the_field_at_once(fake, image):
    problem = {"diameter": ["Ensure this value is greater than or equal to 0."]}
    fake.script("/api/v1/predictions/", Reply(400, problem))
    with pytest.raises(ApiError) as raised:
        Client(fake.url, **FAST).submit(image, diameter=-1)
    assert raised.value.status == 400
    assert "diameter: Ensure this value is greater than or equal to 0." in str(raised.value)
    assert len(fake.seen) == 1


def test_the_token_is_sent_and_left_out_without_one(fake):
    fake.script(STATUS, Reply(200, PENDING))
    Client(fake.url, "secret", **FAST).status("j1")
    Client(fake.url, **FAST).status("j1")
    assert fake.seen[0].headers["Authorization"] == "Token secret"
    assert "Authorization" not in fake.seen[1].headers


def test_the_environment_gives_url_and_token(fake, monkeypatch):
    fake.script(STATUS, Reply(200, PENDING))
    monkeypatch.setenv("CELLSERVE_URL", fake.url + "/")
    monkeypatch.setenv("CELLSERVE_TOKEN", "from-env")
    assert Client(**FAST).status("j1") == PENDING
    assert fake.seen[0].headers["Authorization"] == "Token from-env"


def test_an_upload_retried_after_a_503_sends_the_whole_file_again(fake, image):
    fake.script("/api/v1/predictions/", Reply(503), Reply(201, {"id": "j1", "status": "pending"}))
    job_id = Client(fake.url, **FAST).submit(image, model_type="watershed", do_3D=False)
    assert job_id == "j1"
    content = image.read_bytes()
    assert [content in seen.body for seen in fake.seen] == [True, True]
    assert b'name="do_3D"\r\n\r\nfalse' in fake.seen[1].body
    assert b'filename="cells.png"' in fake.seen[1].body


def test_download_names_files_as_the_server_does_and_skips_missing_ones(fake, tmp_path, caplog):
    masks = b"\x93NUMPY fake masks"
    disposition = {"Content-Disposition": 'attachment; filename="masks_j1.npy"'}
    fake.script("/api/v1/predictions/j1/download_masks/", Reply(200, masks, disposition))
    fake.script("/api/v1/predictions/j1/download_rois/", Reply(404, {"detail": "no cells"}))
    fake.script("/api/v1/predictions/j1/metrics/", Reply(200, {"num_cells": 0}))
    saved = Client(fake.url, **FAST).download("j1", tmp_path / "out", ["masks", "rois", "metrics"])
    assert saved == [tmp_path / "out" / "masks_j1.npy", tmp_path / "out" / "metrics.json"]
    assert saved[0].read_bytes() == masks
    assert json.loads(saved[1].read_text()) == {"num_cells": 0}
    assert "job j1 has no rois: no cells" in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["masks_j1.npy", "metrics.json"]


def test_a_batch_zip_is_saved_where_asked(fake, tmp_path):
    fake.script("/api/v1/batches/b1/download_results/", Reply(200, b"PK\x05\x06zip"))
    target = Client(fake.url, **FAST).download_batch_zip("b1", tmp_path / "b1.zip", ["masks"])
    assert target.read_bytes() == b"PK\x05\x06zip"
    assert fake.seen[0].path == "/api/v1/batches/b1/download_results/?formats=masks"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="metrics_j1.csv"', "metrics_j1.csv"),
        ("attachment; filename*=utf-8''%C3%A9t%C3%A9_seg.npy", "été_seg.npy"),
        ('attachment; filename="../../.bashrc"', ".bashrc"),
        ('attachment; filename=".."', ""),
        (None, ""),
    ],
)
def test_attachment_names_stay_inside_the_folder(header, name):
    assert attachment_name(header) == name


def test_repeated_image_stems_get_their_own_folders(tmp_path):
    names = ["a.png", "dir/a.tif", "a-2.png", "b.png", "a.png", ".."]
    stems = [path.name for path in job_dirs(names, tmp_path)]
    assert stems == ["a", "a-2", "a-2-2", "b", "a-3", "image"]


def test_the_cli_reports_a_failed_job_and_exits_1(fake, image, capsys):
    failed = {"id": "j1", "status": "failed", "error_message": "out of memory"}
    fake.script("/api/v1/predictions/", Reply(201, {"id": "j1", "status": "pending"}))
    fake.script(STATUS, Reply(200, failed))
    assert main(["--url", fake.url, "submit", str(image), "--wait", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert out == "j1\n"
    assert "job j1 (cells.png) failed: out of memory" in err


def test_the_cli_reports_rejected_batch_files(fake, image, capsys):
    created = {
        "id": "b1",
        "total": 0,
        "jobs": [],
        "rejected": [{"name": "notes.txt", "errors": {"input_image": ["Not an image."]}}],
    }
    fake.script("/api/v1/batches/", Reply(201, created))
    assert main(["--url", fake.url, "batch", str(image), "--model", "watershed"]) == 1
    out, err = capsys.readouterr()
    assert out == "b1\n"
    assert "rejected notes.txt: input_image: Not an image." in err
    assert b'name="model_type"\r\n\r\nwatershed' in fake.seen[0].body


def test_waiting_polls_until_every_job_has_finished(fake):
    counts = {"pending": 1, "processing": 1, "completed": 0, "failed": 0, "cancelled": 0}
    running = {"id": "b1", "total": 2, "finished": 0, "done": False, "counts": counts}
    done = running | {"finished": 2, "done": True}
    fake.script("/api/v1/batches/b1/", Reply(200, running), Reply(200, running), Reply(200, done))
    fake.script(STATUS, Reply(200, PENDING), Reply(200, PENDING | {"status": "cancelled"}))
    fake.script(STATUS_2, Reply(200, PENDING | {"status": "completed"}))
    client = Client(fake.url, **FAST)
    assert client.wait_batch("b1", poll_s=0.01, progress=False) == done
    finished = client.wait(["j1", "j2"], poll_s=0.01, progress=False)
    assert {job_id: body["status"] for job_id, body in finished.items()} == {
        "j1": "cancelled",
        "j2": "completed",
    }
    assert [urlsplit(seen.path).path for seen in fake.seen[3:]] == [STATUS, STATUS_2, STATUS]


def test_the_cli_waits_for_a_batch_and_downloads_each_job_in_its_own_folder(
    fake, image, tmp_path, capsys
):
    jobs = [
        {"id": "j1", "input_image_name": "a.png", "status": "completed", "error_message": None},
        {"id": "j2", "input_image_name": "a.png", "status": "failed", "error_message": "empty"},
        {"id": "j3", "input_image_name": "a.png", "status": "completed", "error_message": None},
    ]
    counts = {"pending": 0, "processing": 0, "completed": 2, "failed": 1, "cancelled": 0}
    done = {"id": "b1", "total": 3, "finished": 3, "done": True, "counts": counts, "jobs": jobs}
    fake.script("/api/v1/batches/", Reply(201, {"id": "b1", "jobs": jobs, "rejected": []}))
    fake.script("/api/v1/batches/b1/", Reply(200, done))
    for job_id in ("j1", "j3"):
        disposition = {"Content-Disposition": f'attachment; filename="masks_{job_id}.npy"'}
        fake.script(f"/api/v1/predictions/{job_id}/download_masks/", Reply(200, b"x", disposition))
    out = tmp_path / "out"
    argv = ["--url", fake.url, "batch", str(image), "--out", str(out), "--formats", "masks"]
    assert main([*argv, "--quiet"]) == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npy")) == [
        "a-3/masks_j3.npy",
        "a/masks_j1.npy",
    ]
    assert "job j2 (a.png) failed: empty" in capsys.readouterr().err


def test_the_cli_prints_statuses(fake, capsys):
    tiled = PENDING | {
        "status": "processing",
        "progress": {"blocks_done": 3.0, "blocks_total": 16.0},
    }
    fake.script(STATUS, Reply(200, tiled))
    assert main(["--url", fake.url, "status", "j1"]) == 0
    assert capsys.readouterr().out.split() == ["j1", "processing", "blocks", "3/16"]


@pytest.mark.parametrize(
    "argv",
    [
        ["submit"],
        ["submit", "missing.png"],
        ["status"],
        ["status", "j1", "--batch", "b1"],
        ["download", "j1"],
    ],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
