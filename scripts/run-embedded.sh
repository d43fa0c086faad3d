#!/usr/bin/env bash
# The API on http://127.0.0.1:8000 and one Celery worker for both queues (with the watchdog's
# beat), on embedded defaults (SQLite, filesystem broker) unless DATABASE_URL / REDIS_URL are
# set.
set -euo pipefail
cd "$(dirname "$0")/.."

export DJANGO_SETTINGS_MODULE=config.settings.development
export CELLSERVE_ALLOW_ANONYMOUS="${CELLSERVE_ALLOW_ANONYMOUS:-true}"
BIN=.venv/bin

$BIN/python manage.py migrate --noinput
if [ "$CELLSERVE_ALLOW_ANONYMOUS" = "true" ]; then
  cat <<'NOTE'
------------------------------------------------------------------------------
 Single-user mode: CELLSERVE_ALLOW_ANONYMOUS=true. Requests without credentials
 act as the local user "local". Set CELLSERVE_ALLOW_ANONYMOUS=false to require
 tokens (python manage.py drf_create_token USER).
 API:  http://127.0.0.1:8000/api/v1/predictions/   Docs: http://127.0.0.1:8000/api/docs/
------------------------------------------------------------------------------
NOTE
fi

# One worker process per core (CELLSERVE_WORKERS to choose), so a tiled job's blocks use the
# whole machine; -B embeds celery beat: it schedules the job watchdog (and the optional purge).
WORKERS="${CELLSERVE_WORKERS:-$(nproc)}"
$BIN/celery -A config worker -Q gpu,default --pool prefork --concurrency "$WORKERS" -B \
  --loglevel INFO &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
$BIN/python manage.py runserver 127.0.0.1:8000
