#!/usr/bin/env bash
# Start Kafka, PostgreSQL, Spark's jars and (where possible) Grafana.
# Usage: ./start_infrastructure.sh [--docker|--native]
# Without a flag: Docker mode when a Docker engine answers, else native mode. Idempotent.
set -euo pipefail
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT"

mode=""
case "${1:-}" in
  --docker) mode=docker ;;
  --native) mode=native ;;
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") if command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; then
        mode=docker; else mode=native; fi ;;
  *) echo "unknown option: $1 (use --docker or --native)" >&2; exit 2 ;;
esac

if [[ "$mode" == docker ]]; then
  echo "==> Docker mode: docker compose up (Kafka, PostgreSQL, Spark master/worker, Grafana)"
  [[ -f .env ]] || (umask 077 && cp .env.example .env)  # .env holds the passwords
  # Kafka's host port (from KAFKA_BOOTSTRAP_SERVERS) and your uid/gid for the producer, which
  # writes its ledgers into the owner-only .local/ledgers bind mount.
  ensure_venv
  compose_vars="$("$VENV/bin/python" -m infra docker-env)"  # its error stops the script here
  eval "$compose_vars"
  mkdir -p -m 700 .local/ledgers && chmod 700 .local/ledgers
  docker compose up -d --wait kafka postgres spark-master spark-worker grafana
  docker compose up kafka-init   # one-shot: creates the topic with KAFKA_PARTITIONS partitions
  docker compose ps
  exit 0
fi

echo "==> Native mode (no Docker engine needed); everything lives under .local/"
ensure_venv
exec "$VENV/bin/python" -m infra up
