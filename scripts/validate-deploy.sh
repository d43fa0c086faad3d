#!/usr/bin/env bash
# Offline checks of the deployment files (no Docker engine or cluster needed); `make test`
# runs it. Nothing is skipped: a missing tool is an error.
#   - docker-compose.yml: Compose's own validation, with .env.example as the environment
#   - Dockerfile: hadolint
#   - k8s-deployment.yaml: Kubernetes API schemas (strict: unknown fields are errors)
#   - production settings: `manage.py check --deploy` with .env.example's environment and a
#     real random SECRET_KEY
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
K8S_VERSION=1.30.0  # the oldest Kubernetes the manifest is checked against

compose() {
  if command -v docker-compose >/dev/null; then docker-compose "$@"; else docker compose "$@"; fi
}

if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1; then
  echo "docker-compose not found; installing Debian's docker-compose"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } \
      >/dev/null || true
  fi
  if ! command -v docker-compose >/dev/null; then
    echo "error: docker-compose is missing and could not be installed;" \
      "install it (apt-get install docker-compose, or Docker's compose plugin)" >&2
    exit 1
  fi
fi
echo "docker-compose.yml: compose config"
compose --env-file .env.example -f docker-compose.yml config -q

echo "Dockerfile: hadolint"
"$BIN/hadolint" Dockerfile

echo "k8s-deployment.yaml: kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
"$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" k8s-deployment.yaml

echo "production settings: manage.py check --deploy --fail-level WARNING"
(
  set -a
  # shellcheck disable=SC1091
  . ./.env.example
  set +a
  export DJANGO_SETTINGS_MODULE=config.settings.production
  SECRET_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  export SECRET_KEY
  "$BIN/python" manage.py check --deploy --fail-level WARNING
)
echo "deployment files: all checks passed"
