"""Job notifications: a signed JSON POST to a downstream endpoint (a Modal web endpoint).

The signature is HMAC-SHA256 over ``"{timestamp}.{body}"`` with a shared secret, sent as
``X-Cellserve-Signature: sha256=<hex>`` beside ``X-Cellserve-Timestamp``; the receiver
recomputes it and refuses stale timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from predictions.models import PredictionJob, WebhookDelivery

SIGNATURE_HEADER = "X-Cellserve-Signature"
TIMESTAMP_HEADER = "X-Cellserve-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300,
           now: float | None = None) -> bool:  # fmt: skip
    """True when the signature matches and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, secret: str, timeout_s: float) -> Attempt:
    """One delivery attempt; network errors and non-2xx answers are reported, not raised."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    started = time.perf_counter()
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout_s)
    except requests.Timeout:
        return Attempt(None, f"timed out after {timeout_s:g}s", time.perf_counter() - started)
    except requests.RequestException as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    error = "" if response.ok else f"HTTP {response.status_code}: {response.text[:200]}"
    return Attempt(response.status_code, error, elapsed)


def deliver(job: PredictionJob, url: str, payload: dict[str, Any]) -> WebhookDelivery:
    """POST ``payload`` once and record the attempt as the job's next WebhookDelivery."""
    attempt = post(url, encode(payload), settings.MODAL_WEBHOOK_SECRET, settings.WEBHOOK_TIMEOUT_S)
    return WebhookDelivery.objects.create(
        job=job,
        attempt=job.deliveries.count() + 1,
        url=url,
        status_code=attempt.status_code,
        error=attempt.error,
        succeeded=attempt.ok,
        duration_s=attempt.duration_s,
    )
