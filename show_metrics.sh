#!/usr/bin/env bash
# Live terminal view of the dashboard KPIs and pipeline health, read from PostgreSQL as the
# read-only role: for machines without Grafana.
# Usage: ./show_metrics.sh [--once] [--interval SECONDS] [--hours N]
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT"
ensure_venv
exec "$VENV/bin/python" -m processor.status "$@"
