"""The test suite runs against the real PostgreSQL and Redis on localhost."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/postgres"),
}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_URL = REDIS_URL
# The quick lane runs two pytest-xdist workers, each with its own database (pytest-django) and
# its own cache, so that one worker's throttle counts and tiles never reach the other's tests.
_CACHE_DB = {"gw1": 13}.get(env("PYTEST_XDIST_WORKER", default=""), 14)
CACHES = {"default": env.cache("CACHE_URL", default=f"redis://127.0.0.1:6379/{_CACHE_DB}")}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The fault-injection tests load tests.helpers.fault_hooks into their workers.
CELERY_IMPORTS = env.list("CELLSERVE_TEST_WORKER_IMPORTS", default=[])
