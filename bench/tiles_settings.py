"""Settings for ``bench/tiles.py`` and the gunicorn it starts: the development settings with
the bench URLconf (the project's URLs plus plain django-large-image viewsets)."""

from config.settings.base import DATABASES, env
from config.settings.development import *  # noqa: F403

ROOT_URLCONF = "bench.tiles_urls"

# Database connections kept between requests, as config/settings/production.py keeps them.
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# django-large-image links served files into <DATA_TEMP_DIR>/file_cache/<Model>-<pk>/: a
# directory per run keeps links from earlier runs (or other databases) out of the way.
if env("CELLSERVE_BENCH_DLI_TEMP_DIR", default=""):
    DATA_TEMP_DIR = env("CELLSERVE_BENCH_DLI_TEMP_DIR")
