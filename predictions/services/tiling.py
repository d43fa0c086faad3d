"""Tiled jobs: a large 2D image segmented in overlapping blocks by many tasks, then stitched.

- **Plan.** ``start`` (the job's segment step) records one ``PredictionBlock`` row per block of
  ``blocks.plan_blocks`` and sends one ``segment_block`` task per block on the ``gpu`` queue, as
  a Celery group: every worker of the queue takes blocks.
- **Blocks.** Each block task reads only its window, skips it cheaply when it has no
  foreground, segments it and stores its labels, under a lease of its own (the job's rules: a
  lapsed lease is re-sent by the watchdog, a failure is retried, and after
  ``CELLSERVE_MAX_ATTEMPTS`` the job fails with the block's reason).
- **Stitching.** The block that finishes last moves the job to ``stitch`` in one conditional
  UPDATE, so exactly one stitching task is ever sent; it runs under the job's lease, writes the
  masks block by block into a memory-mapped ``masks.npy`` and measures every cell once.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.files import local_path
from predictions.models import BlockStatus, JobStage, JobStatus, PredictionBlock, PredictionJob
from predictions.services import axes, blocks, engines, images, leases, tiled_outputs

logger = logging.getLogger(__name__)

BLOCK_WORK = "results/work/{id}/block_{index:05d}.npz"
BLOCK_WORK_DIR = "results/work/{id}"
LOST = "its worker stopped (out of memory?)"


def wants_blocks(layout: axes.Layout, requested: bool | None) -> bool:
    """Whether a job on this image is tiled: as asked, or when it is above the threshold."""
    if layout.is_stack:
        if requested:
            raise axes.AxesError("tiled jobs are 2D; a z-stack is segmented whole", "tiled")
        return False
    _planes, height, width, _channels = layout.shape
    if requested is None:
        return bool(height * width > settings.CELLSERVE_TILED_THRESHOLD_PIXELS)
    return requested


def block_overlap(diameter: float | None) -> int:
    """The configured overlap, and never under two diameters: a cell cut at one window's edge
    must lie whole inside its neighbour's."""
    return max(int(settings.CELLSERVE_BLOCK_OVERLAP), math.ceil(2 * (diameter or 0)))


def plan(job: PredictionJob) -> list[blocks.Block]:
    if job.block_size is None or job.block_overlap is None or job.image_metadata is None:
        raise ValueError(f"job {job.pk} is not a tiled job")
    shape = job.image_metadata["shape"]
    return blocks.plan_blocks((shape["Y"], shape["X"]), job.block_size, job.block_overlap)


# --- planning ---------------------------------------------------------------------------------


def start(lease: leases.Lease) -> None:
    """The segment step of a tiled job: record its blocks and send them to the gpu workers."""
    job = leases.held_job(lease)
    planned = plan(job)
    with leases.fenced(lease):
        # Each row has its pickup deadline from the start: if sending the group fails, or this
        # process dies once it commits, the watchdog sends them.
        due = leases.pickup_deadline()
        PredictionBlock.objects.bulk_create(
            [PredictionBlock(job=job, index=b.index, lease_expires_at=due) for b in planned],
            ignore_conflicts=True,
        )
        # Unheld while its blocks run: each block has its own lease, the job none to lapse.
        leases.release(job.pk, stage=JobStage.BLOCKS, blocks_total=len(planned))
        transaction.on_commit(lambda: send_blocks(job.pk))


def send_blocks(job_id: uuid.UUID) -> None:
    """Send every block still pending (a re-planned job resends only those)."""
    from celery import group

    from predictions import tasks

    pending = list(
        PredictionBlock.objects.filter(job_id=job_id, status=BlockStatus.PENDING).values_list(
            "index", "attempts"
        )
    )
    result: Any = group(
        tasks.segment_block.s(str(job_id), index, attempts + 1) for index, attempts in pending
    ).apply_async()
    for (index, _), child in zip(pending, result.children or [], strict=False):
        _sent(job_id, index, child.id)


def _sent(job_id: uuid.UUID, index: int, task_id: str) -> None:
    """Remember a pending block's task, for a cancel to revoke (its deadline is set already)."""
    PredictionBlock.objects.filter(job_id=job_id, index=index, status=BlockStatus.PENDING).update(
        task_id=task_id
    )


# --- one block --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockLease:
    job_id: uuid.UUID
    index: int
    token: uuid.UUID
    attempt: int


def claim_block(job_id: str, index: int, attempt: int, task_id: str) -> BlockLease | None:
    """Take a pending block of a job still segmenting blocks; None for a stale message."""
    token = uuid.uuid4()
    updated = PredictionBlock.objects.filter(
        job_id=uuid.UUID(job_id),
        index=index,
        status=BlockStatus.PENDING,
        attempts=attempt - 1,
        job__status=JobStatus.PROCESSING,
        job__stage=JobStage.BLOCKS,
    ).update(
        status=BlockStatus.RUNNING,
        attempts=attempt,
        lease_token=token,
        lease_expires_at=timezone.now() + leases.lease_duration(),
        task_id=task_id,
    )
    return BlockLease(uuid.UUID(str(job_id)), index, token, attempt) if updated else None


def renew_block(lease: BlockLease) -> bool:
    return bool(
        _held_block(lease).update(lease_expires_at=timezone.now() + leases.lease_duration())
    )


def block_heartbeat(lease: BlockLease) -> leases.Heartbeat:
    name = f"job {lease.job_id} block {lease.index}"
    return leases.Heartbeat(lambda: renew_block(lease), settings.CELLSERVE_LEASE_S / 4, name)


def _held_block(lease: BlockLease):  # type: ignore[no-untyped-def]  # a QuerySet of blocks
    return PredictionBlock.objects.filter(
        job_id=lease.job_id,
        index=lease.index,
        lease_token=lease.token,
        status=BlockStatus.RUNNING,
        job__status=JobStatus.PROCESSING,
        job__stage=JobStage.BLOCKS,
    )


@contextmanager
def block_fenced(lease: BlockLease) -> Iterator[PredictionJob]:
    """The job's row, locked, while this block's lease still holds; LeaseLost otherwise.

    Cancelling and deleting take the same job lock, so a block is stored wholly or not at all.
    """
    with transaction.atomic():
        job = (
            PredictionJob.objects.select_for_update()
            .filter(pk=lease.job_id, status=JobStatus.PROCESSING, stage=JobStage.BLOCKS)
            .first()
        )
        if job is None or not _held_block(lease).exists():
            raise leases.LeaseLost(f"block {lease.index} of job {lease.job_id} is no longer held")
        yield job


def segment_block(lease: BlockLease) -> None:
    """Segment one block's window and store its labels (local ids 1..n)."""
    job = PredictionJob.objects.get(pk=lease.job_id)
    block = plan(job)[lease.index]
    image = read_block(job, block)
    labels = None
    if blocks.has_foreground(image):
        from predictions.services import jobs

        result = engines.get_engine(job.model_type).segment(image, jobs.segmentation_params(job))
        labels = images.relabel_sequential(result.masks)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, labels=labels if labels is not None else np.zeros(0, np.uint8))
    with block_fenced(lease):
        name = BLOCK_WORK.format(id=job.pk, index=lease.index)
        default_storage.delete(name)
        default_storage.save(name, buffer)
        _held_block(lease).update(
            status=BlockStatus.DONE,
            lease_token=None,
            lease_expires_at=None,
            skipped=labels is None,
            num_cells=int(labels.max(initial=0)) if labels is not None else 0,
            error_message="",
        )
        transaction.on_commit(lambda: maybe_stitch(lease.job_id))


def read_block(job: PredictionJob, block: blocks.Block) -> np.ndarray:
    """The block's window of the job's input, channel-last, with the job's channels."""
    return source(job).window(block.window)


def source(job: PredictionJob) -> tiled_outputs.Source:
    pixel_size = job.pixel_size_um or (job.image_metadata or {}).get("pixel_size_um")
    from predictions.services import jobs

    return tiled_outputs.Source(
        local_path(job.input_image), jobs.job_reading(job), job.channels, pixel_size
    )


def retry_or_fail_block(lease: BlockLease, reason: str) -> None:
    """A block that raised: send it again, or fail the job once it is out of attempts."""
    if lease.attempt >= settings.CELLSERVE_MAX_ATTEMPTS:
        fail_for_block(lease.job_id, lease.index, reason)
        return
    if _held_block(lease).update(
        status=BlockStatus.PENDING,
        lease_token=None,
        lease_expires_at=leases.pickup_deadline(),
        error_message=reason,
    ):
        _send_block(lease.job_id, lease.index, lease.attempt + 1)


def _send_block(job_id: uuid.UUID, index: int, attempt: int) -> None:
    from predictions import tasks

    result = tasks.segment_block.delay(str(job_id), index, attempt)
    _sent(job_id, index, result.id)


def fail_for_block(job_id: uuid.UUID, index: int, reason: str) -> None:
    from predictions.services import jobs

    with transaction.atomic():
        job = (
            PredictionJob.objects.select_for_update()
            .filter(pk=job_id, status=JobStatus.PROCESSING)
            .first()
        )
        if job is None:
            return
        jobs.end_failed(job, f"block {index} failed {job_attempts(job)}: {reason}")


def job_attempts(job: PredictionJob) -> str:
    count = settings.CELLSERVE_MAX_ATTEMPTS
    return "once" if count == 1 else f"{count} times"


def maybe_stitch(job_id: uuid.UUID) -> None:
    """Move the job to stitching if no block is left; only one caller can win the UPDATE."""
    undone = PredictionBlock.objects.filter(job_id=OuterRef("pk")).exclude(status=BlockStatus.DONE)
    waiting = PredictionJob.objects.filter(
        pk=job_id, status=JobStatus.PROCESSING, stage=JobStage.BLOCKS
    ).filter(~Exists(undone))
    if waiting.update(stage=JobStage.STITCH, lease_expires_at=leases.pickup_deadline()):
        from predictions.services import jobs

        attempts = PredictionJob.objects.values_list("attempts", flat=True).get(pk=job_id)
        jobs.send(job_id, JobStage.STITCH, attempts + 1)


# --- faults -----------------------------------------------------------------------------------


def requeue_expired_blocks(now: datetime | None = None) -> int:
    """Re-send blocks whose worker stopped renewing their lease, failing the job after the last
    attempt, and pending blocks past their pickup deadline (the same attempt again: their
    message may be lost). Returns how many blocks were handled."""
    now = now or timezone.now()
    handled = 0
    with transaction.atomic():
        expired = PredictionBlock.objects.select_for_update(skip_locked=True).filter(
            status__in=(BlockStatus.PENDING, BlockStatus.RUNNING),
            lease_expires_at__lt=now,
            job__status=JobStatus.PROCESSING,
        )
        for block in expired:
            handled += 1
            lost = block.status == BlockStatus.RUNNING
            if lost and block.attempts >= settings.CELLSERVE_MAX_ATTEMPTS:
                transaction.on_commit(partial(fail_for_block, block.job_id, block.index, LOST))
                continue
            PredictionBlock.objects.filter(pk=block.pk).update(
                status=BlockStatus.PENDING,
                lease_token=None,
                lease_expires_at=leases.pickup_deadline(),
            )
            resend = partial(_send_block, block.job_id, block.index, block.attempts + 1)
            transaction.on_commit(resend)
    return handled


def stitch_finished(now: datetime | None = None) -> int:
    """Move to stitching every job whose blocks are all done but that is still segmenting
    blocks: its last block's worker died between storing it and ``maybe_stitch``."""
    undone = PredictionBlock.objects.filter(job_id=OuterRef("pk")).exclude(status=BlockStatus.DONE)
    stalled = PredictionJob.objects.filter(
        status=JobStatus.PROCESSING, stage=JobStage.BLOCKS, tiled=True
    ).filter(~Exists(undone), blocks_total__gt=0)
    ids = list(stalled.values_list("pk", flat=True))
    for job_id in ids:
        maybe_stitch(job_id)
    return len(ids)


def expire_block(job_id: str, index: int) -> None:
    """End a block's lease now: its worker process is known to be dead."""
    PredictionBlock.objects.filter(
        job_id=uuid.UUID(job_id), index=index, status=BlockStatus.RUNNING
    ).update(lease_expires_at=timezone.now())


def progress(job: PredictionJob) -> dict[str, float]:
    """Blocks done of the total (all of them once the job has completed)."""
    done = PredictionBlock.objects.filter(job=job, status=BlockStatus.DONE).count()
    total = job.blocks_total
    return {"blocks_done": done, "blocks_total": total, "fraction": done / total if total else 0.0}


def revoke_blocks(job_id: uuid.UUID) -> list[str]:
    """The task ids of the job's unfinished blocks, for a cancel to revoke."""
    return list(
        PredictionBlock.objects.filter(job_id=job_id)
        .exclude(status=BlockStatus.DONE)
        .exclude(task_id="")
        .values_list("task_id", flat=True)
    )


def delete_block_files(job_id: uuid.UUID) -> None:
    directory = BLOCK_WORK_DIR.format(id=job_id)
    try:
        _dirs, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{directory}/{name}")


def load_block(job_id: uuid.UUID, index: int) -> np.ndarray | None:
    with default_storage.open(BLOCK_WORK.format(id=job_id, index=index), "rb") as handle:
        labels = np.load(io.BytesIO(handle.read()), allow_pickle=False)["labels"]
    return labels if labels.ndim == 2 else None
