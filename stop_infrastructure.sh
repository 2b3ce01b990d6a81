#!/usr/bin/env bash
# Stop what start_infrastructure.sh started: the Compose services in Docker mode, else by pid.
# Usage: ./stop_infrastructure.sh [--purge] [--docker|--native]
# Without a flag: Docker mode when a Docker engine answers and the project's containers exist.
# Data is kept unless --purge is given (in Docker mode: the named volumes).
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT"
purge="" mode=""
for arg in "$@"; do
  case "$arg" in
    --purge) purge="--purge" ;;
    --docker) mode=docker ;;
    --native) mode=native ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
if [[ -z "$mode" ]]; then
  if docker_mode_in_use; then mode=docker; else mode=native; fi
fi
if [[ "$mode" == docker ]]; then
  echo "==> Docker mode: docker compose down${purge:+ --volumes}"
  docker compose down ${purge:+--volumes}
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "nothing to stop: native mode was never set up here"
  exit 0
fi
exec "$VENV/bin/python" -m infra down $purge
