#!/bin/sh
# Used by the Dockerfile: a virtual environment at $VENV (/opt/venv) with requirements.txt,
# torch and torchvision taken from the index given as $1 (CPU or CUDA builds) at the versions
# requirements.txt pins.
set -eu
index_url="$1"
venv="${VENV:-/opt/venv}"
requirements="${REQUIREMENTS:-requirements.txt}"
work="$(mktemp -d)"

python -m venv "$venv"
grep -E '^(torch|torchvision)==' "$requirements" > "$work/torch.txt"
"$venv/bin/pip" install --index-url "$index_url" -r "$work/torch.txt"
# The exact builds just installed (e.g. torch==2.14.1+cpu) become constraints, so installing
# the rest can never swap them for another build from PyPI: it fails instead.
"$venv/bin/pip" freeze | grep -E '^(torch|torchvision)==' > "$work/constraints.txt"
"$venv/bin/pip" install -r "$requirements" -c "$work/constraints.txt"
"$venv/bin/pip" check
rm -rf "$work"
