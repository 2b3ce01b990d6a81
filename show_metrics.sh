#!/usr/bin/env bash
# Live terminal view of the dashboard KPIs and pipeline health, read from PostgreSQL as the
# read-only role: for machines without Grafana.
# Usage: ./show_metrics.sh [--once] [--interval SECONDS] [--hours N]
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
ensure_venv
# From the caller's directory: relative paths in flags are the caller's (the code finds the
# project, .env and .local/ from its own location).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m processor.status "$@"
