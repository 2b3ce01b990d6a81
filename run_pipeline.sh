#!/usr/bin/env bash
# Run the whole pipeline: infrastructure, then the producer (realtime, default rate) and the
# processor, then the live view of the KPIs. Ctrl-C stops the producer and the processor.
# Usage: ./run_pipeline.sh [--docker|--native] [--view|--no-view] [--interval SECONDS]
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT"

mode=()
for arg in "$@"; do
  case "$arg" in
    --docker|--native) mode=("$arg") ;;
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

./start_infrastructure.sh "${mode[@]}"
ensure_venv
echo "==> starting the producer and the processor"
exec "$VENV/bin/python" -m runner "$@"
