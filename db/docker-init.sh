#!/usr/bin/env bash
# Docker mode only: the postgres image runs this once, on its first start with an empty data
# volume, as the image's superuser (POSTGRES_USER) inside POSTGRES_DB. It applies db/init.sql
# (mounted at /sql/init.sql) with the schema and the read-only role as psql variables.
set -euo pipefail

psql --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v ON_ERROR_STOP=1 \
  -v schema="${POSTGRES_SCHEMA:-analytics}" \
  -v readonly_user="${POSTGRES_READONLY_USER:-grafana_reader}" \
  -v readonly_password="${POSTGRES_READONLY_PASSWORD:?POSTGRES_READONLY_PASSWORD must be set}" \
  -f /sql/init.sql
echo "clickstream: applied init.sql (schema ${POSTGRES_SCHEMA:-analytics})"
