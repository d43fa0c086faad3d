"""Authenticated clients, in process (DRF's APIClient) and over real HTTP (requests)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def token_session(user) -> requests.Session:
    """A requests session authenticated as ``user``, for integration tests over real HTTP."""
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return http


def poll(http, url, worker_log: Path, done, timeout_s: float, interval_s: float = 0.5):
    """GET ``url`` until ``done(response)``; after ``timeout_s``, fail with the worker's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(url, timeout=10)
        if done(response):
            return response
        time.sleep(interval_s)
    pytest.fail(f"{url} not done after {timeout_s}s; worker log:\n{worker_log.read_text()[-4000:]}")
