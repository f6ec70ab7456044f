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
"$(dirname "$0")/apt_install.sh" PostgreSQL postgresql
installed || { echo "apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb" >&2; exit 1; }
echo "PostgreSQL installed: $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | tr '\n' ' ')"
