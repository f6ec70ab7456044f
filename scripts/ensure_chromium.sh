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
"$(dirname "$0")/apt_install.sh" Chromium --no-install-recommends chromium fonts-dejavu-core
installed || { echo "apt-get installed chromium, but $CHROMIUM does not run" >&2; exit 1; }
echo "Chromium installed: $("$CHROMIUM" --version)"
