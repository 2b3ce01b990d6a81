#!/usr/bin/env bash
# Start the clickstream producer; takes the same flags as `python -m producer.producer` (--help).
set -euo pipefail
cd "$(dirname "$0")"
if [[ -f .local/venv/bin/activate ]]; then
    # shellcheck disable=SC1091
    source .local/venv/bin/activate
fi
echo "start_producer.sh: python -m producer.producer $*" >&2
exec python -m producer.producer "$@"
