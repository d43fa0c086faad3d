"""Faults for the fault-injection tests, loaded into real workers (CELLSERVE_TEST_WORKER_IMPORTS).

Keyed on the name a job's image was uploaded with, so one worker can serve every test:
- ``die-*``: the process executing the job kills itself (SIGKILL) on every delivery, as a
  poison image that exhausts memory would have the OOM killer do;
- ``slow-*``: the first delivery sleeps CELLSERVE_TEST_SLOW_S seconds while holding the lease,
  leaving the test time to kill the worker or its broker mid-job;
- tiled jobs, on block 1: ``kill-block-*`` kills the process on the block's first delivery,
  ``fail-block-*`` raises on every delivery, ``slow-blocks-*`` sleeps a second in every block.
"""

import os
import signal
import time

from predictions.services import jobs, tiling

_segment = jobs.segment
_segment_block = tiling.segment_block


def segment(lease):
    job = jobs.PredictionJob.objects.get(pk=lease.job_id)
    if job.input_image_name.startswith("die-"):
        os.kill(os.getpid(), signal.SIGKILL)
    if job.input_image_name.startswith("slow-") and lease.attempt == 1:
        time.sleep(float(os.environ.get("CELLSERVE_TEST_SLOW_S", "10")))
    return _segment(lease)


jobs.segment = segment


def segment_block(lease):
    name = jobs.PredictionJob.objects.get(pk=lease.job_id).input_image_name
    if lease.index == 1 and name.startswith("kill-block-") and lease.attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    if lease.index == 1 and name.startswith("fail-block-"):
        raise RuntimeError("this block is cursed")
    if name.startswith("slow-blocks-"):
        time.sleep(1)
    return _segment_block(lease)


tiling.segment_block = segment_block
