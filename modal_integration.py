"""Modal web endpoint that receives cellserve job notifications.

Deploy with ``modal deploy modal_integration.py`` after creating the secret that holds the
shared key: ``modal secret create cellserve-webhook MODAL_WEBHOOK_SECRET=<key>``. Point
cellserve at the URL Modal prints (``MODAL_ENDPOINT_URL``) with the same
``MODAL_WEBHOOK_SECRET``.

The handler logic is ``handle_notification``: plain Python, importable and tested without a
Modal account. It is standalone on purpose (the Modal container does not ship cellserve), so
the signature check repeats the few lines of ``predictions.services.notify.verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping

import modal

logger = logging.getLogger("cellserve.modal")

app = modal.App("cellserve-notifications")
image = modal.Image.debian_slim(python_version="3.11").pip_install("fastapi[standard]")
with image.imports():
    from fastapi import Request, Response

MAX_AGE_S = 300
HIGH_CELL_COUNT = int(os.environ.get("HIGH_CELL_COUNT", "1000"))
SLOW_JOB_SECONDS = float(os.environ.get("SLOW_JOB_SECONDS", "60"))


def signature_is_valid(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    timestamp = headers.get("x-cellserve-timestamp", "")
    signature = headers.get("x-cellserve-signature", "")
    try:
        fresh = abs(now - float(timestamp)) <= MAX_AGE_S
    except ValueError:
        return False
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return fresh and hmac.compare_digest(f"sha256={digest.hexdigest()}", signature)


def flags_for(payload: Mapping) -> list[str]:
    """What deserves a human's attention: very many cells, slow jobs, failures."""
    flags = []
    if (payload.get("num_cells") or 0) > HIGH_CELL_COUNT:
        flags.append("high_cell_count")
    if (payload.get("processing_time") or 0) > SLOW_JOB_SECONDS:
        flags.append("slow_job")
    if payload.get("status") == "failed":
        flags.append("failed")
    return flags


def handle_notification(
    headers: Mapping[str, str], body: bytes, secret: str, now: float | None = None
) -> tuple[int, dict]:
    """Verify, parse and process one notification; returns (HTTP status, JSON body)."""
    headers = {k.lower(): v for k, v in headers.items()}
    if not secret:
        return 500, {"error": "MODAL_WEBHOOK_SECRET is not configured on the receiver"}
    if not signature_is_valid(secret, headers, body, time.time() if now is None else now):
        return 401, {"error": "invalid or stale signature"}
    try:
        payload = json.loads(body)
        job_id = payload["job_id"]
    except (ValueError, KeyError, TypeError):
        return 400, {"error": "body is not a cellserve notification"}
    flags = flags_for(payload)
    logger.info(
        "job %s %s: %s cells in %s s, mask %s%s",
        job_id,
        payload.get("status"),
        payload.get("num_cells"),
        payload.get("processing_time"),
        payload.get("mask_shape"),
        f" flags={flags}" if flags else "",
    )
    return 200, {"job_id": job_id, "status": payload.get("status"), "flags": flags}


@app.function(image=image, secrets=[modal.Secret.from_name("cellserve-webhook")])
@modal.fastapi_endpoint(method="POST")
async def receive(request: Request) -> Response:
    status, body = handle_notification(
        dict(request.headers), await request.body(), os.environ.get("MODAL_WEBHOOK_SECRET", "")
    )
    return Response(json.dumps(body), status_code=status, media_type="application/json")
