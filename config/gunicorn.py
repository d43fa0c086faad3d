"""gunicorn's settings for the image, Compose, Kubernetes, the benchmarks and the tests.

``gunicorn -c config/gunicorn.py config.wsgi:application``; WEB_CONCURRENCY sets the worker
count and GUNICORN_BIND the address.
"""

import os
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
timeout = 300
# Heartbeat files in memory: a disk-backed /tmp can stall them (gunicorn's own advice).
SHM = Path("/dev/shm")  # noqa: S108 - not a temporary file: a RAM-backed directory
worker_tmp_dir = str(SHM) if SHM.is_dir() else None
accesslog = "-"
# Long request lines and headers get the app's JSON 414 / 431 (config.middleware), which names
# the problem; gunicorn's own limits would answer first, in plain text. So gunicorn's are set
# above the app's (CELLSERVE_MAX_QUERY_BYTES, CELLSERVE_MAX_HEADER_BYTES): the line to its
# parser's 1 MiB ceiling (0), one header field to 64 KiB.
limit_request_line = 0
limit_request_field_size = 65536
limit_request_fields = 200
