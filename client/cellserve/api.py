"""The cellserve HTTP API as Python calls: submit images, wait for the jobs, download results.

Every request is retried on what a busy or restarting server answers (connection refused,
timeouts, 5xx, 429), so a long script survives a deploy; any other 4xx is the caller's mistake
and raises ``ApiError`` at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from email.message import Message
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Self

import requests
from tqdm import tqdm

DEFAULT_URL = "http://127.0.0.1:8000"
# Format names as the command line spells them, and the job action that serves each one.
FORMAT_ACTIONS = {
    "masks": "download_masks",
    "flows": "download_flows",
    "overlay": "download_segmented_image",
    "cells": "download_individual_cells",
    "geojson": "download_geojson",
    "rois": "download_rois",
    "labels": "download_labels",
    "csv": "download_csv",
    "seg": "download_seg",
}
# Metrics are JSON from their own endpoint, not an attachment, so they get a fixed file name.
METRICS = "metrics"
METRICS_FILE = "metrics.json"
FORMATS = (*FORMAT_ACTIONS, METRICS)
DEFAULT_FORMATS = ("masks", "metrics", "csv", "geojson", "rois", "labels")
FINISHED = frozenset({"completed", "failed", "cancelled"})
# A server asking for a longer pause than this is still asked again after it: a client that
# sleeps for an hour on one header looks hung.
MAX_DELAY_S = 60.0
CHUNK_BYTES = 1 << 20
# How much of a body that is not JSON (a proxy's HTML error page) an error message quotes.
TEXT_LIMIT = 500

logger = logging.getLogger(__name__)

Job = dict[str, Any]
Uploads = list[tuple[str, tuple[str, BinaryIO]]]
OpenUploads = Callable[[ExitStack], Uploads]


class ApiError(Exception):
    """The server refused a request, or kept failing it: its ``status`` and decoded ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {describe(body)}")


def describe(body: Any) -> str:
    """The problems in a DRF error body as one line: ``diameter: Ensure this value is ...``."""
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        return "; ".join(f"{field}: {describe(problems)}" for field, problems in body.items())
    if isinstance(body, list):
        return " ".join(describe(item) for item in body)
    return str(body)


def safe_basename(name: str) -> str:
    """The last component of a name the server chose, never a way out of the target folder."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return "" if base in {".", ".."} else base


def attachment_name(content_disposition: str | None) -> str:
    """The file name a Content-Disposition header gives (``filename*`` decoded), or ``""``."""
    message = Message()
    message["content-disposition"] = content_disposition or ""
    return safe_basename(message.get_filename() or "")


def form(params: dict[str, object]) -> dict[str, str]:
    """Job parameters as form fields; ``None`` leaves the server's default."""
    return {name: form_value(value) for name, value in params.items() if value is not None}


def form_value(value: object) -> str:
    # DRF reads lowercase booleans and comma-separated channel lists.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def uploads(paths: Iterable[str | Path]) -> OpenUploads:
    """A function that opens every image as an ``input_image`` field, called for each attempt:
    a retried request must send the whole file again, and a file object sent once is spent."""
    files = [Path(path) for path in paths]

    def open_all(stack: ExitStack) -> Uploads:
        return [("input_image", (f.name, stack.enter_context(f.open("rb")))) for f in files]

    return open_all


def decoded_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:TEXT_LIMIT] or response.reason


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def resendable(method: str, error: Exception) -> bool:
    """A POST whose answer timed out may have made its job already: sending it again would
    make a second. Only one that never reached the server (no connection) is sent again."""
    if method.upper() != "POST":
        return True
    return isinstance(error, requests.ConnectionError) and not isinstance(
        error, requests.ReadTimeout
    )


def save(response: requests.Response, target: Path) -> Path:
    """Streams the body to ``target`` through a ``.part`` file, so an interrupted download
    never leaves something that looks finished."""
    partial = target.with_name(target.name + ".part")
    try:
        with response, partial.open("wb") as handle:
            for chunk in response.iter_content(CHUNK_BYTES):
                handle.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial.replace(target)


class Client:
    """A session with one cellserve server; ``url`` and ``token`` default to the environment
    variables ``CELLSERVE_URL`` and ``CELLSERVE_TOKEN``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 60,
    ) -> None:
        self.url = (url or os.environ.get("CELLSERVE_URL") or DEFAULT_URL).rstrip("/")
        self.retries = max(retries, 0)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.session = requests.Session()
        key = token or os.environ.get("CELLSERVE_TOKEN")
        if key:
            self.session.headers["Authorization"] = f"Token {key}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def submit(self, path: str | Path, **params: object) -> str:
        """One job for the image at ``path``; returns its id."""
        created = self._json(
            "POST", "/api/v1/predictions/", files=uploads([path]), data=form(params)
        )
        return str(created["id"])

    def submit_batch(self, paths: Iterable[str | Path], **params: object) -> Job:
        """One batch of every image (or one .zip of images); returns the created batch,
        its ``jobs`` and the files it ``rejected``."""
        return self._json("POST", "/api/v1/batches/", files=uploads(paths), data=form(params))

    def status(self, job_id: str) -> Job:
        return self._json("GET", f"/api/v1/predictions/{job_id}/status/")

    def batch(self, batch_id: str) -> Job:
        return self._json("GET", f"/api/v1/batches/{batch_id}/")

    def wait(
        self, job_ids: Iterable[str], *, poll_s: float = 1.0, progress: bool = True
    ) -> dict[str, Job]:
        """Polls until every job has finished; returns each job's last status, in order."""
        ids = list(dict.fromkeys(job_ids))
        finished: dict[str, Job] = {}
        with tqdm(total=len(ids), desc="jobs", unit="job", disable=not progress) as bar:
            while len(finished) < len(ids):
                for job_id in (i for i in ids if i not in finished):
                    body = self.status(job_id)
                    if body["status"] in FINISHED:
                        finished[job_id] = body
                        bar.update()
                if len(finished) < len(ids):
                    time.sleep(poll_s)
        return {job_id: finished[job_id] for job_id in ids}

    def wait_batch(self, batch_id: str, *, poll_s: float = 1.0, progress: bool = True) -> Job:
        """Polls the batch until all of its jobs have finished; returns its last state."""
        body = self.batch(batch_id)
        with tqdm(total=body["total"], desc="batch", unit="job", disable=not progress) as bar:
            while True:
                bar.update(body["finished"] - bar.n)
                bar.set_postfix({name: n for name, n in body["counts"].items() if n})
                if body["done"]:
                    return body
                time.sleep(poll_s)
                body = self.batch(batch_id)

    def download(
        self, job_id: str, out_dir: str | Path, formats: Iterable[str] = DEFAULT_FORMATS
    ) -> list[Path]:
        """Saves the job's files in ``out_dir`` under the names the server gives them.

        A format this job has no file for (404) is logged and skipped: a job without cells
        has no ROIs, and that should not cost the user the other files.
        """
        wanted = list(formats)
        unknown = sorted(set(wanted) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown formats {unknown}; choose from {', '.join(FORMATS)}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        saved = []
        for name in wanted:
            try:
                saved.append(self._download_format(job_id, name, out))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                logger.warning("job %s has no %s: %s", job_id, name, describe(exc.body))
        return saved

    def download_batch_zip(
        self, batch_id: str, target: str | Path, formats: Iterable[str] = DEFAULT_FORMATS
    ) -> Path:
        """Saves every job's files of a batch as one ZIP at ``target``."""
        response = self._request(
            "GET",
            f"/api/v1/batches/{batch_id}/download_results/",
            params={"formats": ",".join(formats)},
            stream=True,
        )
        return save(response, Path(target))

    def _download_format(self, job_id: str, name: str, out: Path) -> Path:
        if name == METRICS:
            response = self._request("GET", f"/api/v1/predictions/{job_id}/metrics/", stream=True)
            return save(response, out / METRICS_FILE)
        action = FORMAT_ACTIONS[name]
        response = self._request("GET", f"/api/v1/predictions/{job_id}/{action}/", stream=True)
        filename = attachment_name(response.headers.get("Content-Disposition"))
        return save(response, out / (filename or f"{name}_{job_id}"))

    def _json(self, method: str, path: str, **kwargs: Any) -> Job:
        return self._request(method, path, **kwargs).json()

    def _request(
        self, method: str, path: str, *, files: OpenUploads | None = None, **kwargs: Any
    ) -> requests.Response:
        """Sends the request, retrying what may pass (see the module's docstring); an error
        answer, once no retry is left, raises ``ApiError``."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._send(method, path, files, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last or not resendable(method, exc):
                    raise
                time.sleep(self._delay(attempt, None))
                continue
            if last or not retryable(response.status_code):
                break
            response.close()
            time.sleep(self._delay(attempt, response.headers.get("Retry-After")))
        if response.status_code >= 400:
            raise ApiError(response.status_code, decoded_body(response))
        return response

    def _send(
        self, method: str, path: str, files: OpenUploads | None, **kwargs: Any
    ) -> requests.Response:
        # The request body is sent in full before the call returns, so the uploads can be
        # closed here even when the response is streamed.
        with ExitStack() as stack:
            return self.session.request(
                method,
                self.url + path,
                files=files(stack) if files else None,
                timeout=self.timeout_s,
                **kwargs,
            )

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff, but never sooner than a numeric Retry-After asks."""
        delay = self.backoff_s * 2**attempt
        if retry_after and retry_after.strip().isdecimal():
            delay = max(delay, float(retry_after))
        return min(delay, MAX_DELAY_S)
