#!/usr/bin/env bash
# Start the clickstream producer; takes the same flags as `python -m producer.producer` (--help).
# Makes sure the virtualenv exists (make setup), then runs from the caller's directory: relative
# paths in flags (--ledger, --output jsonl:F, --config) are the caller's; settings in .env are the
# project's (PRODUCER_LEDGER_DIR is relative to the project), found from the code's own location.
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
ensure_venv
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
echo "start_producer.sh: python -m producer.producer $*" >&2
exec "$VENV/bin/python" -m producer.producer "$@"
