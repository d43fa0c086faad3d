"""Embedded defaults for `make run`: no servers needed unless DATABASE_URL / REDIS_URL are set."""

from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import LOCAL_DIR

DEBUG = env.bool("DEBUG", default=True)  # noqa: F405
LOCAL_DIR.mkdir(exist_ok=True)

# The embedded filesystem broker needs its folders before the first message.
if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    for folder in CELERY_BROKER_TRANSPORT_OPTIONS.values():  # noqa: F405
        Path(folder).mkdir(parents=True, exist_ok=True)
