#!/usr/bin/env bash
# Make sure a PostgreSQL server is installed, from the distribution's packages (Debian, Ubuntu).
#
# The deployment tests (tests/deployment) run Airflow on PostgreSQL: they start a throw-away
# cluster of their own (loopback only, a temporary directory) from these binaries and remove it
# afterwards. This script only installs; it starts nothing itself (the Debian package may start
# its default cluster, which listens on localhost only). Needs root or password-less sudo.
# Exit status 0: PostgreSQL's initdb is in /usr/lib/postgresql/*/bin.
set -euo pipefail

installed() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null
}

if installed; then
    echo "PostgreSQL is installed: $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | tr '\n' ' ')"
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "PostgreSQL is not installed and there is no apt-get: install the PostgreSQL server" \
        "with this system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2> /dev/null; then
    as_root=(sudo -n)
else
    echo "PostgreSQL is not installed, and installing it needs root or password-less sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q postgresql
installed || { echo "apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb" >&2; exit 1; }
echo "PostgreSQL installed: $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | tr '\n' ' ')"
