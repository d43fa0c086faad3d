"""The Modal receiver's logic, fed with notifications signed by cellserve's own signer."""

import time

import modal

import modal_integration as receiver
from predictions.services import notify

SECRET = "shared-key"


def signed(payload: dict, secret: str = SECRET, at: float | None = None):
    body = notify.encode(payload)
    timestamp = str(int(time.time() if at is None else at))
    headers = {
        notify.TIMESTAMP_HEADER: timestamp,
        notify.SIGNATURE_HEADER: notify.sign(secret, timestamp, body),
    }
    return headers, body


def test_module_defines_a_modal_web_endpoint():
    assert receiver.app.name == "cellserve-notifications"
    assert isinstance(receiver.receive, modal.Function)


def test_valid_notification_is_accepted_and_flagged():
    headers, body = signed(
        {"job_id": "j1", "status": "completed", "num_cells": 5000, "processing_time": 120.0}
    )
    status, answer = receiver.handle_notification(headers, body, SECRET)
    assert status == 200
    assert answer == {"job_id": "j1", "status": "completed",
                      "flags": ["high_cell_count", "slow_job"]}  # fmt: skip


def test_ordinary_and_failed_jobs():
    headers, body = signed({"job_id": "j2", "status": "completed", "num_cells": 12,
                            "processing_time": 1.5})  # fmt: skip
    assert receiver.handle_notification(headers, body, SECRET)[1]["flags"] == []
    headers, body = signed({"job_id": "j3", "status": "failed", "num_cells": None})
    assert receiver.handle_notification(headers, body, SECRET)[1]["flags"] == ["failed"]


def test_bad_signatures_and_replays_are_refused():
    headers, body = signed({"job_id": "j4", "status": "completed"}, secret="other-key")
    assert receiver.handle_notification(headers, body, SECRET)[0] == 401
    headers, body = signed({"job_id": "j5", "status": "completed"}, at=time.time() - 3600)
    assert receiver.handle_notification(headers, body, SECRET)[0] == 401
    headers, body = signed({"job_id": "j6", "status": "completed"})
    assert receiver.handle_notification(headers, body + b" ", SECRET)[0] == 401


def test_unsigned_garbage_and_missing_secret():
    headers, body = signed({"no_job": True})
    assert receiver.handle_notification(headers, body, SECRET)[0] == 400
    assert receiver.handle_notification(headers, body, "")[0] == 500
