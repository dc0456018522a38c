#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the page test (tests/integration/history).
# The test runs this only when CI=true and no chromium is on PATH; elsewhere it skips.
set -euo pipefail
# `make test` runs a worker per core, and several test files need chromium: one installs,
# the others wait for it here (then find it installed) rather than fight over apt's lock
exec 9>"${TMPDIR:-/tmp}/greekstream-install-chromium.lock"
flock -w 540 9
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
