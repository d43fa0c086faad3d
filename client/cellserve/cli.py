"""``cellserve``: send images to a cellserve server, wait for the jobs, download the results.

Ids go to stdout, one a line, so scripts can capture them; progress bars and problems go to
stderr. Exit status: 0 when every job completed, 1 when a job failed, was cancelled or was
refused, or a request failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from cellserve.api import (
    DEFAULT_FORMATS,
    DEFAULT_URL,
    FORMATS,
    ApiError,
    Client,
    Job,
    describe,
    safe_basename,
)

OK, FAILED, INTERRUPTED = 0, 1, 130
PROBLEMS = frozenset({"failed", "cancelled"})
DESCRIPTION = "Send images to a cellserve server, wait for the jobs, download the results."
EPILOG = (
    "Ids go to stdout, one a line. Exit status: 0 when every job completed, 1 when a job "
    "failed, was cancelled or was refused, or a request failed, 2 for a usage error."
)


def output(line: str) -> None:
    # tqdm.write keeps a progress bar on stderr intact around the line.
    tqdm.write(line, file=sys.stdout)


def complain(line: str) -> None:
    tqdm.write(line, file=sys.stderr)


def exit_status(ok: bool) -> int:
    return OK if ok else FAILED


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def param(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not (name and equals):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def format_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown formats {unknown or [text]}; choose from {','.join(FORMATS)}"
        )
    return names


def label(job_id: str, name: str | None) -> str:
    return f"job {job_id} ({name})" if name else f"job {job_id}"


def job_dirs(names: Sequence[str], out: Path) -> list[Path]:
    """``out/<image stem>/`` for each job; a stem seen before gets -2, -3, ... so that two
    images of the same name never overwrite each other's results."""
    taken: set[str] = set()
    dirs = []
    for name in names:
        # A stem of dots ("...tif") would name the folder above ``out``.
        stem = PurePosixPath(safe_basename(name)).stem.strip(".") or "image"
        candidate, n = stem, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        dirs.append(out / candidate)
    return dirs


def job_params(args: argparse.Namespace) -> dict[str, object]:
    return {**dict(args.param), "model_type": args.model}


def conclude(
    client: Client, args: argparse.Namespace, jobs: list[Job], names: dict[str, str]
) -> bool:
    """Reports each job that did not complete and, with ``--out``, downloads the others;
    True when every job completed."""
    for job in jobs:
        if job["status"] != "completed":
            complain(problem(job, names.get(job["id"])))
    if args.out:
        download_completed(client, args, jobs, names)
    return all(job["status"] == "completed" for job in jobs)


def problem(job: Job, name: str | None) -> str:
    status = job["status"] if job["status"] in PROBLEMS else f"is {job['status']}"
    reason = job.get("error_message")
    return f"{label(job['id'], name)} {status}" + (f": {reason}" if reason else "")


def download_completed(
    client: Client, args: argparse.Namespace, jobs: list[Job], names: dict[str, str]
) -> None:
    # Folders are given out over every job, so a job's folder does not depend on which others
    # failed; jobs known only by id (``download ID``) get a folder named after the id.
    dirs = job_dirs([names.get(job["id"], job["id"]) for job in jobs], args.out)
    wanted = [
        (job["id"], d) for job, d in zip(jobs, dirs, strict=True) if job["status"] == "completed"
    ]
    for job_id, folder in tqdm(wanted, desc="download", unit="job", disable=args.quiet):
        client.download(job_id, folder, args.formats)


def run_submit(client: Client, args: argparse.Namespace) -> int:
    params = job_params(args)
    names: dict[str, str] = {}
    refused = False
    for path in tqdm(args.images, desc="upload", unit="image", disable=args.quiet):
        try:
            job_id = client.submit(path, **params)
        except ApiError as exc:
            complain(f"{path}: {exc}")
            refused = True
            continue
        names[job_id] = path.name
        output(job_id)
    if not (args.wait or args.out):
        return exit_status(not refused)
    jobs = list(client.wait(names, progress=not args.quiet).values())
    return exit_status(conclude(client, args, jobs, names) and not refused)


def run_batch(client: Client, args: argparse.Namespace) -> int:
    created = client.submit_batch(args.images, **job_params(args))
    output(created["id"])
    for rejected in created.get("rejected", []):
        complain(f"rejected {rejected['name']}: {describe(rejected['errors'])}")
    accepted = not created.get("rejected")
    if not (args.wait or args.out):
        return exit_status(accepted)
    body = client.wait_batch(created["id"], progress=not args.quiet)
    names = {job["id"]: job["input_image_name"] for job in body["jobs"]}
    return exit_status(conclude(client, args, body["jobs"], names) and accepted)


def status_line(job: Job, name: str | None = None) -> str:
    parts = [job["id"], f"{job['status']:<10}"]
    if name:
        parts.append(name)
    if job.get("progress"):
        blocks = job["progress"]
        parts.append(f"blocks {blocks['blocks_done']:g}/{blocks['blocks_total']:g}")
    if job.get("error_message"):
        parts.append(job["error_message"])
    return "  ".join(str(part) for part in parts)


def batch_line(body: Job) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in body["counts"].items() if n)
    done = ", done" if body["done"] else ""
    return f"batch {body['id']}: {body['finished']}/{body['total']} finished ({counts}){done}"


def show(answer: object, lines: list[str], as_json: bool) -> None:
    for line in [json.dumps(answer, indent=2)] if as_json else lines:
        output(line)


def run_status(client: Client, args: argparse.Namespace) -> int:
    if args.batch:
        body = client.batch(args.batch)
        jobs = body["jobs"]
        lines = [batch_line(body), *(status_line(job, job["input_image_name"]) for job in jobs)]
        show(body, lines, args.json)
    else:
        jobs = [client.status(job_id) for job_id in args.ids]
        show(jobs, [status_line(job) for job in jobs], args.json)
    return exit_status(not any(job["status"] in PROBLEMS for job in jobs))


def run_download(client: Client, args: argparse.Namespace) -> int:
    if args.batch:
        jobs = client.batch(args.batch)["jobs"]
        names = {job["id"]: job["input_image_name"] for job in jobs}
    else:
        jobs = [client.status(job_id) for job_id in args.ids]
        names = {}
    return exit_status(conclude(client, args, jobs, names))


def add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=existing_file, metavar="IMAGE")
    parser.add_argument("--model", help="model_type: cpsam or watershed (server default)")
    parser.add_argument(
        "--param",
        action="append",
        type=param,
        default=[],
        metavar="NAME=VALUE",
        help="a job parameter (diameter=30, channels=0,1, tiled=true, ...); repeatable",
    )
    parser.add_argument("--wait", action="store_true", help="wait for the jobs to finish")
    add_download_options(parser, "DIR/<image stem>/ (implies --wait)", required=False)


def add_download_options(parser: argparse.ArgumentParser, folders: str, *, required: bool) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        required=required,
        metavar="DIR",
        help=f"download each completed job's files into {folders}",
    )
    parser.add_argument(
        "--formats",
        type=format_list,
        default=list(DEFAULT_FORMATS),
        metavar="LIST",
        help=f"comma-separated, of {', '.join(FORMATS)} (default: {','.join(DEFAULT_FORMATS)})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="job ids")
    parser.add_argument("--batch", metavar="ID", help="a batch id, instead of job ids")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cellserve", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--url", help=f"server (default: $CELLSERVE_URL, else {DEFAULT_URL})")
    parser.add_argument("--token", help="API token (default: $CELLSERVE_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="one job per image")
    add_job_options(submit)
    submit.set_defaults(run=run_submit)

    batch = commands.add_parser("batch", help="one batch of every image (or of one .zip)")
    add_job_options(batch)
    batch.set_defaults(run=run_batch)

    status = commands.add_parser("status", help="jobs' or a batch's status")
    add_target_options(status)
    status.add_argument("--json", action="store_true", help="the server's answer as JSON")
    status.set_defaults(run=run_status)

    download = commands.add_parser("download", help="completed jobs' result files")
    add_target_options(download)
    add_download_options(
        download, "DIR/<job id>/, or DIR/<image stem>/ with --batch", required=True
    )
    download.set_defaults(run=run_download)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.command in {"status", "download"} and bool(args.ids) == bool(args.batch):
        parser.error(f"{args.command}: give job ids or --batch ID, not both or neither")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    # The client logs the formats a job has no file for: shown on stderr, above the bars.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        with logging_redirect_tqdm(), Client(args.url, args.token) as client:
            return args.run(client, args)
    except (ApiError, requests.RequestException) as exc:
        complain(f"request failed: {exc}")
        return FAILED
    except KeyboardInterrupt:
        return INTERRUPTED
