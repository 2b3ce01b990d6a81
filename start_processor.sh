#!/usr/bin/env bash
# Start the Spark Structured Streaming processor (Kafka -> PostgreSQL, exactly once per batch).
# Takes the same flags as `python -m processor.streaming_processor` (--help), for example
#   ./start_processor.sh                  run until Ctrl-C / SIGTERM (stops after the current batch)
#   ./start_processor.sh --available-now  process what the topic holds now, then exit
# Settings: environment over .env over .env.example (docs/processor.md lists them).
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
ensure_venv
# From the caller's directory: relative paths in flags are the caller's (the code finds the
# project, .env and .local/ from its own location).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
echo "start_processor.sh: python -m processor.streaming_processor $*" >&2
exec "$VENV/bin/python" -m processor.streaming_processor "$@"
