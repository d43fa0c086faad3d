#!/bin/sh
# Used by both Dockerfile targets: the media and models folders owned by the app user, and
# the Cellpose-SAM weights downloaded into the models folder when $1 is 1 (needs internet),
# through cellpose's own API, under the name $2.
set -eu
bake="$1"
model="$2"
mkdir -p /data/media /models
if [ "$bake" = "1" ]; then
  python -c "import sys; from cellpose import models; models.cache_model_path(sys.argv[1])" \
    "$model"
fi
chown -R cellserve:cellserve /data/media /models
