"""Oversized requests against gunicorn itself, with its production settings: the answers are
JSON naming the limit, and an oversized upload is refused before its body is read."""

import socket

import pytest
import requests

from tests.helpers import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(media_root, tmp_path, user):
    from rest_framework.authtoken.models import Token

    port = processes.free_port()
    env = processes.service_env(media_root, tmp_path, CELLSERVE_MAX_UPLOAD_BYTES="1000000")
    web = processes.start_web(env, tmp_path / "web.log", port)
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    yield f"http://127.0.0.1:{port}", http, port
    web.stop()


def test_a_long_query_is_a_json_414(server):
    base, http, _ = server
    response = http.get(f"{base}/api/v1/tiles/inputs/x", params={"style": "x" * 40_000})
    assert response.status_code == 414
    assert response.json()["parameter"] == "query"


def test_large_headers_are_a_json_431(server):
    base, http, _ = server
    response = http.get(f"{base}/api/v1/predictions/", headers={"X-Pad": "y" * 40_000})
    assert response.status_code == 431
    assert response.json()["parameter"] == "headers"


def test_a_declared_huge_body_is_refused_before_it_is_sent(server):
    """Only the headers go out; the 413 comes back without the body (a hang would hit the
    socket's timeout), and the server closes the connection."""
    _, http, port = server
    token = http.headers["Authorization"]
    head = (
        "POST /api/v1/predictions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {token}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {50 * 2**30}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        # The status line and the JSON body may come in separate segments: read to the close.
        answer = b"".join(iter(lambda: sock.recv(65536), b"")).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert '"parameter": "body"' in answer


def test_an_upload_over_the_file_limit_stops_while_streaming(server):
    base, http, _ = server
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 3_000_000
    response = http.post(f"{base}/api/v1/predictions/", files={"input_image": ("a.png", big)})
    assert response.status_code == 413
    assert "input_image" in response.json()
