#!/usr/bin/env bash
# Stop what start_infrastructure.sh started, by pid. Data is kept unless --purge is given.
# Usage: ./stop_infrastructure.sh [--purge] [--docker]
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT"
purge="" docker=""
for arg in "$@"; do
  case "$arg" in
    --purge) purge="--purge" ;;
    --docker) docker=1 ;;
    -h|--help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
if [[ -n "$docker" ]]; then
  docker compose down ${purge:+--volumes}
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "nothing to stop: native mode was never set up here"
  exit 0
fi
exec "$VENV/bin/python" -m infra down $purge
