#!/usr/bin/env bash
# Install Debian's Chromium for the admin viewer test when it is missing (never a downloaded
# browser). Outside CI, a machine without apt or root just skips that one test.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium chromium-driver >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is not installed (apt-get install chromium chromium-driver)" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
