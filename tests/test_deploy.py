"""The production settings and the deployment files agree with what they document.

``manage.py check --deploy`` runs in a subprocess with exactly the environment .env.example
documents (only PATH inherited), so a setting that needs an undocumented variable, or a
default that Django's deployment checks warn about, fails here.
"""

import os
import secrets
import subprocess
import sys

import pytest
import yaml
from django.conf import settings

from tests.helpers.data import ROOT

# Each check starts a Django process of its own.
pytestmark = pytest.mark.slow


def documented_environment(**overrides) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_passes_with_the_documented_environment():
    result = check_deploy(documented_environment(SECRET_KEY=secrets.token_urlsafe(50)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_the_placeholder_secret_and_plain_http():
    placeholder = check_deploy(documented_environment())  # SECRET_KEY=change-me
    assert placeholder.returncode != 0
    assert "security.W009" in placeholder.stderr
    plain_http = check_deploy(
        documented_environment(SECRET_KEY=secrets.token_urlsafe(50), SECURE_SSL_REDIRECT="false")
    )
    assert plain_http.returncode != 0
    assert "security.W008" in plain_http.stderr


def test_production_settings_need_every_secret_from_the_environment():
    env = documented_environment(SECRET_KEY=secrets.token_urlsafe(50))
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        missing = {key: value for key, value in env.items() if key != name}
        result = check_deploy(missing)
        assert result.returncode != 0, name
        assert name in result.stderr, result.stderr


def test_keda_scales_the_gpu_worker_deployment_on_the_gpu_queue():
    manifests = list(yaml.safe_load_all((ROOT / "k8s-deployment.yaml").read_text()))
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    (scaled,) = yaml.safe_load_all((ROOT / "k8s-keda.yaml").read_text())
    target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
    (container,) = target["spec"]["template"]["spec"]["containers"]
    queue = container["command"][container["command"].index("-Q") + 1]
    assert queue == settings.CELERY_TASK_ROUTES["predictions.tasks.segment_job"]["queue"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == queue
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert scaled["metadata"]["namespace"] == target["metadata"]["namespace"]
