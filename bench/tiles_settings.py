"""Settings of ``bench/tiles.py`` and its gunicorn: development's, with the bench's URLconf."""

from config.settings.base import DATABASES, LOGGING, MEDIA_ROOT
from config.settings.development import *  # noqa: F403

ROOT_URLCONF, DEBUG = "bench.tiles_urls", False
LOGGING["root"]["level"] = "WARNING"
DATABASES["default"] |= {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}  # as in production
# Beside the run's MEDIA_ROOT, so that django-large-image's links of earlier runs are not found.
STATIC_ROOT, DATA_TEMP_DIR = MEDIA_ROOT.parent, str(MEDIA_ROOT.parent / "django-large-image")
