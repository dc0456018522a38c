#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the page test (tests/integration/history).
# The test runs this only when CI=true and no chromium is on PATH; elsewhere it skips.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
