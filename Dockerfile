# syntax=docker/dockerfile:1
# cellserve images (see README "Deployment"). Two targets:
#   docker build --target cpu -t cellserve:cpu .   API, migrations, `default` queue worker
#                                                   (torch CPU build)
#   docker build --target gpu -t cellserve:gpu .   `gpu` queue worker (torch CUDA build)
# Build args:
#   BAKE_WEIGHTS=1         download the Cellpose-SAM weights into /models at build time
#                          (needs internet during the build); otherwise mount them there.
#   CELLPOSE_MODEL=cpsam   which weights to bake.
#   TORCH_GPU_INDEX_URL    where the gpu target takes torch from (default PyPI, whose
#                          torch 2.14.1 is a CUDA 13 build; e.g. a download.pytorch.org/whl/cuXXX
#                          index for another CUDA version).
# torch and torchvision versions come from requirements.txt, so they are pinned in one place.

FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 cellserve \
    && useradd --system --uid 10001 --gid cellserve --create-home --home-dir /home/cellserve \
       --shell /usr/sbin/nologin cellserve
WORKDIR /app

# Dependencies: a virtual environment per torch build. The CPU one takes torch from the
# PyTorch CPU index and pins that exact build (torch==X+cpu) while installing the rest, so
# requirements.txt's `torch==X` can never pull the multi-GB CUDA build from PyPI. (Stages are
# ordered so that the legacy builder, which builds every stage before the target, builds no
# CUDA stage for the cpu target.)
FROM base AS deps-cpu
ARG TORCH_CPU_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt scripts/install-image-requirements.sh ./
RUN sh install-image-requirements.sh "$TORCH_CPU_INDEX_URL" \
    && rm requirements.txt install-image-requirements.sh

# The runtime images: the code owned by root (read-only to the service user), static files
# collected at build, media and model folders owned by the service user (named volumes and
# Kubernetes' fsGroup keep that). Weights come before the code, so that a code change does not
# download them again.
FROM base AS cpu
COPY --from=deps-cpu /opt/venv /opt/venv
ENV DJANGO_SETTINGS_MODULE=config.settings.production \
    MEDIA_ROOT=/data/media \
    CELLPOSE_LOCAL_MODELS_PATH=/models \
    CELLPOSE_DEVICE=cpu
ARG BAKE_WEIGHTS=0
ARG CELLPOSE_MODEL=cpsam
COPY scripts/prepare-image.sh /usr/local/bin/
RUN prepare-image.sh "$BAKE_WEIGHTS" "$CELLPOSE_MODEL"
COPY . .
# collectstatic needs importable production settings, not real secrets or servers.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/unused.db \
    REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput
# Numeric, so Kubernetes' runAsNonRoot can verify it (10001 is the user `cellserve`).
USER 10001:10001
EXPOSE 8000
# WEB_CONCURRENCY sets gunicorn's worker count (default 1); the rest is in config/gunicorn.py.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]

# The GPU environment: torch as published on TORCH_GPU_INDEX_URL (CUDA builds).
FROM base AS deps-gpu
ARG TORCH_GPU_INDEX_URL=https://pypi.org/simple
COPY requirements.txt scripts/install-image-requirements.sh ./
RUN sh install-image-requirements.sh "$TORCH_GPU_INDEX_URL" \
    && rm requirements.txt install-image-requirements.sh

FROM base AS gpu
COPY --from=deps-gpu /opt/venv /opt/venv
# NVIDIA_DRIVER_CAPABILITIES: the NVIDIA Container Toolkit mounts the driver's compute libraries.
ENV DJANGO_SETTINGS_MODULE=config.settings.production \
    MEDIA_ROOT=/data/media \
    CELLPOSE_LOCAL_MODELS_PATH=/models \
    CELLPOSE_DEVICE=cuda \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
ARG BAKE_WEIGHTS=0
ARG CELLPOSE_MODEL=cpsam
COPY scripts/prepare-image.sh /usr/local/bin/
RUN prepare-image.sh "$BAKE_WEIGHTS" "$CELLPOSE_MODEL"
COPY . .
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/unused.db \
    REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput
USER 10001:10001
CMD ["celery", "-A", "config", "worker", "-Q", "gpu", "--concurrency", "1", \
     "--prefetch-multiplier", "1", "--loglevel", "INFO"]
