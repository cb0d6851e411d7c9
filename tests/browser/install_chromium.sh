#!/usr/bin/env bash
# Headless Chromium and its driver from Debian's packages, when missing.
# Only root can install them; anyone else gets a clear line and a failure.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium and chromium-driver are missing: install them (as root: apt-get install -y chromium chromium-driver)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
