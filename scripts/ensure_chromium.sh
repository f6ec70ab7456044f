#!/usr/bin/env bash
# Make sure Chromium is installed at /usr/bin/chromium, from the distribution's packages (Debian).
#
# The browser test of the "DMJY videos" page (tests/webhooks/test_ui_browser.py) drives this
# Chromium with Playwright; Playwright's own browser downloads are never used. This script only
# installs. Needs root or password-less sudo.
# Exit status 0: /usr/bin/chromium runs.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

installed() {
    [ -x "$CHROMIUM" ] && "$CHROMIUM" --version > /dev/null 2>&1
}

if installed; then
    echo "Chromium is installed: $("$CHROMIUM" --version)"
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "Chromium is not installed and there is no apt-get: install Chromium at $CHROMIUM" \
        "with this system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2> /dev/null; then
    as_root=(sudo -n)
else
    echo "Chromium is not installed, and installing it needs root or password-less sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
installed || { echo "apt-get installed chromium, but $CHROMIUM does not run" >&2; exit 1; }
echo "Chromium installed: $("$CHROMIUM" --version)"
