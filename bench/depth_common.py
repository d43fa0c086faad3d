"""Set-up shared by the depth-image benchmarks: a scratch PostgreSQL database, Django, a user."""

from __future__ import annotations

import os

import psycopg

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cellserve_bench"


def setup_django(database_url: str, migrate: bool = True) -> None:
    """Create the database if needed, point Django at it and (by default) migrate."""
    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "CELLSERVE_ALLOW_ANONYMOUS": "false",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


def bench_user():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench")
    return user


def fresh_dataset(owner, name: str):
    from depth_images.models import DepthDataset

    DepthDataset.objects.filter(owner=owner, name=name).delete()
    return name
