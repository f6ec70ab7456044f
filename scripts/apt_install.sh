#!/usr/bin/env bash
# Install Debian/Ubuntu packages for a test dependency, as root or with password-less sudo.
#
# Usage: scripts/apt_install.sh WHAT [APT-GET OPTION...] PACKAGE...  (WHAT names it in error messages)
# The ensure_*.sh scripts call it after their own "is it installed?" check; it only installs.
set -euo pipefail

what=$1
shift
if ! command -v apt-get > /dev/null; then
    echo "$what is not installed and there is no apt-get: install it with this system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2> /dev/null; then
    as_root=(sudo -n)
else
    echo "$what is not installed, and installing it needs root or password-less sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q "$@"
