#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the page tests (tests/integration/history).
# `make test` runs this first when CI=true (and a page test does when chromium is still
# missing); elsewhere, without chromium, the page tests skip.
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
