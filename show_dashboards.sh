#!/usr/bin/env bash
# The provisioned Grafana dashboards in a browser, without Grafana: serves them on
# http://127.0.0.1:3000 (DASHBOARD_PORT when 3000 is taken) from an existing database, read as
# the read-only role. Usage: ./show_dashboards.sh [--port N] [--host ADDR] [--schema NAME]
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
ensure_venv
# From the caller's directory: relative paths in flags are the caller's (the code finds the
# project, .env and .local/ from its own location).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m viewer "$@"
