#!/bin/sh
# Installs the peers bench/run.py measures next to steward (scenario
# `peers`): supervisord, htop and btop from Debian, pm2 and mprocs from npm.
# Not needed for the tests; run.py reports a missing peer as not installed.
# process-compose is packaged neither for Debian nor on npm (the registries
# these machines reach), so it is not installed and not measured.
set -eu
apt-get update
apt-get install -y supervisor htop btop
# A nodejs from NodeSource already carries npm and conflicts with Debian's.
command -v npm >/dev/null || apt-get install -y nodejs npm
# Debian's supervisor package starts a system supervisord; the bench runs its
# own with its own config, so the service is not needed.
systemctl disable --now supervisor 2>/dev/null || true
npm install -g pm2 mprocs
