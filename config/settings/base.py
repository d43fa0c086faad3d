"""Settings shared by every environment; each value comes from the environment.

With nothing set, the defaults give the embedded single-machine mode: SQLite and a
filesystem Celery broker under ``.local/``, so a newcomer needs no servers.
"""

from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOCAL_DIR = BASE_DIR / ".local"

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_large_image",
    "predictions",
    "depth_images",
    "tiles",
]

MIDDLEWARE = [
    # /healthz and /readyz, before host validation and the HTTPS redirect (see config/health.py).
    "config.health.HealthCheckMiddleware",
    "config.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # make run's web process and worker processes write to one file. A deferred transaction
    # that reads and then writes fails at once ("database is locked") when another process
    # wrote in between; an immediate one takes the write lock first and waits its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads above this size are streamed to a temporary file instead of memory; every file is
# counted against CELLSERVE_MAX_UPLOAD_BYTES as it arrives.
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "config.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Unrouted paths end at a JSON 404 (config.errors.not_found), which redirects GETs that only
# lack the trailing slash; Django's own redirect would turn a POST into a 500 under DEBUG.
APPEND_SLASH = False
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=8 * 1024 * 1024)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["config.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "DEFAULT_RENDERER_CLASSES": [
        "config.renderers.TolerantJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
}

# A local single-user install may allow anonymous requests: they act as one local user.
CELLSERVE_ALLOW_ANONYMOUS = env.bool("CELLSERVE_ALLOW_ANONYMOUS", default=False)
CELLSERVE_LOCAL_USERNAME = env("CELLSERVE_LOCAL_USERNAME", default="local")
if CELLSERVE_ALLOW_ANONYMOUS:
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].append(
        "config.authentication.LocalUserAuthentication"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "cellserve API",
    "DESCRIPTION": "Cell segmentation (Cellpose-SAM), depth images and tiles for microscopy.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models have a "status" field with different choices; name each set.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.add_error_responses",
        "tiles.api.schema.style_parameters_are_json",
    ],
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "predictions.models.JobStatus",
        "DatasetStatusEnum": "depth_images.models.DatasetStatus",
    },
}

# Image limits: anything larger is refused with a 400 before it is decoded.
CELLSERVE_MAX_IMAGE_PIXELS = env.int("CELLSERVE_MAX_IMAGE_PIXELS", default=100_000_000)
# Channels an image may have (each one is measured; the engine takes the ones asked for).
CELLSERVE_MAX_CHANNELS = env.int("CELLSERVE_MAX_CHANNELS", default=16)
# Tiled jobs: a 2D image above CELLSERVE_TILED_THRESHOLD_PIXELS (or any, with tiled=true) is
# segmented in overlapping blocks by separate gpu tasks and stitched; these have their own
# pixel limit. The overlap is at least twice the job's diameter.
CELLSERVE_TILED_THRESHOLD_PIXELS = env.int("CELLSERVE_TILED_THRESHOLD_PIXELS", default=4096 * 4096)
CELLSERVE_MAX_TILED_PIXELS = env.int("CELLSERVE_MAX_TILED_PIXELS", default=4 * 10**9)
CELLSERVE_BLOCK_SIZE = env.int("CELLSERVE_BLOCK_SIZE", default=2048)
CELLSERVE_BLOCK_OVERLAP = env.int("CELLSERVE_BLOCK_OVERLAP", default=128)
# Directories whose files staff may register as jobs by path (POST predictions/register/).
CELLSERVE_IMPORT_ROOTS = env.list("CELLSERVE_IMPORT_ROOTS", default=[])
# Above this many cells the per-cell TIFF ZIP is not written (metrics and masks still are).
CELLSERVE_MAX_ZIP_CELLS = env.int("CELLSERVE_MAX_ZIP_CELLS", default=250_000)
# Each uploaded file; counted while the upload streams in, so a 413 comes before it is read.
CELLSERVE_MAX_UPLOAD_BYTES = env.int("CELLSERVE_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)
# A whole request body (a job's image and masks, with room for the form fields).
CELLSERVE_MAX_REQUEST_BYTES = env.int(
    "CELLSERVE_MAX_REQUEST_BYTES", default=2 * CELLSERVE_MAX_UPLOAD_BYTES + 1024 * 1024
)
# The web request decodes an upload to validate it only while that takes at most this many
# bytes of memory; larger files get a bounded check of headers and structure, and the worker
# does the full decode (a failure there ends the job failed with the reason).
CELLSERVE_VALIDATE_DECODE_BYTES = env.int("CELLSERVE_VALIDATE_DECODE_BYTES", default=64 * 2**20)
# The largest region (in full-resolution pixels) one tile-region request may render.
CELLSERVE_MAX_REGION_PIXELS = env.int("CELLSERVE_MAX_REGION_PIXELS", default=4096 * 4096)
# Query strings and request headers above these sizes get a JSON 414 / 431.
CELLSERVE_MAX_QUERY_BYTES = env.int("CELLSERVE_MAX_QUERY_BYTES", default=32768)
CELLSERVE_MAX_HEADER_BYTES = env.int("CELLSERVE_MAX_HEADER_BYTES", default=32768)

# Per-user limits on jobs. Creation is throttled (DRF rate syntax); a user may have this many
# jobs pending or processing at once; uploads and results together may take this much space.
CELLSERVE_JOB_CREATE_RATE = env("CELLSERVE_JOB_CREATE_RATE", default="120/minute")
CELLSERVE_MAX_ACTIVE_JOBS = env.int("CELLSERVE_MAX_ACTIVE_JOBS", default=200)
# Files one batch (POST /api/v1/batches/) may hold, sent as repeated fields or in one ZIP.
CELLSERVE_MAX_BATCH_FILES = env.int("CELLSERVE_MAX_BATCH_FILES", default=500)
# Django refuses a request with more files than this before any view sees it.
DATA_UPLOAD_MAX_NUMBER_FILES = CELLSERVE_MAX_BATCH_FILES + 1
CELLSERVE_STORAGE_QUOTA_BYTES = env.int("CELLSERVE_STORAGE_QUOTA_BYTES", default=50 * 2**30)
# Retry-After (seconds) of a 429 for too many active jobs.
CELLSERVE_ACTIVE_JOBS_RETRY_S = env.int("CELLSERVE_ACTIVE_JOBS_RETRY_S", default=30)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"job_create": CELLSERVE_JOB_CREATE_RATE}

# Jobs that survive dying workers (predictions/services/leases.py): a running job's lease is
# renewed every quarter of CELLSERVE_LEASE_S; the watchdog re-queues a job whose lease ran out
# and fails it after CELLSERVE_MAX_ATTEMPTS deliveries. A worker that died is replaced within
# lease + watchdog interval (2.5 minutes with these defaults).
CELLSERVE_LEASE_S = env.float("CELLSERVE_LEASE_S", default=120.0)
CELLSERVE_MAX_ATTEMPTS = env.int("CELLSERVE_MAX_ATTEMPTS", default=3)
CELLSERVE_WATCHDOG_INTERVAL_S = env.float("CELLSERVE_WATCHDOG_INTERVAL_S", default=30.0)
# A queued job step or block that no worker has taken this long after it was sent is sent again:
# its message may be gone (a broker restarted without persistence, a send that failed). The
# duplicate of a message still queued finds nothing to do.
CELLSERVE_PICKUP_S = env.float("CELLSERVE_PICKUP_S", default=900.0)
# Finished jobs older than this are deleted by a scheduled purge; 0 keeps them.
CELLSERVE_PURGE_AFTER_DAYS = env.float("CELLSERVE_PURGE_AFTER_DAYS", default=0)

# Media: served only through the owner-checked view. Behind nginx, set this to an internal
# location aliased to MEDIA_ROOT (e.g. /protected-media/) and nginx sends the bytes.
CELLSERVE_MEDIA_ACCEL_REDIRECT = env("CELLSERVE_MEDIA_ACCEL_REDIRECT", default="")

# Depth images: CSV uploads up to this size are ingested in the request, larger ones by a worker.
CELLSERVE_DEPTH_SYNC_MAX_BYTES = env.int("CELLSERVE_DEPTH_SYNC_MAX_BYTES", default=8 * 1024 * 1024)
# Most rows one GET /get-images/ (one PNG each) or one frame may return.
CELLSERVE_DEPTH_MAX_IMAGES = env.int("CELLSERVE_DEPTH_MAX_IMAGES", default=10_000)
CELLSERVE_DEPTH_MAX_FRAME_ROWS = env.int("CELLSERVE_DEPTH_MAX_FRAME_ROWS", default=100_000)

# Cellpose-SAM
CELLPOSE_DEVICE = env("CELLPOSE_DEVICE", default="auto")
CELLPOSE_LOCAL_MODELS_PATH = env("CELLPOSE_LOCAL_MODELS_PATH", default="")
CELLPOSE_MODEL = env("CELLPOSE_MODEL", default="cpsam")
# 256-px tiles per forward pass (cellpose's batch_size; 8 is its default, a large GPU takes 32-64).
# One block of a tiled job (1024 px or more) holds dozens of tiles, so a block fills its batches.
CELLPOSE_BATCH_SIZE = env.int("CELLPOSE_BATCH_SIZE", default=8)
# Normalise in windows of this many pixels (cellpose's tile_norm_blocksize; 0: per image), for
# slides whose brightness varies from region to region.
CELLPOSE_TILE_NORM_BLOCKSIZE = env.int("CELLPOSE_TILE_NORM_BLOCKSIZE", default=0)

# Celery: Redis when REDIS_URL is set, otherwise an embedded filesystem broker.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(LOCAL_DIR / "broker")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": 6 * 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A task whose process died is acknowledged, not redelivered: the job's lease runs out and the
# watchdog decides (with a limit on attempts), so a poison image cannot loop forever.
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "predictions.tasks.segment_job": {"queue": "gpu"},
    "predictions.tasks.segment_block": {"queue": "gpu"},
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Run by `celery beat` (make run embeds it in the worker); a missed tick expires unrun.
CELERY_BEAT_SCHEDULE = {
    "job-watchdog": {
        "task": "predictions.tasks.watchdog",
        "schedule": CELLSERVE_WATCHDOG_INTERVAL_S,
        "options": {"expires": CELLSERVE_WATCHDOG_INTERVAL_S},
    },
}
if CELLSERVE_PURGE_AFTER_DAYS:
    CELERY_BEAT_SCHEDULE["purge-old-jobs"] = {
        "task": "predictions.tasks.purge_old_jobs",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    }
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(LOCAL_DIR / "celerybeat-schedule")
)

# Encoded tiles are cached here (django-large-image's large-image cache backend); open tile
# sources stay in each process's memory. Deployments point CACHE_URL at a Redis database of
# its own: clearing the tile cache must never flush Celery's queues.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://cellserve")}
LARGE_IMAGE_CACHE_BACKEND = "django"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # libvips reports every finished thread pool at INFO.
    "loggers": {"pyvips": {"level": "WARNING"}},
}

# Finished jobs are POSTed (signed) to this endpoint, e.g. a Modal web endpoint; empty: off.
MODAL_ENDPOINT_URL = env("MODAL_ENDPOINT_URL", default="")
MODAL_WEBHOOK_SECRET = env("MODAL_WEBHOOK_SECRET", default="")
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_BACKOFF_S = env.float("WEBHOOK_BACKOFF_S", default=2.0)
# Base of the result URLs sent in notifications.
CELLSERVE_PUBLIC_URL = env("CELLSERVE_PUBLIC_URL", default="http://127.0.0.1:8000")
