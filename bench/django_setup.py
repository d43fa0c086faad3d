"""The benchmarks' one Django set-up: a scratch database, the environment, migrations, a user."""

import os

import psycopg
from psycopg import sql

DEVELOPMENT = "config.settings.development"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cellserve_bench"


def setup_django(settings=DEVELOPMENT, *, url=DATABASE_URL, fresh=False, migrate=True, **env: str):
    """Django on the database at ``url`` (created if missing; dropped first if ``fresh``), migrated,
    in this process's environment: every server or worker a benchmark starts shares it."""
    if url.startswith("postgres"):
        server, name = url.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            database = sql.Identifier(name)
            if fresh:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(database))
            exists = "SELECT FROM pg_database WHERE datname = %s"
            if not connection.execute(exists, [name]).rowcount:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(database))
    os.environ.update(DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=url, REDIS_URL="")
    os.environ.update(CELLSERVE_ALLOW_ANONYMOUS="false", **env)
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="bench")[0]


def token(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key
